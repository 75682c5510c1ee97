//! Key usage: per-hour counters, last use and last refused attempt, written in batches
//! by the flusher and read for the dashboard.

use std::collections::HashMap;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamp};
use time::PrimitiveDateTime;

use super::key_events::{self, EventType};
use super::schema::{api_keys, key_refusals, key_usage_hourly};
use super::{DbConnection, DbError};
use crate::domain::{Actor, KeyId, MerchantId};

/// Rows per statement; a flush with more keys than this takes several.
const BATCH: usize = 500;

/// Verifications of one key in one hour, to add to what is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageDelta {
    /// The key version.
    pub key_id: String,
    /// The hour (UTC), truncated.
    pub hour: PrimitiveDateTime,
    /// Successful verifications.
    pub succeeded: i64,
    /// Failed verifications.
    pub failed: i64,
}

/// The latest accepted use of one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastUse {
    /// The key version.
    pub key_id: String,
    /// When.
    pub at: PrimitiveDateTime,
    /// From which client address.
    pub from: Option<String>,
    /// With which User-Agent, shortened; `None` when none was sent (or not known).
    pub agent: Option<String>,
}

/// The latest refused attempt with one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastRefusal {
    /// The key version.
    pub key_id: String,
    /// When.
    pub at: PrimitiveDateTime,
    /// The API error code it was answered with (`key_disabled`…).
    pub code: String,
}

fn placeholders(rows: usize, columns: usize, postgres: bool) -> Vec<Vec<String>> {
    (0..rows)
        .map(|row| {
            (0..columns)
                .map(|column| {
                    if postgres {
                        format!("${}", row * columns + column + 1)
                    } else {
                        "?".to_owned()
                    }
                })
                .collect()
        })
        .collect()
}

fn upsert_sql(rows: usize, postgres: bool) -> String {
    let values: Vec<String> = placeholders(rows, 4, postgres)
        .into_iter()
        .map(|row| format!("({})", row.join(", ")))
        .collect();
    format!(
        "INSERT INTO key_usage_hourly (key_id, hour, succeeded, failed) VALUES {} \
         ON CONFLICT (key_id, hour) DO UPDATE SET \
         succeeded = key_usage_hourly.succeeded + excluded.succeeded, \
         failed = key_usage_hourly.failed + excluded.failed",
        values.join(", ")
    )
}

fn refusals_sql(rows: usize, postgres: bool) -> String {
    let values: Vec<String> = placeholders(rows, 3, postgres)
        .into_iter()
        .map(|row| format!("({})", row.join(", ")))
        .collect();
    format!(
        "INSERT INTO key_refusals (key_id, refused_at, code) VALUES {} \
         ON CONFLICT (key_id) DO UPDATE SET refused_at = excluded.refused_at, code = excluded.code \
         WHERE key_refusals.refused_at < excluded.refused_at",
        values.join(", ")
    )
}

fn last_used_sql(rows: usize, postgres: bool) -> String {
    let selects: Vec<String> = placeholders(rows, 4, postgres)
        .into_iter()
        .map(|row| {
            format!(
                "SELECT {} AS id, {} AS at, {} AS address, {} AS agent",
                row[0], row[1], row[2], row[3]
            )
        })
        .collect();
    format!(
        "UPDATE api_keys SET last_used_at = u.at, last_used_from = u.address, last_used_agent = u.agent \
         FROM ({}) AS u \
         WHERE api_keys.id = u.id AND (api_keys.last_used_at IS NULL OR api_keys.last_used_at < u.at)",
        selects.join(" UNION ALL ")
    )
}

/// Adds counts to the stored ones: one upsert statement per batch, so instances that
/// flush at once add up instead of overwriting each other.
pub fn add(conn: &mut DbConnection, deltas: &[UsageDelta]) -> Result<(), DbError> {
    for chunk in deltas.chunks(BATCH) {
        match conn {
            DbConnection::Sqlite(sqlite) => {
                let mut query = diesel::sql_query(upsert_sql(chunk.len(), false)).into_boxed();
                for delta in chunk {
                    query = query
                        .bind::<Text, _>(delta.key_id.clone())
                        .bind::<Timestamp, _>(delta.hour)
                        .bind::<BigInt, _>(delta.succeeded)
                        .bind::<BigInt, _>(delta.failed);
                }
                query.execute(sqlite)?;
            }
            DbConnection::Postgres(pg) => {
                let mut query = diesel::sql_query(upsert_sql(chunk.len(), true)).into_boxed();
                for delta in chunk {
                    query = query
                        .bind::<Text, _>(delta.key_id.clone())
                        .bind::<Timestamp, _>(delta.hour)
                        .bind::<BigInt, _>(delta.succeeded)
                        .bind::<BigInt, _>(delta.failed);
                }
                query.execute(pg)?;
            }
        }
    }
    Ok(())
}

/// Moves each key's last use forward (never back: another instance may have flushed a
/// later one). Only accepted requests are uses: refused ones go to
/// [`record_last_refusals`].
pub fn record_last_use(conn: &mut DbConnection, uses: &[LastUse]) -> Result<(), DbError> {
    for chunk in uses.chunks(BATCH) {
        match conn {
            DbConnection::Sqlite(sqlite) => {
                let mut query = diesel::sql_query(last_used_sql(chunk.len(), false)).into_boxed();
                for last in chunk {
                    query = query
                        .bind::<Text, _>(last.key_id.clone())
                        .bind::<Timestamp, _>(last.at)
                        .bind::<Nullable<Text>, _>(last.from.clone())
                        .bind::<Nullable<Text>, _>(last.agent.clone());
                }
                query.execute(sqlite)?;
            }
            DbConnection::Postgres(pg) => {
                let mut query = diesel::sql_query(last_used_sql(chunk.len(), true)).into_boxed();
                for last in chunk {
                    query = query
                        .bind::<Text, _>(last.key_id.clone())
                        .bind::<Timestamp, _>(last.at)
                        .bind::<Nullable<Text>, _>(last.from.clone())
                        .bind::<Nullable<Text>, _>(last.agent.clone());
                }
                query.execute(pg)?;
            }
        }
    }
    Ok(())
}

/// Moves each key's last refused attempt forward, with its error code (never back).
pub fn record_last_refusals(conn: &mut DbConnection, refusals: &[LastRefusal]) -> Result<(), DbError> {
    for chunk in refusals.chunks(BATCH) {
        match conn {
            DbConnection::Sqlite(sqlite) => {
                let mut query = diesel::sql_query(refusals_sql(chunk.len(), false)).into_boxed();
                for refusal in chunk {
                    query = query
                        .bind::<Text, _>(refusal.key_id.clone())
                        .bind::<Timestamp, _>(refusal.at)
                        .bind::<Text, _>(refusal.code.clone());
                }
                query.execute(sqlite)?;
            }
            DbConnection::Postgres(pg) => {
                let mut query = diesel::sql_query(refusals_sql(chunk.len(), true)).into_boxed();
                for refusal in chunk {
                    query = query
                        .bind::<Text, _>(refusal.key_id.clone())
                        .bind::<Timestamp, _>(refusal.at)
                        .bind::<Text, _>(refusal.code.clone());
                }
                query.execute(pg)?;
            }
        }
    }
    Ok(())
}

/// The latest refused attempt with each of these keys that has one: when, and its code.
pub fn last_refusals(
    conn: &mut DbConnection,
    key_ids: &[String],
) -> Result<HashMap<String, (PrimitiveDateTime, String)>, DbError> {
    let rows: Vec<(String, PrimitiveDateTime, String)> = key_refusals::table
        .filter(key_refusals::key_id.eq_any(key_ids))
        .select((key_refusals::key_id, key_refusals::refused_at, key_refusals::code))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(key_id, at, code)| (key_id, (at, code)))
        .collect())
}

/// Records the first successful use of every key in `firsts` whose first use is not
/// recorded yet: one "first used" event each, once, whichever instance flushes it (the
/// mark is set by an update that only matches while it is unset).
pub fn record_first_uses(conn: &mut DbConnection, firsts: &[LastUse]) -> Result<usize, DbError> {
    let mut recorded = 0;
    for chunk in firsts.chunks(BATCH) {
        let ids: Vec<&str> = chunk.iter().map(|first| first.key_id.as_str()).collect();
        let unrecorded: HashMap<String, String> = api_keys::table
            .filter(api_keys::id.eq_any(&ids))
            .filter(api_keys::first_use_recorded.eq(false))
            .select((api_keys::id, api_keys::merchant_id))
            .load::<(String, String)>(conn)?
            .into_iter()
            .collect();
        for first in chunk {
            let Some(merchant_id) = unrecorded.get(&first.key_id) else {
                continue;
            };
            let claimed = diesel::update(
                api_keys::table
                    .filter(api_keys::id.eq(&first.key_id))
                    .filter(api_keys::first_use_recorded.eq(false)),
            )
            .set(api_keys::first_use_recorded.eq(true))
            .execute(conn)?;
            if claimed == 1 {
                let actor = Actor::system().from_address(first.from.clone());
                key_events::record(
                    conn,
                    &MerchantId::parse(merchant_id)?,
                    Some(&KeyId::parse(&first.key_id)?),
                    EventType::FirstUsed,
                    &actor,
                    &serde_json::json!({}),
                    first.at,
                )?;
                recorded += 1;
            }
        }
    }
    Ok(recorded)
}

/// Successful and failed verifications since `since`, per key.
pub fn totals_since(
    conn: &mut DbConnection,
    key_ids: &[String],
    since: PrimitiveDateTime,
) -> Result<HashMap<String, (i64, i64)>, DbError> {
    // At most one row per key and hour: summed here, since SUM's type differs by backend.
    let rows: Vec<(String, i64, i64)> = key_usage_hourly::table
        .filter(key_usage_hourly::key_id.eq_any(key_ids))
        .filter(key_usage_hourly::hour.ge(since))
        .select((
            key_usage_hourly::key_id,
            key_usage_hourly::succeeded,
            key_usage_hourly::failed,
        ))
        .load(conn)?;
    let mut totals: HashMap<String, (i64, i64)> = HashMap::new();
    for (key_id, ok, failed) in rows {
        let total = totals.entry(key_id).or_default();
        total.0 += ok;
        total.1 += failed;
    }
    Ok(totals)
}

/// One key's counters per hour since `since`, oldest first.
pub fn hourly(
    conn: &mut DbConnection,
    key_id: &str,
    since: PrimitiveDateTime,
) -> Result<Vec<(PrimitiveDateTime, i64, i64)>, DbError> {
    Ok(key_usage_hourly::table
        .filter(key_usage_hourly::key_id.eq(key_id))
        .filter(key_usage_hourly::hour.ge(since))
        .order(key_usage_hourly::hour.asc())
        .select((
            key_usage_hourly::hour,
            key_usage_hourly::succeeded,
            key_usage_hourly::failed,
        ))
        .load(conn)?)
}
