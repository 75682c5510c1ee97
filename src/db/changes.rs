//! Change notifications between instances on one Postgres: every change that can alter
//! a verification sends `NOTIFY` in its own transaction (delivered only if it commits),
//! and every instance listens on a connection of its own and drops its verification
//! cache when one arrives. SQLite is one machine: there is nobody to tell.

use std::sync::Weak;
use std::time::{Duration, Instant};

use diesel::RunQueryDsl;
use diesel::connection::SimpleConnection;

use super::{DbConnection, DbError};
use crate::domain::MerchantId;
use crate::telemetry::Metrics;

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
/// again once it is back, so nothing sent meanwhile is missed. What it hears and each
/// reconnection are counted in `metrics`.
pub fn spawn_listener<T: OnChange>(url: String, target: Weak<T>, metrics: Metrics) -> std::io::Result<()> {
    // Bounded like the pool's connections, so it cannot hang on a dead peer either.
    let url = super::connection::with_timeouts(&url);
    std::thread::Builder::new()
        .name("keyward-listen".into())
        .spawn(move || {
            // Set from a lost connection until the next one listens: one warning per
            // outage, and one reconnection counted when it ends, however many tries.
            let mut lost = false;
            while target.strong_count() > 0 {
                match listen(&url, &target, &metrics, &mut lost) {
                    Ok(()) => return,
                    Err(err) => {
                        if let Some(target) = target.upgrade() {
                            target.changed();
                        }
                        if lost {
                            tracing::debug!(error = %crate::error::cause_chain(&err), "the change listener still cannot connect");
                        } else {
                            tracing::warn!(
                                error = %crate::error::cause_chain(&err),
                                "the change listener lost its database connection; reconnecting"
                            );
                        }
                        lost = true;
                        std::thread::sleep(RETRY);
                    }
                }
            }
        })
        .map(drop)
}

/// One connection's life: returns `Ok` when `target` is gone, `Err` when the connection
/// fails.
fn listen<T: OnChange>(
    url: &str,
    target: &Weak<T>,
    metrics: &Metrics,
    lost: &mut bool,
) -> Result<(), DbError> {
    super::prepare_tls();
    let mut conn = super::connection::establish_postgres(url)?;
    // Named, so an operator (or a test) can tell the listener among the connections.
    conn.batch_execute(&format!(
        "SET application_name = '{LISTENER_NAME}'; LISTEN {CHANNEL}"
    ))?;
    if std::mem::take(lost) {
        metrics.listener_reconnect();
        tracing::info!("the change listener is connected again");
    }
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
        let mut heard = 0;
        let mut failed = None;
        for notification in conn.notifications_iter() {
            match notification {
                Ok(_) => heard += 1,
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
        if heard > 0 {
            metrics.change_notifications(heard);
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
