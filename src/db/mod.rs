//! The database: one connection type over SQLite and Postgres, its pool, migrations, and
//! one module of queries per table group.

pub mod changes;
mod connection;
mod error;
mod health;
pub mod invitations;
pub mod key_events;
pub mod key_policies;
pub mod key_requests;
pub mod keys;
pub mod login_failures;
pub mod management_tokens;
pub mod memberships;
pub mod merchants;
pub mod rate_limits;
pub mod schema;
pub mod sessions;
pub mod usage;
pub mod users;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::prelude::*;
use diesel::r2d2::R2D2Connection;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::config::DatabaseUrl;
use crate::telemetry::Metrics;
use health::Health;

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

/// How long a call may wait before the prober is asked whether the database still
/// answers: past it the call keeps waiting, unless the probe finds the database gone.
const SUSPECT_AFTER: Duration = Duration::from_millis(200);

/// How long a Postgres call may take in all, queueing included: a little more than the
/// server's statement timeout, for a connection whose server cannot even say it gave up.
const CALL_DEADLINE: Duration = Duration::from_secs(11);

/// How long a Postgres call waits for a pooled connection once its turn has come: only
/// as long as opening one should take, the database being out of reach otherwise.
const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(1);

/// How long `/readyz` waits for the database on Postgres, so it answers within a second.
const READY_DEADLINE: Duration = Duration::from_millis(900);

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
    /// Where waits for a permit are counted.
    metrics: Metrics,
    /// The circuit, on Postgres.
    health: Option<Arc<Health>>,
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
        let max_size = match url {
            DatabaseUrl::Sqlite(_) => 8,
            DatabaseUrl::Postgres(_) => 10,
        };
        Self::open(url, max_size, true)
    }

    /// [`Self::connect`] with a pool of at most `max_size` connections, for work that
    /// runs one thing at a time (the shared rate limits' sync) and says in its own words
    /// what an outage means for it: the circuit's turns are logged at debug level only,
    /// so an outage is not announced twice.
    pub fn connect_with_pool(url: &DatabaseUrl, max_size: u32) -> Result<Self, DbError> {
        Self::open(url, max_size, false)
    }

    fn open(url: &DatabaseUrl, max_size: u32, announce: bool) -> Result<Self, DbError> {
        let queries = Arc::new(AtomicU64::new(0));
        let generation = Arc::new(AtomicU64::new(0));
        let manager = ConnectionManager {
            url: url.clone(),
            queries: queries.clone(),
            generation: generation.clone(),
        };
        manager.open()?;
        let pool = r2d2::Pool::builder()
            .max_size(max_size)
            .min_idle(Some(1))
            .connection_timeout(Duration::from_secs(5))
            // The check on checkout makes no round trip (one per query would cost too
            // much): it only refuses connections older than the database's last outage.
            // Broken ones are found by `has_broken` when they come back.
            .test_on_check_out(true)
            .error_handler(Box::new(PoolErrors {
                generation: matches!(url, DatabaseUrl::Postgres(_)).then(|| generation.clone()),
                reported: AtomicU64::new(u64::MAX),
            }))
            .build(manager)?;
        let health = match url {
            DatabaseUrl::Sqlite(_) => None,
            DatabaseUrl::Postgres(raw) => Some(
                Health::start(connection::with_timeouts(raw), generation, announce)
                    .map_err(|err| DbError::Connect(ConnectError::Probe(err)))?,
            ),
        };
        Ok(Self {
            pool,
            url: Arc::new(url.clone()),
            queries,
            permits: Arc::new(tokio::sync::Semaphore::new(max_size as usize)),
            metrics: Metrics::default(),
            health,
        })
    }

    /// This handle, counting its waits for a pooled connection in `metrics`.
    #[must_use]
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// True while the database is known to be out of reach (Postgres's circuit is
    /// open): work that needs it can fail at once without queueing for anything.
    pub fn known_unreachable(&self) -> bool {
        self.health.as_ref().is_some_and(|health| health.is_down())
    }

    /// The pool's connections right now: (in use, idle).
    pub fn pool_connections(&self) -> (u32, u32) {
        let state = self.pool.state();
        (
            state.connections.saturating_sub(state.idle_connections),
            state.idle_connections,
        )
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

    /// Runs `work` on a pooled connection on a blocking thread. On Postgres, fails at
    /// once with [`DbError::Unreachable`] while the database is known to be out of reach,
    /// and stops waiting as soon as it is found so (see `Db::call`).
    pub async fn run<T, E, F>(&self, work: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let work = move |conn: &mut PooledConnection| {
            let outcome = work(conn);
            // A failure may mean the server went away: one ping tells, and a dead
            // connection is dropped rather than returned to the pool.
            if outcome.is_err() && conn.conn.ping().is_err() {
                conn.lost = true;
            }
            outcome
        };
        self.call(CALL_DEADLINE, Duration::from_secs(5), work)
            .await
            .unwrap_or_else(|err| Err(E::from(err)))
    }

    /// Runs `work` on a blocking thread with a pooled connection, waiting at most
    /// `checkout` for the connection once a permit is held. On Postgres the caller
    /// waits at most `deadline` in all, and less when the database is known or found to
    /// be out of reach: a call that has waited [`SUSPECT_AFTER`] asks the prober, whose
    /// verdict ends every waiting call at once. A connection whose work was given up
    /// on is dropped when the work ends, never handed out again.
    async fn call<R, F>(&self, deadline: Duration, checkout: Duration, work: F) -> Result<R, DbError>
    where
        F: FnOnce(&mut PooledConnection) -> R + Send + 'static,
        R: Send + 'static,
    {
        let Some(health) = &self.health else {
            // SQLite has no circuit, but `/readyz` and the sign-in page still must not
            // queue behind every writer: the wait for a connection is bounded too.
            let permit = tokio::time::timeout(deadline, acquire(self.permits.clone(), &self.metrics))
                .await
                .map_err(|_| DbError::Busy("no connection became free in time".to_owned()))??;
            let pool = self.pool.clone();
            return actix_web::rt::task::spawn_blocking(move || {
                let mut conn = pool.get_timeout(checkout)?;
                let outcome = work(&mut conn);
                drop(conn);
                drop(permit);
                Ok(outcome)
            })
            .await
            .map_err(|_| DbError::TaskStopped)?;
        };
        if health.is_down() {
            return Err(DbError::Unreachable);
        }
        let progress = Arc::new(AtomicU8::new(PENDING));
        let task = {
            let (permits, pool, health) = (self.permits.clone(), self.pool.clone(), health.clone());
            let (progress, metrics) = (progress.clone(), self.metrics.clone());
            async move {
                let permit = acquire(permits, &metrics).await?;
                actix_web::rt::task::spawn_blocking(move || {
                    let checked_out = pool.get_timeout(CHECKOUT_TIMEOUT.min(checkout));
                    let mut conn = match checked_out {
                        Ok(conn) => conn,
                        Err(err) => {
                            health.suspect();
                            return Err(DbError::from(err));
                        }
                    };
                    // A caller that stopped waiting has answered "nothing was changed":
                    // its work must not start after that.
                    if progress
                        .compare_exchange(PENDING, RUNNING, Ordering::AcqRel, Ordering::Acquire)
                        .is_err()
                    {
                        return Err(DbError::Unreachable);
                    }
                    let outcome = work(&mut conn);
                    if progress.load(Ordering::Acquire) == ABANDONED_RUNNING {
                        conn.lost = true;
                    }
                    if conn.lost {
                        health.connection_lost();
                    } else {
                        health.answered();
                    }
                    drop(conn);
                    drop(permit);
                    Ok(outcome)
                })
                .await
                .map_err(|_| DbError::TaskStopped)?
            }
        };
        let outcome = tokio::select! {
            outcome = waiting(task, health) => outcome,
            () = tokio::time::sleep(deadline) => {
                health.suspect();
                Err(DbError::Unreachable)
            }
        };
        match outcome {
            Err(DbError::Unreachable) => {
                // Either the work never started (and now never will), or it is under
                // way on a server that stopped answering and may still finish it.
                match progress.compare_exchange(PENDING, ABANDONED, Ordering::AcqRel, Ordering::Acquire) {
                    Ok(_) => Err(DbError::Unreachable),
                    Err(_) => {
                        progress.store(ABANDONED_RUNNING, Ordering::Release);
                        Err(DbError::Interrupted)
                    }
                }
            }
            other => other,
        }
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

    /// Whether the database answers one round trip now: within [`READY_DEADLINE`] on
    /// Postgres, and at once while it is known to be out of reach. For a page that
    /// needs no query but would only fail once its form is sent.
    pub async fn answers(&self) -> Result<(), DbError> {
        let ping = |conn: &mut PooledConnection| {
            let answered = conn.conn.ping();
            if answered.is_err() {
                conn.lost = true;
            }
            answered.map_err(|err| DbError::ConnectionLost(err.to_string()))
        };
        self.call(READY_DEADLINE, Duration::from_secs(2), ping).await?
    }

    /// Applies every pending migration of this backend; returns the versions applied.
    pub fn migrate(&self) -> Result<Vec<String>, DbError> {
        let mut conn = self.get()?;
        let applied = match &mut conn.conn {
            DbConnection::Sqlite(conn) => conn
                .run_pending_migrations(SQLITE_MIGRATIONS)
                .map(|versions| versions.iter().map(ToString::to_string).collect()),
            DbConnection::Postgres(conn) => {
                // Waiting for another instance's migrations, or rewriting a large table,
                // may take longer than any request may: no statement timeout meanwhile.
                conn.batch_execute(&format!(
                    "SET statement_timeout = 0; SELECT pg_advisory_lock({MIGRATION_LOCK_ID})"
                ))?;
                let applied = conn
                    .run_pending_migrations(POSTGRES_MIGRATIONS)
                    .map(|versions| versions.iter().map(ToString::to_string).collect());
                conn.batch_execute(&format!(
                    "SELECT pg_advisory_unlock({MIGRATION_LOCK_ID}); \
                     SET statement_timeout = '{}'",
                    connection::STATEMENT_TIMEOUT
                ))?;
                applied
            }
        };
        applied.map_err(|err| DbError::Migration(err.to_string()))
    }

    /// Whether the database answers a query and takes writes, found without writing:
    /// on SQLite (waiting at most [`READY_DEADLINE`] for a free connection, then two
    /// seconds for the file), its file is still where it was opened (a deleted
    /// file would lose every write), the process may write it and its disk has room; on
    /// Postgres, within [`READY_DEADLINE`] (at once while it is known to be out of
    /// reach), the server is not read-only (`SHOW transaction_read_only`).
    pub async fn readiness(&self) -> Readiness {
        let file = match &*self.url {
            DatabaseUrl::Sqlite(path) => Some(path.clone()),
            DatabaseUrl::Postgres(_) => None,
        };
        if file.as_ref().is_some_and(|path| !path.exists()) {
            return Readiness::Unavailable;
        }
        let check = move |conn: &mut PooledConnection| {
            let file = file.as_deref();
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
        };
        self.call(READY_DEADLINE, Duration::from_secs(2), check)
            .await
            .unwrap_or(Readiness::Unavailable)
    }
}

/// Where a call's work stands, shared by the caller and the blocking thread: not
/// started yet, running, given up before it started (so it never will), or given up
/// while running (its connection is then dropped, not reused).
const PENDING: u8 = 0;
const RUNNING: u8 = 1;
const ABANDONED: u8 = 2;
const ABANDONED_RUNNING: u8 = 3;

/// One of the pool's permits, counting in `metrics` how long it was waited for when
/// none was free.
async fn acquire(
    permits: Arc<tokio::sync::Semaphore>,
    metrics: &Metrics,
) -> Result<tokio::sync::OwnedSemaphorePermit, DbError> {
    if let Ok(permit) = permits.clone().try_acquire_owned() {
        return Ok(permit);
    }
    let _waiting = WaitTimer {
        started: std::time::Instant::now(),
        metrics,
    };
    permits.acquire_owned().await.map_err(|_| DbError::TaskStopped)
}

/// Counts a wait for a permit when it ends, also when the caller gives up first: the
/// longest waits are those of an outage or a saturated pool.
struct WaitTimer<'a> {
    started: std::time::Instant,
    metrics: &'a Metrics,
}

impl Drop for WaitTimer<'_> {
    fn drop(&mut self) {
        self.metrics.pool_wait(self.started.elapsed());
    }
}

/// Waits for `task`, asking the prober after [`SUSPECT_AFTER`], and gives up as soon as
/// the database is known to be out of reach.
async fn waiting<R>(task: impl Future<Output = Result<R, DbError>>, health: &Health) -> Result<R, DbError> {
    tokio::pin!(task);
    tokio::select! {
        outcome = &mut task => return outcome,
        () = tokio::time::sleep(SUSPECT_AFTER) => health.suspect(),
    }
    tokio::select! {
        outcome = task => outcome,
        () = health.went_down() => Err(DbError::Unreachable),
    }
}

/// The pool's failures in the log: the first of each outage as an error, the pool's
/// later tries (one every few seconds while it lasts) at debug level, and none for a
/// connection dropped for predating the database's last outage, which is the plan
/// after every outage, not a fault. An outage ends when the circuit's `generation`
/// moves on; without a circuit (SQLite) every failure is an error.
#[derive(Debug)]
struct PoolErrors {
    generation: Option<Arc<AtomicU64>>,
    /// The generation whose first failure was logged; `u64::MAX` before any.
    reported: AtomicU64,
}

impl r2d2::HandleError<ConnectError> for PoolErrors {
    fn handle_error(&self, error: ConnectError) {
        if matches!(error, ConnectError::Outdated) {
            return;
        }
        let generation = self
            .generation
            .as_ref()
            .map(|generation| generation.load(Ordering::Acquire));
        if generation.is_some_and(|generation| self.reported.swap(generation, Ordering::AcqRel) == generation)
        {
            tracing::debug!(error = %crate::error::cause_chain(&error), "a pooled database connection failed again");
        } else {
            tracing::error!(error = %crate::error::cause_chain(&error), "a pooled database connection failed");
        }
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
