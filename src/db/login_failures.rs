//! Failed password checks and the account locks they cause, kept for the throttle's
//! window. An account here is the email as typed, whether or not it has an account, so
//! the throttle treats every email alike.

use diesel::prelude::*;
use time::PrimitiveDateTime;

use super::schema::{login_failures, sign_in_locks};
use super::{DbConnection, DbError};

/// Records an attempt for an email (as typed, lower-cased) from an address, before its
/// password is checked; returns the record's ID, to forget it if the attempt succeeds
/// or is refused unchecked.
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

/// The times of the email's newest `limit` failures since `since`, newest first.
pub fn for_email_since(
    conn: &mut DbConnection,
    email: &str,
    since: PrimitiveDateTime,
    limit: i64,
) -> Result<Vec<PrimitiveDateTime>, DbError> {
    Ok(login_failures::table
        .select(login_failures::failed_at)
        .filter(login_failures::email.eq(email))
        .filter(login_failures::failed_at.gt(since))
        .order(login_failures::failed_at.desc())
        .limit(limit)
        .load(conn)?)
}

/// The times of the address's newest `limit` failures since `since`, newest first.
pub fn for_address_since(
    conn: &mut DbConnection,
    address: &str,
    since: PrimitiveDateTime,
    limit: i64,
) -> Result<Vec<PrimitiveDateTime>, DbError> {
    Ok(login_failures::table
        .select(login_failures::failed_at)
        .filter(login_failures::address.eq(address))
        .filter(login_failures::failed_at.gt(since))
        .order(login_failures::failed_at.desc())
        .limit(limit)
        .load(conn)?)
}

/// Forgets an account's failures after its password proved right.
pub fn clear_for_email(conn: &mut DbConnection, email: &str) -> Result<(), DbError> {
    diesel::delete(login_failures::table.filter(login_failures::email.eq(email))).execute(conn)?;
    Ok(())
}

/// When the email's latest lock ends (or ended).
pub fn locked_until(conn: &mut DbConnection, email: &str) -> Result<Option<PrimitiveDateTime>, DbError> {
    Ok(sign_in_locks::table
        .select(sign_in_locks::locked_until)
        .filter(sign_in_locks::email.eq(email))
        .order(sign_in_locks::locked_until.desc())
        .first(conn)
        .optional()?)
}

/// Locks the email until `until`; `address` made the failure that locked it.
pub fn lock(
    conn: &mut DbConnection,
    email: &str,
    address: &str,
    now: PrimitiveDateTime,
    until: PrimitiveDateTime,
) -> Result<(), DbError> {
    diesel::insert_into(sign_in_locks::table)
        .values((
            sign_in_locks::id.eq(uuid::Uuid::new_v4().to_string()),
            sign_in_locks::email.eq(email),
            sign_in_locks::address.eq(address),
            sign_in_locks::locked_at.eq(now),
            sign_in_locks::locked_until.eq(until),
        ))
        .execute(conn)?;
    Ok(())
}

/// Deletes failures, and locks that ended, before `cutoff` (the window's start): the
/// throttle no longer looks at them. Returns how many rows went.
pub fn delete_before(conn: &mut DbConnection, cutoff: PrimitiveDateTime) -> Result<usize, DbError> {
    let failures =
        diesel::delete(login_failures::table.filter(login_failures::failed_at.le(cutoff))).execute(conn)?;
    let locks =
        diesel::delete(sign_in_locks::table.filter(sign_in_locks::locked_until.le(cutoff))).execute(conn)?;
    Ok(failures + locks)
}
