//! How database failures reach the layers above: one error type, with the transient
//! ones (answer 503, retry later) told apart.

use std::path::PathBuf;

use diesel::result::DatabaseErrorKind;

/// A database failure, as the layers above see it.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The database could not be reached or refused the credentials.
    #[error("cannot connect to the database")]
    Connect(#[from] ConnectError),
    /// No pooled connection became free in time, or the pool could not open one.
    #[error("no database connection is available")]
    Pool(#[from] r2d2::Error),
    /// The connection died mid-query (the server restarted, a failover).
    #[error("the database connection was lost: {0}")]
    ConnectionLost(String),
    /// SQLite stayed locked by another connection past the busy timeout.
    #[error("the database is busy: {0}")]
    Busy(String),
    /// The database refuses writes: its disk is full, its file or mount is read-only,
    /// or Postgres is read-only (a standby, `default_transaction_read_only`).
    #[error("the database cannot be written: {0}")]
    Unwritable(String),
    /// A row with the same unique value exists already.
    #[error("a row with the same unique value exists already ({0})")]
    UniqueViolation(String),
    /// Any other query failure.
    #[error("database query failed")]
    Query(#[source] diesel::result::Error),
    /// Applying migrations failed.
    #[error("applying database migrations failed: {0}")]
    Migration(String),
    /// A stored value is not one Keyward writes (a role, say).
    #[error("unexpected value in the database: {0}")]
    Corrupt(String),
    /// The database is known to be out of reach, or did not answer in time: the caller
    /// stopped waiting.
    #[error("the database does not answer")]
    Unreachable,
    /// The database stopped answering while the work was under way, and the caller
    /// stopped waiting: the server may still finish it, so a change may or may not be
    /// made.
    #[error("the database stopped answering while the work was under way")]
    Interrupted,
    /// The blocking task running the query panicked or was cancelled.
    #[error("the database task stopped before it finished")]
    TaskStopped,
}

impl From<diesel::result::Error> for DbError {
    fn from(err: diesel::result::Error) -> Self {
        match err {
            diesel::result::Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                DbError::UniqueViolation(info.message().to_owned())
            }
            diesel::result::Error::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                info,
            ) => DbError::ConnectionLost(info.message().to_owned()),
            diesel::result::Error::DatabaseError(DatabaseErrorKind::ReadOnlyTransaction, info) => {
                DbError::Unwritable(info.message().to_owned())
            }
            // SQLite's texts for SQLITE_BUSY and SQLITE_LOCKED, which diesel reports as
            // unknown errors.
            diesel::result::Error::DatabaseError(_, info)
                if matches!(info.message(), "database is locked" | "database table is locked") =>
            {
                DbError::Busy(info.message().to_owned())
            }
            // And for SQLITE_FULL and SQLITE_READONLY.
            diesel::result::Error::DatabaseError(_, info)
                if matches!(
                    info.message(),
                    "database or disk is full" | "attempt to write a readonly database"
                ) =>
            {
                DbError::Unwritable(info.message().to_owned())
            }
            other => DbError::Query(other),
        }
    }
}

impl From<crate::domain::MalformedId> for DbError {
    fn from(err: crate::domain::MalformedId) -> Self {
        DbError::Corrupt(err.to_string())
    }
}

impl DbError {
    /// True for failures that say nothing about the request and may pass by themselves
    /// (the database out of reach, saturated, locked, full or read-only): the answer is
    /// 503, retry later.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            DbError::Pool(_)
                | DbError::Connect(_)
                | DbError::ConnectionLost(_)
                | DbError::Unreachable
                | DbError::Interrupted
                | DbError::Busy(_)
                | DbError::Unwritable(_)
        )
    }
}

/// Opening a connection failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The SQLite file did not exist and could not be created.
    #[error("cannot create the SQLite file `{path}`")]
    CreateFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The server or file could not be opened.
    #[error(transparent)]
    Open(#[from] diesel::ConnectionError),
    /// The connection opened but its settings could not be applied.
    #[error("setting up the connection failed")]
    Setup(#[from] diesel::result::Error),
    /// The connection was opened before the database was last out of reach.
    #[error("the connection predates the database's last outage")]
    Outdated,
    /// The thread that watches whether the database answers could not start.
    #[error("cannot start the database prober")]
    Probe(#[source] std::io::Error),
}
