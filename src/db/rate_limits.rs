//! Rate limits shared between instances through the database (when no Redis is
//! configured): each scope's hits per one-minute window, added to by every instance's
//! sync, and the instances alive, from their heartbeats.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use super::schema::{rate_limit_instances, rate_limit_windows};
use super::{DbConnection, DbError};

/// Rows per statement: three binds each stays far below both backends' limits.
const BATCH: usize = 1_000;

/// Hits to add to one scope's window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hits {
    /// What is limited: `key:<id>`, `address:<ip>`…
    pub scope: String,
    /// The window's start, in unix milliseconds.
    pub window_start: i64,
    /// Hits this instance admitted since its last sync (0 to only read the total).
    pub added: i64,
}

/// A scope's total for a window, every instance's hits together.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct Total {
    /// The scope.
    #[diesel(sql_type = Text)]
    pub scope: String,
    /// The window's start, in unix milliseconds.
    #[diesel(sql_type = BigInt)]
    pub window_start: i64,
    /// Hits admitted in it by every instance so far.
    #[diesel(sql_type = BigInt)]
    pub hits: i64,
}

fn add_sql(rows: usize, postgres: bool) -> String {
    let values: Vec<String> = (0..rows)
        .map(|row| {
            if postgres {
                format!("(${}, ${}, ${})", row * 3 + 1, row * 3 + 2, row * 3 + 3)
            } else {
                "(?, ?, ?)".to_owned()
            }
        })
        .collect();
    format!(
        "INSERT INTO rate_limit_windows (scope, window_start, hits) VALUES {} \
         ON CONFLICT (scope, window_start) DO UPDATE SET hits = rate_limit_windows.hits + excluded.hits \
         RETURNING scope, window_start, hits",
        values.join(", ")
    )
}

/// Adds each scope's hits to its window and returns the totals, one upsert per batch:
/// instances that sync at once add up rather than overwrite each other.
pub fn add(conn: &mut DbConnection, hits: &[Hits]) -> Result<Vec<Total>, DbError> {
    // Every instance locks the rows it upserts in one order, so two syncs that share
    // scopes wait for each other instead of deadlocking.
    let mut ordered: Vec<&Hits> = hits.iter().collect();
    ordered.sort_unstable_by(|a, b| (&a.scope, a.window_start).cmp(&(&b.scope, b.window_start)));
    let mut totals = Vec::with_capacity(hits.len());
    for chunk in ordered.chunks(BATCH) {
        match conn {
            DbConnection::Sqlite(sqlite) => {
                let mut query = diesel::sql_query(add_sql(chunk.len(), false)).into_boxed();
                for row in chunk {
                    query = query
                        .bind::<Text, _>(row.scope.clone())
                        .bind::<BigInt, _>(row.window_start)
                        .bind::<BigInt, _>(row.added);
                }
                totals.extend(query.load::<Total>(sqlite)?);
            }
            DbConnection::Postgres(pg) => {
                let mut query = diesel::sql_query(add_sql(chunk.len(), true)).into_boxed();
                for row in chunk {
                    query = query
                        .bind::<Text, _>(row.scope.clone())
                        .bind::<BigInt, _>(row.window_start)
                        .bind::<BigInt, _>(row.added);
                }
                totals.extend(query.load::<Total>(pg)?);
            }
        }
    }
    Ok(totals)
}

/// Every scope's total in the window that starts at `window_start`.
pub fn totals_of(conn: &mut DbConnection, window_start: i64) -> Result<Vec<Total>, DbError> {
    let rows: Vec<(String, i64)> = rate_limit_windows::table
        .select((rate_limit_windows::scope, rate_limit_windows::hits))
        .filter(rate_limit_windows::window_start.eq(window_start))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(scope, hits)| Total {
            scope,
            window_start,
            hits,
        })
        .collect())
}

/// Records that `instance` is alive at `now` (unix milliseconds) and returns every
/// instance seen since `alive_since`, in a stable order all instances share.
pub fn heartbeat(
    conn: &mut DbConnection,
    instance: &str,
    now: i64,
    alive_since: i64,
) -> Result<Vec<String>, DbError> {
    let upsert = "INSERT INTO rate_limit_instances (instance_id, seen_at) VALUES ($1, $2) \
                  ON CONFLICT (instance_id) DO UPDATE SET seen_at = excluded.seen_at";
    match conn {
        DbConnection::Sqlite(sqlite) => {
            diesel::sql_query(upsert.replace("$1", "?").replace("$2", "?"))
                .bind::<Text, _>(instance)
                .bind::<BigInt, _>(now)
                .execute(sqlite)?;
        }
        DbConnection::Postgres(pg) => {
            diesel::sql_query(upsert)
                .bind::<Text, _>(instance)
                .bind::<BigInt, _>(now)
                .execute(pg)?;
        }
    }
    Ok(rate_limit_instances::table
        .select(rate_limit_instances::instance_id)
        .filter(rate_limit_instances::seen_at.ge(alive_since))
        .order(rate_limit_instances::instance_id)
        .load(conn)?)
}

/// Forgets an instance that stops, so the others take its share at their next sync.
pub fn leave(conn: &mut DbConnection, instance: &str) -> Result<(), DbError> {
    diesel::delete(rate_limit_instances::table.find(instance)).execute(conn)?;
    Ok(())
}

/// Deletes windows that started before `before` and instances not seen since
/// `seen_before`; returns the windows deleted.
pub fn prune(conn: &mut DbConnection, before: i64, seen_before: i64) -> Result<usize, DbError> {
    let windows =
        diesel::delete(rate_limit_windows::table.filter(rate_limit_windows::window_start.lt(before)))
            .execute(conn)?;
    diesel::delete(rate_limit_instances::table.filter(rate_limit_instances::seen_at.lt(seen_before)))
        .execute(conn)?;
    Ok(windows)
}
