//! Writing the request log: rows written in the usage flush's batches, pruned by the
//! sweep.

use std::collections::HashSet;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamp};
use time::PrimitiveDateTime;

use crate::db::schema::{key_requests, merchants};
use crate::db::{DbConnection, DbError};

/// Rows per statement: 15 values each stays far below both backends' limits on binds.
const BATCH: usize = 500;

/// How a row meets what is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    /// A known key's count per minute, address and outcome (accepted requests, and
    /// refusals past the cap): added to the stored row of the same bucket, so several
    /// instances add up.
    Key,
    /// A request with a key that matched none, counted past the cap: added to the
    /// merchant's stored row of the same minute, address and outcome.
    Unknown,
    /// A refused request kept on its own, under its request ID.
    Single,
}

/// One row to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRow {
    /// How it meets what is stored.
    pub bucket: Bucket,
    /// The key's merchant, or the one a request with an unknown key named.
    pub merchant_id: String,
    /// The key version; `None` when the presented key matched none.
    pub key_id: Option<String>,
    /// The key as presented, masked; empty when it did not have a key's shape.
    pub presented_key: String,
    /// The start of the minute.
    pub minute: PrimitiveDateTime,
    /// The first request counted.
    pub first_at: PrimitiveDateTime,
    /// The last request counted.
    pub last_at: PrimitiveDateTime,
    /// `accepted` or the API error code.
    pub outcome: String,
    /// The refused request's ID; empty for counted rows.
    pub request_id: String,
    /// The client address verification used.
    pub client_address: String,
    /// The latest User-Agent, shortened.
    pub user_agent: String,
    /// The latest method.
    pub method: String,
    /// The latest path, shortened, keys masked.
    pub path: String,
    /// What the refusal rested on that the key row does not keep.
    pub detail: String,
    /// Requests the row stands for.
    pub count: i64,
}

const COLUMNS: &str = "id, merchant_id, key_id, presented_key, minute, first_at, last_at, outcome, \
     request_id, client_address, user_agent, method, path, detail, count";

/// What a counted row's stored twin takes from it: the counts add up, the first and
/// last times widen, and the latest request's agent, method and path win.
const ADD_UP: &str = "count = key_requests.count + excluded.count, \
     first_at = CASE WHEN excluded.first_at < key_requests.first_at THEN excluded.first_at ELSE key_requests.first_at END, \
     last_at = CASE WHEN excluded.last_at > key_requests.last_at THEN excluded.last_at ELSE key_requests.last_at END, \
     user_agent = CASE WHEN excluded.last_at >= key_requests.last_at THEN excluded.user_agent ELSE key_requests.user_agent END, \
     method = CASE WHEN excluded.last_at >= key_requests.last_at THEN excluded.method ELSE key_requests.method END, \
     path = CASE WHEN excluded.last_at >= key_requests.last_at THEN excluded.path ELSE key_requests.path END, \
     presented_key = CASE WHEN excluded.last_at >= key_requests.last_at THEN excluded.presented_key ELSE key_requests.presented_key END";

fn insert_sql(bucket: Bucket, rows: usize, postgres: bool) -> String {
    let values: Vec<String> = (0..rows)
        .map(|row| {
            let marks: Vec<String> = (0..15)
                .map(|column| {
                    if postgres {
                        format!("${}", row * 15 + column + 1)
                    } else {
                        "?".to_owned()
                    }
                })
                .collect();
            format!("({})", marks.join(", "))
        })
        .collect();
    let conflict = match bucket {
        Bucket::Key => {
            format!(
                "ON CONFLICT (key_id, minute, client_address, outcome, request_id) DO UPDATE SET {ADD_UP}"
            )
        }
        Bucket::Unknown => format!(
            "ON CONFLICT (merchant_id, minute, client_address, outcome) \
             WHERE key_id IS NULL AND request_id = '' DO UPDATE SET {ADD_UP}"
        ),
        // A request ID is new for every request: a row already there is this one,
        // written by a flush whose answer was lost.
        Bucket::Single => "ON CONFLICT DO NOTHING".to_owned(),
    };
    format!(
        "INSERT INTO key_requests ({COLUMNS}) VALUES {} {conflict}",
        values.join(", ")
    )
}

macro_rules! bind_rows {
    ($query:expr, $rows:expr) => {{
        let mut query = $query;
        for row in $rows {
            query = query
                .bind::<Text, _>(uuid::Uuid::new_v4().to_string())
                .bind::<Text, _>(row.merchant_id.clone())
                .bind::<Nullable<Text>, _>(row.key_id.clone())
                .bind::<Text, _>(row.presented_key.clone())
                .bind::<Timestamp, _>(row.minute)
                .bind::<Timestamp, _>(row.first_at)
                .bind::<Timestamp, _>(row.last_at)
                .bind::<Text, _>(row.outcome.clone())
                .bind::<Text, _>(row.request_id.clone())
                .bind::<Text, _>(row.client_address.clone())
                .bind::<Text, _>(row.user_agent.clone())
                .bind::<Text, _>(row.method.clone())
                .bind::<Text, _>(row.path.clone())
                .bind::<Text, _>(row.detail.clone())
                .bind::<BigInt, _>(row.count);
        }
        query
    }};
}

/// Writes rows in a few statements per batch. Rows of one kind must not share a
/// bucket (the recorder merges them first): one statement may not update a row twice.
pub fn write(conn: &mut DbConnection, rows: &[LogRow]) -> Result<(), DbError> {
    for bucket in [Bucket::Key, Bucket::Unknown, Bucket::Single] {
        let of_kind: Vec<&LogRow> = rows.iter().filter(|row| row.bucket == bucket).collect();
        for chunk in of_kind.chunks(BATCH) {
            match conn {
                DbConnection::Sqlite(sqlite) => {
                    let query = diesel::sql_query(insert_sql(bucket, chunk.len(), false)).into_boxed();
                    bind_rows!(query, chunk).execute(sqlite)?;
                }
                DbConnection::Postgres(pg) => {
                    let query = diesel::sql_query(insert_sql(bucket, chunk.len(), true)).into_boxed();
                    bind_rows!(query, chunk).execute(pg)?;
                }
            }
        }
    }
    Ok(())
}

/// Which of these merchant IDs exist: one query per batch.
pub fn existing_merchants(conn: &mut DbConnection, ids: &[&str]) -> Result<HashSet<String>, DbError> {
    let mut found = HashSet::new();
    for chunk in ids.chunks(BATCH) {
        let rows: Vec<String> = merchants::table
            .filter(merchants::id.eq_any(chunk))
            .select(merchants::id)
            .load(conn)?;
        found.extend(rows);
    }
    Ok(found)
}

/// Rows deleted per statement by [`prune_before`]: each batch is its own short
/// statement, so a large prune never holds a long lock.
pub const PRUNE_BATCH: i64 = 5_000;

/// Deletes the rows whose last request is before `before`, a batch at a time; returns
/// how many.
pub fn prune_before(conn: &mut DbConnection, before: PrimitiveDateTime) -> Result<usize, DbError> {
    let mut pruned = 0;
    loop {
        let batch: Vec<String> = key_requests::table
            .filter(key_requests::last_at.lt(before))
            .select(key_requests::id)
            .limit(PRUNE_BATCH)
            .load(conn)?;
        pruned +=
            diesel::delete(key_requests::table.filter(key_requests::id.eq_any(&batch))).execute(conn)?;
        if (batch.len() as i64) < PRUNE_BATCH {
            return Ok(pruned);
        }
    }
}
