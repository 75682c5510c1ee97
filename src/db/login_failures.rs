//! Failed sign-ins, kept for the throttle's window.

use diesel::prelude::*;
use time::PrimitiveDateTime;

use super::schema::login_failures;
use super::{DbConnection, DbError};

/// Records a sign-in attempt for an email (as typed, lower-cased) from an address,
/// before its password is checked; returns the record's ID, to forget it if the
/// attempt succeeds or is refused unchecked.
pub fn record(
    conn: &mut DbConnection,
    email: &str,
    address: &str,
    now: PrimitiveDateTime,
) -> Result<String, DbError> {
    let id = uuid::Uuid::new_v4().to_string();
    diesel::insert_into(login_failures::table)
        .values((
            login_failures::id.eq(&id),
            login_failures::email.eq(email),
            login_failures::address.eq(address),
            login_failures::failed_at.eq(now),
        ))
        .execute(conn)?;
    Ok(id)
}

/// Forgets one attempt.
pub fn forget(conn: &mut DbConnection, id: &str) -> Result<(), DbError> {
    diesel::delete(login_failures::table.find(id)).execute(conn)?;
    Ok(())
}

/// The times of the newest `limit` failures since `since`, for the email and for the
/// address, each newest first.
pub fn newest_since(
    conn: &mut DbConnection,
    email: &str,
    address: &str,
    since: PrimitiveDateTime,
    limit: i64,
) -> Result<(Vec<PrimitiveDateTime>, Vec<PrimitiveDateTime>), DbError> {
    let by_email = login_failures::table
        .select(login_failures::failed_at)
        .filter(login_failures::email.eq(email))
        .filter(login_failures::failed_at.gt(since))
        .order(login_failures::failed_at.desc())
        .limit(limit)
        .load(conn)?;
    let by_address = login_failures::table
        .select(login_failures::failed_at)
        .filter(login_failures::address.eq(address))
        .filter(login_failures::failed_at.gt(since))
        .order(login_failures::failed_at.desc())
        .limit(limit)
        .load(conn)?;
    Ok((by_email, by_address))
}

/// Forgets an account's failures after it signs in.
pub fn clear_for_email(conn: &mut DbConnection, email: &str) -> Result<(), DbError> {
    diesel::delete(login_failures::table.filter(login_failures::email.eq(email))).execute(conn)?;
    Ok(())
}

/// Deletes failures older than the window; returns how many.
pub fn delete_before(conn: &mut DbConnection, cutoff: PrimitiveDateTime) -> Result<usize, DbError> {
    Ok(diesel::delete(login_failures::table.filter(login_failures::failed_at.le(cutoff))).execute(conn)?)
}
