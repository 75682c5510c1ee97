//! Password checks under the sign-in throttle. Every check of a password a person types
//! (signing in, the current password on Change password) is counted against its account
//! and its address, refused unchecked while either is held back, and a lock it causes is
//! recorded in the history of each merchant the account belongs to.

use serde_json::json;
use time::PrimitiveDateTime;

use crate::db::key_events::{self, EventType};
use crate::db::users::User;
use crate::db::{DbConnection, DbError, login_failures, memberships, write_transaction};
use crate::domain::{Actor, AttemptRecord, SignInThrottle, Verdict};

/// An attempt allowed to check its password, recorded as a failure until it succeeds.
#[derive(Debug)]
pub struct Attempt {
    id: String,
    email: String,
    address: String,
    locks_account: bool,
    fills_address: bool,
}

/// Whether an attempt may check its password.
#[derive(Debug)]
pub enum Admission {
    /// Check it, then report with [`succeeded`] or [`failed`].
    Check(Attempt),
    /// Refused unchecked.
    Refused {
        /// When an attempt may be made again.
        until: PrimitiveDateTime,
    },
}

/// Which password was checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// The password typed to sign in.
    SignIn,
    /// The current password typed to choose a new one.
    CurrentPassword,
}

/// Records an attempt for `email` (as typed, lower-cased) from `address` before its
/// password is checked, so that parallel attempts count each other, and asks the
/// throttle. A refused attempt is forgotten: it checked nothing, and must not prolong
/// what holds it back.
pub fn admit(
    conn: &mut DbConnection,
    throttle: &SignInThrottle,
    email: &str,
    address: &str,
    now: PrimitiveDateTime,
) -> Result<Admission, DbError> {
    let id = login_failures::record(conn, email, address, now)?;
    let locked_until = login_failures::locked_until(conn, email)?;
    let account_failures = login_failures::for_email_since(
        conn,
        email,
        throttle.account_count_start(now, locked_until),
        limit(throttle.account_failures),
    )?;
    let address_failures = login_failures::for_address_since(
        conn,
        address,
        throttle.window_start(now),
        limit(throttle.address_failures),
    )?;
    let verdict = throttle.judge(
        now,
        &AttemptRecord {
            locked_until,
            account_failures: &account_failures,
            address_failures: &address_failures,
        },
    );
    match verdict {
        Verdict::Check {
            locks_account,
            fills_address,
        } => Ok(Admission::Check(Attempt {
            id,
            email: email.to_owned(),
            address: address.to_owned(),
            locks_account,
            fills_address,
        })),
        Verdict::Refuse { until, held } => {
            login_failures::forget(conn, &id)?;
            tracing::debug!(?held, %address, "a password check was refused by the throttle");
            Ok(Admission::Refused { until })
        }
    }
}

/// One more row than the allowance: enough to tell whether it is exceeded.
fn limit(allowance: usize) -> i64 {
    i64::try_from(allowance.saturating_add(1)).unwrap_or(i64::MAX)
}

/// The password was right: the account's failures are forgotten.
pub fn succeeded(conn: &mut DbConnection, attempt: &Attempt) -> Result<(), DbError> {
    login_failures::forget(conn, &attempt.id)?;
    login_failures::clear_for_email(conn, &attempt.email)
}

/// The password was wrong: the failure stays counted. A wrong current password is
/// recorded in the account's merchants' history; when this failure is the one that
/// reaches the account's allowance, the account is locked for the throttle's short
/// lock and the lock recorded there too, all in one transaction. `account` is the
/// account behind the email, if any (the throttle treats unknown emails alike, but only
/// an account has a history).
pub fn failed(
    conn: &mut DbConnection,
    throttle: &SignInThrottle,
    attempt: &Attempt,
    check: Check,
    account: Option<&User>,
    actor: &Actor,
    now: PrimitiveDateTime,
) -> Result<(), DbError> {
    if attempt.fills_address {
        tracing::warn!(
            address = %attempt.address,
            limit = throttle.address_failures,
            "an address reached its limit of failed password checks; sign-in from it waits"
        );
    }
    let locked_until = attempt.locks_account.then(|| now + throttle.lock);
    write_transaction(conn, |conn| -> Result<(), DbError> {
        let merchants = match account {
            Some(user) => memberships::for_user(conn, &user.id)?,
            None => Vec::new(),
        };
        let member = account.map(|user| json!({ "id": user.id, "name": user.name, "email": user.email }));
        let mut events = Vec::new();
        if check == Check::CurrentPassword {
            events.push((EventType::PasswordCheckFailed, json!({ "member": member })));
        }
        if let Some(until) = locked_until {
            login_failures::lock(conn, &attempt.email, &attempt.address, now, until)?;
            events.push((
                EventType::SignInLocked,
                json!({
                    "member": member,
                    "failures": throttle.account_failures,
                    "locked_until": until.to_string(),
                }),
            ));
        }
        for (event, details) in &events {
            for merchant in &merchants {
                key_events::record(conn, &merchant.merchant_id, None, *event, actor, details, now)?;
            }
        }
        Ok(())
    })?;
    let user_id = account.map_or("none", |user| user.id.as_str());
    if check == Check::CurrentPassword {
        tracing::warn!(user_id, address = %attempt.address, "a wrong current password was typed");
    }
    if let Some(until) = locked_until {
        tracing::warn!(
            user_id,
            address = %attempt.address,
            until = %until,
            "an account was locked after repeated failed password checks"
        );
    }
    Ok(())
}
