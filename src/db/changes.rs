//! Change notifications between instances on one Postgres: every change that can alter
//! a verification sends `NOTIFY` in its own transaction (delivered only if it commits),
//! and every instance listens on a connection of its own and drops its verification
//! cache when one arrives. SQLite is one machine: there is nobody to tell.

use std::sync::Weak;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection, RunQueryDsl};

use super::{ConnectError, DbConnection, DbError};
use crate::domain::MerchantId;

/// The channel every instance listens on.
pub const CHANNEL: &str = "keyward_changes";

/// The `application_name` of listener connections in `pg_stat_activity`.
pub const LISTENER_NAME: &str = "keyward-listener";

/// How often the listener looks for notifications: the most delay it adds to a change
/// being seen. A look is one non-blocking read of the socket.
const POLL: Duration = Duration::from_millis(10);

/// How often the listener proves its connection alive with a round trip. A connection
/// cut without a word (a firewall, a failover) looks just like a quiet channel; the
/// cache stops trusting itself when these stop (see `KeyCache::watch`).
const PING: Duration = Duration::from_millis(250);

/// How long to wait before connecting again after losing the connection.
const RETRY: Duration = Duration::from_secs(1);

/// libpq settings that bound how long the listener can hang on a dead peer.
const TIMEOUTS: &str = "connect_timeout=5&keepalives=1&keepalives_idle=5&keepalives_interval=2&keepalives_count=2&tcp_user_timeout=5000";

/// Tells every instance that something of `merchant_id` changed, when the current
/// transaction commits. One notification per merchant and transaction: Postgres folds
/// identical ones.
pub fn notify(conn: &mut DbConnection, merchant_id: &MerchantId) -> Result<(), DbError> {
    if let DbConnection::Postgres(pg) = conn {
        diesel::sql_query("SELECT pg_notify($1, $2)")
            .bind::<diesel::sql_types::Text, _>(CHANNEL)
            .bind::<diesel::sql_types::Text, _>(merchant_id.as_str())
            .execute(pg)?;
    }
    Ok(())
}

/// What the listener does with what it hears.
pub trait OnChange: Send + Sync + 'static {
    /// Something changed somewhere, or may have while the listener was away: forget
    /// what may be stale.
    fn changed(&self);
    /// The listener's connection just made a round trip: whatever changes now, it hears.
    fn alive(&self);
}

/// Listens on `url` until `target` is gone (the server stopped), in a thread of its own.
/// A lost connection is opened again; `target` forgets everything when it is lost and
/// again once it is back, so nothing sent meanwhile is missed.
pub fn spawn_listener<T: OnChange>(url: String, target: Weak<T>) -> std::io::Result<()> {
    let separator = if url.contains('?') { '&' } else { '?' };
    let url = format!("{url}{separator}{TIMEOUTS}");
    std::thread::Builder::new()
        .name("keyward-listen".into())
        .spawn(move || {
            while target.strong_count() > 0 {
                match listen(&url, &target) {
                    Ok(()) => return,
                    Err(err) => {
                        if let Some(target) = target.upgrade() {
                            target.changed();
                        }
                        tracing::warn!(
                            error = %crate::error::cause_chain(&err),
                            "the change listener lost its database connection; reconnecting"
                        );
                        std::thread::sleep(RETRY);
                    }
                }
            }
        })
        .map(drop)
}

/// One connection's life: returns `Ok` when `target` is gone, `Err` when the connection
/// fails.
fn listen<T: OnChange>(url: &str, target: &Weak<T>) -> Result<(), DbError> {
    super::prepare_tls();
    let mut conn = PgConnection::establish(url).map_err(ConnectError::from)?;
    // Named, so an operator (or a test) can tell the listener among the connections.
    conn.batch_execute(&format!(
        "SET application_name = '{LISTENER_NAME}'; LISTEN {CHANNEL}"
    ))?;
    // Listening now: whatever changed before this point must be read anew.
    match target.upgrade() {
        Some(target) => {
            target.changed();
            target.alive();
        }
        None => return Ok(()),
    }
    let mut pinged = Instant::now();
    loop {
        let mut heard = false;
        let mut failed = None;
        for notification in conn.notifications_iter() {
            match notification {
                Ok(_) => heard = true,
                Err(err) => {
                    failed = Some(err);
                    break;
                }
            }
        }
        let Some(target) = target.upgrade() else {
            return Ok(());
        };
        // What was heard before a failure still counts.
        if heard {
            target.changed();
        }
        if let Some(err) = failed {
            return Err(err.into());
        }
        if pinged.elapsed() >= PING {
            conn.batch_execute("SELECT 1")?;
            target.alive();
            pinged = Instant::now();
        }
        drop(target);
        std::thread::sleep(POLL);
    }
}
