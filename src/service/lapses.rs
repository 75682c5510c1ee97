//! The history events nobody clicks for: a rotated version's grace period ending and a
//! key expiring, each recorded once, at the time it happened.

use serde_json::json;
use time::PrimitiveDateTime;

use crate::db::key_events::{self, EventType};
use crate::db::keys::{self, KeyRow, Lapse};
use crate::db::{DbConnection, DbError, write_transaction};
use crate::domain::{Actor, KeyStatus};

/// Keys handled per sweep and kind; the next sweep takes the rest.
const LAPSES_PER_SWEEP: i64 = 500;

/// Records the "grace ended" and "expired" events nobody clicks for, each once, at the
/// time the key lapsed (the key is marked in the event's transaction, so instances
/// sweeping at once never both record it). Returns how many events were recorded.
pub fn record_lapses(conn: &mut DbConnection, now: PrimitiveDateTime) -> Result<usize, DbError> {
    let mut recorded = 0;
    for lapse in keys::grace_ends_to_record(conn, now, LAPSES_PER_SWEEP)? {
        recorded += usize::from(write_transaction(conn, |conn| record_grace_end(conn, &lapse))?);
    }
    for lapse in keys::expiries_to_record(conn, now, LAPSES_PER_SWEEP)? {
        recorded += usize::from(write_transaction(conn, |conn| record_expiry(conn, &lapse))?);
    }
    Ok(recorded)
}

/// Marks and records a grace period's end; false when it was recorded already.
fn record_grace_end(conn: &mut DbConnection, lapse: &Lapse) -> Result<bool, DbError> {
    if !keys::mark_grace_end_recorded(conn, &lapse.id)? {
        return Ok(false);
    }
    let details = json!({ "grace_ended_at": lapse.at.to_string() });
    key_events::record(
        conn,
        &lapse.merchant_id,
        Some(&lapse.id),
        EventType::GraceEnded,
        &Actor::system(),
        &details,
        lapse.at,
    )?;
    Ok(true)
}

/// Marks and records an expiry; false when it was recorded already or the key was
/// renewed meanwhile.
fn record_expiry(conn: &mut DbConnection, lapse: &Lapse) -> Result<bool, DbError> {
    if !keys::mark_expiry_recorded(conn, &lapse.id, lapse.at)? {
        return Ok(false);
    }
    let details = json!({ "expired_at": lapse.at.to_string() });
    key_events::record(
        conn,
        &lapse.merchant_id,
        Some(&lapse.id),
        EventType::Expired,
        &Actor::system(),
        &details,
        lapse.at,
    )?;
    Ok(true)
}

/// Records, inside a change's transaction, a lapse of `row` the sweep has not recorded
/// yet, so that the change cannot hide it from history.
pub fn record_lapses_of(
    conn: &mut DbConnection,
    row: &KeyRow,
    now: PrimitiveDateTime,
) -> Result<(), DbError> {
    let status = row.status;
    let lapse = |at: PrimitiveDateTime| Lapse {
        id: row.id.clone(),
        merchant_id: row.merchant_id.clone(),
        at,
    };
    if let Some(ends) = row.grace_ends_at
        && status == KeyStatus::Rotated
        && ends <= now
        && !row.grace_end_recorded
    {
        record_grace_end(conn, &lapse(ends))?;
    }
    if let Some(expires) = row.expires_at
        && matches!(status, KeyStatus::Active | KeyStatus::Disabled)
        && expires <= now
        && row.expiry_recorded_for != Some(expires)
    {
        record_expiry(conn, &lapse(expires))?;
    }
    Ok(())
}
