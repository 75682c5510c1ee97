//! Opening connections to either backend, and the pool's view of them.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::R2D2Connection;

use super::error::ConnectError;
use crate::config::DatabaseUrl;

/// One connection to either backend; queries are written once for both.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    /// A SQLite file.
    Sqlite(diesel::SqliteConnection),
    /// A Postgres server.
    Postgres(diesel::PgConnection),
}

/// Initialises OpenSSL without its exit-time cleanup. libpq otherwise sets OpenSSL up
/// with an `atexit` handler that frees its state while pool and worker threads may
/// still be closing TLS connections, which crashes the process as it exits. Call it
/// before the first Postgres connection; later calls do nothing.
pub fn prepare_tls() {
    openssl_sys::init();
}

/// Opens connections of the backend the URL names. Built by hand rather than through
/// the derived `establish`, which hides a refused connection or a wrong password
/// behind a generic message after a long wait.
#[derive(Debug, Clone)]
pub struct ConnectionManager {
    pub(super) url: DatabaseUrl,
    pub(super) queries: Arc<AtomicU64>,
}

impl ConnectionManager {
    pub(super) fn open(&self) -> Result<DbConnection, ConnectError> {
        let mut conn = self.open_backend()?;
        let queries = self.queries.clone();
        conn.set_instrumentation(move |event: diesel::connection::InstrumentationEvent<'_>| {
            if matches!(event, diesel::connection::InstrumentationEvent::StartQuery { .. }) {
                queries.fetch_add(1, Ordering::Relaxed);
            }
        });
        Ok(conn)
    }

    fn open_backend(&self) -> Result<DbConnection, ConnectError> {
        match &self.url {
            DatabaseUrl::Sqlite(path) => {
                create_private_file(path).map_err(|source| ConnectError::CreateFile {
                    path: path.clone(),
                    source,
                })?;
                let mut conn = diesel::SqliteConnection::establish(&path.to_string_lossy())?;
                // busy_timeout first, so switching to WAL waits for a concurrent opener.
                conn.batch_execute(
                    "PRAGMA busy_timeout = 5000;
                     PRAGMA journal_mode = WAL;
                     PRAGMA synchronous = NORMAL;
                     PRAGMA foreign_keys = ON;
                     PRAGMA journal_size_limit = 67108864;",
                )?;
                Ok(DbConnection::Sqlite(conn))
            }
            DatabaseUrl::Postgres(url) => {
                prepare_tls();
                let mut conn = diesel::PgConnection::establish(url)?;
                conn.batch_execute("SET TIME ZONE 'UTC'")?;
                Ok(DbConnection::Postgres(conn))
            }
        }
    }
}

/// Creates the SQLite file, readable and writable by its owner only, unless it exists.
/// SQLite gives its -wal and -shm files the mode of the database file, so they are
/// private too; left to SQLite, all three would follow the umask (often world-readable).
fn create_private_file(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let created = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path);
    match created {
        Err(err) if err.kind() != std::io::ErrorKind::AlreadyExists => Err(err),
        _ => Ok(()),
    }
}

/// A pooled connection and whether it was found dead, so the pool drops it instead of
/// handing it out again (diesel only notices broken transactions, not a lost server).
pub struct ManagedConnection {
    pub(super) conn: DbConnection,
    pub(super) lost: bool,
}

impl std::ops::Deref for ManagedConnection {
    type Target = DbConnection;

    fn deref(&self) -> &DbConnection {
        &self.conn
    }
}

impl std::ops::DerefMut for ManagedConnection {
    fn deref_mut(&mut self) -> &mut DbConnection {
        &mut self.conn
    }
}

impl r2d2::ManageConnection for ConnectionManager {
    type Connection = ManagedConnection;
    type Error = ConnectError;

    fn connect(&self) -> Result<ManagedConnection, ConnectError> {
        Ok(ManagedConnection {
            conn: self.open()?,
            lost: false,
        })
    }

    fn is_valid(&self, conn: &mut ManagedConnection) -> Result<(), ConnectError> {
        conn.conn.ping().map_err(ConnectError::Setup)
    }

    fn has_broken(&self, conn: &mut ManagedConnection) -> bool {
        conn.lost || conn.conn.is_broken()
    }
}
