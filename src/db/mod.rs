//! The database: one connection type over SQLite and Postgres, its pool, migrations, and
//! one module of queries per table group.

pub mod changes;
mod connection;
mod error;
pub mod invitations;
pub mod key_events;
pub mod key_policies;
pub mod keys;
pub mod login_failures;
pub mod management_tokens;
pub mod memberships;
pub mod merchants;
pub mod schema;
pub mod sessions;
pub mod usage;
pub mod users;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::prelude::*;
use diesel::r2d2::R2D2Connection;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::config::DatabaseUrl;

pub use connection::{ConnectionManager, DbConnection, ManagedConnection, prepare_tls};
pub use error::{ConnectError, DbError};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// Serialises migrations when several instances start on one Postgres at once.
const MIGRATION_LOCK_ID: i64 = 0x6B65_7977_6172_6401;

/// Keeps each scheduled job to one instance at a time (an advisory lock's ID).
pub const SCHEDULE_LOCK_ID: i64 = 0x6B65_7977_6172_6402;

/// Held shared by every key insert until it commits, and taken exclusively by a reader
/// who needs every `api_keys.seq` up to some value settled (an advisory lock's ID).
const KEY_ORDER_LOCK_ID: i64 = 0x6B65_7977_6172_6403;

type Pool = r2d2::Pool<ConnectionManager>;

/// A pooled connection.
pub type PooledConnection = r2d2::PooledConnection<ConnectionManager>;

/// The database handle shared by the server and the CLI: a pool over one backend.
#[derive(Clone)]
pub struct Db {
    pool: Pool,
    url: Arc<DatabaseUrl>,
    queries: Arc<AtomicU64>,
    /// One permit per pooled connection: waiters queue here first come, first served
    /// (the pool's own wake-ups are not fair, which gave a long latency tail under load).
    permits: Arc<tokio::sync::Semaphore>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl Db {
    /// Opens one connection straight away, so a wrong URL, a stopped server or a wrong
    /// password is reported at once, then builds the pool.
    pub fn connect(url: &DatabaseUrl) -> Result<Self, DbError> {
        let queries = Arc::new(AtomicU64::new(0));
        let manager = ConnectionManager {
            url: url.clone(),
            queries: queries.clone(),
        };
        manager.open()?;
        let max_size = match url {
            DatabaseUrl::Sqlite(_) => 8,
            DatabaseUrl::Postgres(_) => 10,
        };
        let pool = r2d2::Pool::builder()
            .max_size(max_size)
            .min_idle(Some(1))
            .connection_timeout(Duration::from_secs(5))
            // A ping on every checkout costs a round trip per query; broken connections
            // are found by `has_broken` when they come back instead.
            .test_on_check_out(false)
            .build(manager)?;
        Ok(Self {
            pool,
            url: Arc::new(url.clone()),
            queries,
            permits: Arc::new(tokio::sync::Semaphore::new(max_size as usize)),
        })
    }

    /// How many statements this handle's connections have started: what tests and
    /// benchmarks read to show a path does no database work.
    pub fn queries_started(&self) -> u64 {
        self.queries.load(Ordering::Relaxed)
    }

    /// The URL this handle was opened with.
    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    /// A connection for synchronous callers (the CLI, start-up).
    pub fn get(&self) -> Result<PooledConnection, DbError> {
        Ok(self.pool.get()?)
    }

    /// Runs `work` on a pooled connection on a blocking thread.
    pub async fn run<T, E, F>(&self, work: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| DbError::TaskStopped)?;
        let pool = self.pool.clone();
        actix_web::rt::task::spawn_blocking(move || {
            let outcome = with_connection(&pool, work);
            drop(permit);
            outcome
        })
        .await
        .map_err(|_| DbError::TaskStopped)?
    }

    /// Runs `work` on the calling thread if a pooled connection is free right now (for
    /// reads so short that a blocking thread would cost more than they do); `None`, and
    /// nothing run, when every connection is busy, so the caller never waits here.
    pub fn try_run_here<T, E, F>(&self, work: F) -> Option<Result<T, E>>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E>,
        E: From<DbError>,
    {
        let permit = self.permits.clone().try_acquire_owned().ok()?;
        let mut conn = self.pool.try_get()?;
        let outcome = work(&mut conn);
        if outcome.is_err() && conn.conn.ping().is_err() {
            conn.lost = true;
        }
        drop(permit);
        Some(outcome)
    }

    /// Applies every pending migration of this backend; returns the versions applied.
    pub fn migrate(&self) -> Result<Vec<String>, DbError> {
        let mut conn = self.get()?;
        let applied = match &mut conn.conn {
            DbConnection::Sqlite(conn) => conn
                .run_pending_migrations(SQLITE_MIGRATIONS)
                .map(|versions| versions.iter().map(ToString::to_string).collect()),
            DbConnection::Postgres(conn) => {
                conn.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK_ID})"))?;
                let applied = conn
                    .run_pending_migrations(POSTGRES_MIGRATIONS)
                    .map(|versions| versions.iter().map(ToString::to_string).collect());
                conn.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_ID})"))?;
                applied
            }
        };
        applied.map_err(|err| DbError::Migration(err.to_string()))
    }

    /// Whether the database answers a query within two seconds and takes writes, found
    /// without writing: on SQLite, its file is still where it was opened (a deleted file
    /// would lose every write), the process may write it and its disk has room; on
    /// Postgres, the server is not read-only (`SHOW transaction_read_only`).
    pub async fn readiness(&self) -> Readiness {
        let pool = self.pool.clone();
        let url = self.url.clone();
        actix_web::rt::task::spawn_blocking(move || {
            let file = match &*url {
                DatabaseUrl::Sqlite(path) => Some(path.as_path()),
                DatabaseUrl::Postgres(_) => None,
            };
            if file.is_some_and(|path| !path.exists()) {
                return Readiness::Unavailable;
            }
            let Ok(mut conn) = pool.get_timeout(Duration::from_secs(2)) else {
                return Readiness::Unavailable;
            };
            let writable = match &mut conn.conn {
                DbConnection::Sqlite(sqlite) => sqlite
                    .batch_execute("SELECT 1")
                    .map(|()| file.is_none_or(sqlite_has_room)),
                DbConnection::Postgres(pg) => postgres_takes_writes(pg),
            };
            match writable {
                Ok(true) => Readiness::Ready,
                Ok(false) => Readiness::Unwritable,
                Err(_) => {
                    if conn.conn.ping().is_err() {
                        conn.lost = true;
                    }
                    Readiness::Unavailable
                }
            }
        })
        .await
        .unwrap_or(Readiness::Unavailable)
    }
}

/// What `/readyz` reports about the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    /// It answers and takes writes.
    Ready,
    /// It does not answer, or its SQLite file is gone.
    Unavailable,
    /// It answers but would refuse a write: read-only, or its disk is full.
    Unwritable,
}

/// Free space below which a SQLite database counts as unwritable: a change appends a
/// few 4 KiB pages to the WAL, so with less than this, writes are about to fail.
const SQLITE_MIN_FREE_BYTES: u64 = 1024 * 1024;

/// True when this process may write the SQLite file (not a read-only file or mount)
/// and its file system has [`SQLITE_MIN_FREE_BYTES`] free.
fn sqlite_has_room(path: &Path) -> bool {
    rustix::fs::access(path, rustix::fs::Access::WRITE_OK).is_ok()
        && rustix::fs::statvfs(path)
            .is_ok_and(|fs| fs.f_bavail.saturating_mul(fs.f_frsize) >= SQLITE_MIN_FREE_BYTES)
}

/// True unless the Postgres server refuses writes in a new transaction (a standby, or
/// `default_transaction_read_only`).
fn postgres_takes_writes(conn: &mut diesel::PgConnection) -> QueryResult<bool> {
    #[derive(QueryableByName)]
    struct ReadOnly {
        #[diesel(sql_type = diesel::sql_types::Text)]
        transaction_read_only: String,
    }
    diesel::sql_query("SHOW transaction_read_only")
        .get_result::<ReadOnly>(conn)
        .map(|setting| setting.transaction_read_only == "off")
}

fn with_connection<T, E, F>(pool: &Pool, work: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
    E: From<DbError>,
{
    let mut conn = pool.get().map_err(DbError::from)?;
    let outcome = work(&mut conn);
    // A failure may mean the server went away: one ping tells, and a dead connection is
    // dropped rather than returned to the pool.
    if outcome.is_err() && conn.conn.ping().is_err() {
        conn.lost = true;
    }
    outcome
}

/// Runs `work` in a write transaction: `BEGIN IMMEDIATE` on SQLite, so two writers
/// never both read and then fail to upgrade their lock; a plain transaction on Postgres.
/// Everything `work` writes commits together or not at all.
pub fn write_transaction<T, E, F>(conn: &mut DbConnection, work: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
    E: From<DbError>,
{
    // Nested calls become savepoints of the outer transaction, which holds the lock.
    let begin_sqlite = |conn: &mut DbConnection| -> Result<bool, DbError> {
        match conn {
            DbConnection::Sqlite(sqlite) => {
                let depth =
                    AnsiTransactionManager::transaction_manager_status_mut(sqlite).transaction_depth()?;
                if depth.is_some() {
                    return Ok(false);
                }
                AnsiTransactionManager::begin_transaction_sql(sqlite, "BEGIN IMMEDIATE")?;
                Ok(true)
            }
            DbConnection::Postgres(_) => Ok(false),
        }
    };
    if !begin_sqlite(conn)? {
        return conn
            .transaction(|conn| work(conn).map_err(TransactionError::Work))
            .map_err(|err| match err {
                TransactionError::Work(err) => err,
                TransactionError::Db(err) => E::from(DbError::from(err)),
            });
    }
    let outcome = work(conn);
    let DbConnection::Sqlite(sqlite) = conn else {
        return outcome;
    };
    match outcome {
        Ok(value) => {
            AnsiTransactionManager::commit_transaction(sqlite).map_err(DbError::from)?;
            Ok(value)
        }
        Err(err) => {
            AnsiTransactionManager::rollback_transaction(sqlite).map_err(DbError::from)?;
            Err(err)
        }
    }
}

/// Lets `Connection::transaction` carry either the work's own error or diesel's.
enum TransactionError<E> {
    Work(E),
    Db(diesel::result::Error),
}

impl<E> From<diesel::result::Error> for TransactionError<E> {
    fn from(err: diesel::result::Error) -> Self {
        TransactionError::Db(err)
    }
}

/// Runs scheduled `work` unless another instance is running scheduled work right now:
/// on Postgres under a session-level advisory lock, taken without waiting and released
/// when `work` ends (or when the connection dies), so `work`'s own transactions commit
/// one by one; on SQLite (one machine) directly. `None` when another instance holds it.
pub fn exclusively<T, F>(conn: &mut DbConnection, work: F) -> Result<Option<T>, DbError>
where
    F: FnOnce(&mut DbConnection) -> Result<T, DbError>,
{
    #[derive(QueryableByName)]
    struct Locked {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        locked: bool,
    }
    let DbConnection::Postgres(pg) = &mut *conn else {
        return work(conn).map(Some);
    };
    let lock = diesel::sql_query("SELECT pg_try_advisory_lock($1) AS locked")
        .bind::<diesel::sql_types::BigInt, _>(SCHEDULE_LOCK_ID)
        .get_result::<Locked>(pg)?;
    if !lock.locked {
        return Ok(None);
    }
    let outcome = work(conn);
    if let DbConnection::Postgres(pg) = conn {
        diesel::sql_query("SELECT pg_advisory_unlock($1)")
            .bind::<diesel::sql_types::BigInt, _>(SCHEDULE_LOCK_ID)
            .execute(pg)?;
    }
    outcome.map(Some)
}
