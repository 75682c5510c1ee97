//! Server-side sessions. Rows are keyed by a SHA-256 digest of the cookie's session
//! key, so a copy of the table signs nobody in.

use diesel::prelude::*;
use time::PrimitiveDateTime;

use super::schema::sessions;
use super::{DbConnection, DbError};

/// A session to store.
#[derive(Debug)]
pub struct NewSession<'a> {
    /// Digest of the session key.
    pub id: &'a str,
    /// The signed-in user: only signed-in sessions are stored.
    pub user_id: &'a str,
    /// The session state as JSON.
    pub state: &'a str,
    /// Now.
    pub created_at: PrimitiveDateTime,
    /// End of the idle timeout.
    pub expires_at: PrimitiveDateTime,
    /// End of the absolute timeout.
    pub absolute_expires_at: PrimitiveDateTime,
}

/// Stores a new session.
pub fn insert(conn: &mut DbConnection, session: NewSession<'_>) -> Result<(), DbError> {
    diesel::insert_into(sessions::table)
        .values((
            sessions::id.eq(session.id),
            sessions::user_id.eq(session.user_id),
            sessions::state.eq(session.state),
            sessions::created_at.eq(session.created_at),
            sessions::expires_at.eq(session.expires_at),
            sessions::absolute_expires_at.eq(session.absolute_expires_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// The state of a session that has timed out neither idle nor absolutely.
pub fn load_live(
    conn: &mut DbConnection,
    id: &str,
    now: PrimitiveDateTime,
) -> Result<Option<String>, DbError> {
    Ok(sessions::table
        .select(sessions::state)
        .filter(sessions::id.eq(id))
        .filter(sessions::expires_at.gt(now))
        .filter(sessions::absolute_expires_at.gt(now))
        .first(conn)
        .optional()?)
}

/// Replaces a live session's state and idle deadline; returns false when it is gone.
pub fn update(
    conn: &mut DbConnection,
    id: &str,
    user_id: Option<&str>,
    state: &str,
    expires_at: PrimitiveDateTime,
) -> Result<bool, DbError> {
    let updated = diesel::update(sessions::table.find(id))
        .set((
            sessions::user_id.eq(user_id),
            sessions::state.eq(state),
            sessions::expires_at.eq(expires_at),
        ))
        .execute(conn)?;
    Ok(updated == 1)
}

/// Moves a session's idle deadline.
pub fn touch(conn: &mut DbConnection, id: &str, expires_at: PrimitiveDateTime) -> Result<(), DbError> {
    diesel::update(sessions::table.find(id))
        .set(sessions::expires_at.eq(expires_at))
        .execute(conn)?;
    Ok(())
}

/// Deletes one session.
pub fn delete(conn: &mut DbConnection, id: &str) -> Result<(), DbError> {
    diesel::delete(sessions::table.find(id)).execute(conn)?;
    Ok(())
}

/// Deletes sessions past either timeout; returns how many.
pub fn delete_expired(conn: &mut DbConnection, now: PrimitiveDateTime) -> Result<usize, DbError> {
    Ok(diesel::delete(
        sessions::table.filter(
            sessions::expires_at
                .le(now)
                .or(sessions::absolute_expires_at.le(now)),
        ),
    )
    .execute(conn)?)
}
