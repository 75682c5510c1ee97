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
    /// The generation new connections are stamped with; see `Health`.
    pub(super) generation: Arc<AtomicU64>,
}

/// How long the server lets one statement of a pooled connection run. Nobody waits
/// longer for a page or an API answer, and a statement cut short frees its locks.
pub(super) const STATEMENT_TIMEOUT: &str = "10s";

/// libpq settings that bound how long opening or using a connection can hang on a
/// server or network that stopped answering, each added unless the URL sets it already:
/// `connect_timeout` (in seconds; libpq's minimum is 2), keepalives that find a dead
/// peer in about 9 s, and `tcp_user_timeout` (in milliseconds) for data sent but never
/// acknowledged.
const CONNECTION_TIMEOUTS: [(&str, &str); 6] = [
    ("connect_timeout", "2"),
    ("keepalives", "1"),
    ("keepalives_idle", "5"),
    ("keepalives_interval", "2"),
    ("keepalives_count", "2"),
    ("tcp_user_timeout", "5000"),
];

/// `url` with each of [`CONNECTION_TIMEOUTS`] the operator did not set.
pub(super) fn with_timeouts(url: &str) -> String {
    let query = query_start(url);
    let set: Vec<&str> = query
        .map(|start| {
            url[start + 1..]
                .split('&')
                .map(|pair| pair.split('=').next().unwrap_or(pair))
                .collect()
        })
        .unwrap_or_default();
    let mut url = url.to_owned();
    let mut separator = if query.is_some() { '&' } else { '?' };
    for (name, value) in CONNECTION_TIMEOUTS {
        if !set.contains(&name) {
            url.push(separator);
            url.push_str(&format!("{name}={value}"));
            separator = '&';
        }
    }
    url
}

/// Where the query of a `postgres://` URL starts, found as libpq finds it: the user
/// and password end at the first `@` before any `/`, so a `?` in a password (which
/// libpq takes unescaped) does not start it.
fn query_start(url: &str) -> Option<usize> {
    let authority = url.find("://").map_or(0, |scheme| scheme + 3);
    let rest = &url[authority..];
    let host = match rest.find(['@', '/']) {
        Some(at) if rest.as_bytes()[at] == b'@' => authority + at + 1,
        _ => authority,
    };
    url[host..].find('?').map(|query| host + query)
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
                let mut conn = establish_postgres(&with_timeouts(url))?;
                conn.batch_execute(&format!(
                    "SET TIME ZONE 'UTC'; SET statement_timeout = '{STATEMENT_TIMEOUT}'"
                ))?;
                Ok(DbConnection::Postgres(conn))
            }
        }
    }
}

/// Opens a Postgres connection. libpq's error text may quote the URL or the password
/// it could not parse (a stray `%`, an unencoded `@`): it is scrubbed here, before it
/// can reach a log or the one-line start-up error.
pub(super) fn establish_postgres(url: &str) -> Result<diesel::PgConnection, ConnectError> {
    use diesel::ConnectionError::{BadConnection, InvalidConnectionUrl};
    diesel::PgConnection::establish(url).map_err(|err| {
        ConnectError::Open(match err {
            BadConnection(message) => BadConnection(crate::config::without_password(&message, url)),
            InvalidConnectionUrl(message) => {
                InvalidConnectionUrl(crate::config::without_password(&message, url))
            }
            other => other,
        })
    })
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
    /// The generation it was opened in: one opened before the database last came back
    /// is never handed out again.
    generation: u64,
}

impl ConnectionManager {
    fn outdated(&self, conn: &ManagedConnection) -> bool {
        conn.generation != self.generation.load(Ordering::Acquire)
    }
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
        // Read before opening: a connection that was being opened as the generation
        // changed counts as old.
        let generation = self.generation.load(Ordering::Acquire);
        Ok(ManagedConnection {
            conn: self.open()?,
            lost: false,
            generation,
        })
    }

    /// Run on every checkout: no round trip (that would cost one per query), only
    /// whether the connection predates the database's last return.
    fn is_valid(&self, conn: &mut ManagedConnection) -> Result<(), ConnectError> {
        if self.outdated(conn) {
            Err(ConnectError::Outdated)
        } else {
            Ok(())
        }
    }

    fn has_broken(&self, conn: &mut ManagedConnection) -> bool {
        conn.lost || self.outdated(conn) || conn.conn.is_broken()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_are_added_to_a_url_without_them_and_an_operators_own_are_kept() {
        assert_eq!(
            with_timeouts("postgres://kw@db/kw"),
            "postgres://kw@db/kw?connect_timeout=2&keepalives=1&keepalives_idle=5\
             &keepalives_interval=2&keepalives_count=2&tcp_user_timeout=5000"
        );
        let own = with_timeouts("postgres://kw@db/kw?sslmode=require&connect_timeout=10&keepalives=0");
        assert!(own.starts_with("postgres://kw@db/kw?sslmode=require&connect_timeout=10&keepalives=0&"));
        assert_eq!(own.matches("connect_timeout").count(), 1, "{own}");
        assert_eq!(own.matches("keepalives=").count(), 1, "{own}");
        assert!(own.ends_with("&tcp_user_timeout=5000"), "{own}");
    }

    #[test]
    fn a_question_mark_in_the_password_does_not_start_the_query() {
        assert_eq!(
            with_timeouts("postgres://kw:pa?ss@db/kw"),
            "postgres://kw:pa?ss@db/kw?connect_timeout=2&keepalives=1&keepalives_idle=5\
             &keepalives_interval=2&keepalives_count=2&tcp_user_timeout=5000"
        );
        let own = with_timeouts("postgres://kw:p?w@db/kw?connect_timeout=9");
        assert!(
            own.starts_with("postgres://kw:p?w@db/kw?connect_timeout=9&keepalives=1&"),
            "{own}"
        );
        assert_eq!(own.matches("connect_timeout").count(), 1, "{own}");
        // Without a user, a `@` in the query is not taken for the end of one.
        let query_at = with_timeouts("postgres://db/kw?user=kw@corp");
        assert!(
            query_at.starts_with("postgres://db/kw?user=kw@corp&connect_timeout=2&"),
            "{query_at}"
        );
    }
}
