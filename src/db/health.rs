//! Whether Postgres can be reached, as a circuit: while it is known to be out of reach,
//! callers fail at once instead of each waiting for its own timeout, and one background
//! probe looks for its return. SQLite is a file on this machine: it has no circuit.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex, PoisonError, Weak};
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};

/// How long a probe's round trip may take before the database counts as out of reach:
/// a healthy server answers `SELECT 1` on an open connection in milliseconds, and a
/// stopped process (`SIGSTOP`) or a cut network never does.
const PROBE_TIMEOUT: Duration = Duration::from_millis(400);

/// How often the probe tries again while the database is out of reach.
const PROBE_INTERVAL: Duration = Duration::from_millis(250);

/// How often an idle prober checks whether its handle is gone.
const IDLE_CHECK: Duration = Duration::from_secs(1);

/// The circuit over one Postgres database, shared by a handle's pool and its prober.
#[derive(Debug)]
pub(super) struct Health {
    /// True while the database is known to be out of reach.
    down: tokio::sync::watch::Sender<bool>,
    /// Bumped each time the database comes back: connections opened before are not
    /// handed out again (after a restart they are dead, and one would fail a request).
    generation: Arc<AtomicU64>,
    /// How many calls the database has answered: while this moves, the server is
    /// slow (a loaded machine), not gone, and a late probe does not open the circuit.
    answered: AtomicU64,
    /// Whether the circuit's turns go in the log at warning and info level: off for a
    /// pool whose user reports the outage in its own words (the shared rate limits).
    announce: bool,
    /// Set when a caller saw a sign of trouble and wants the probe to look.
    wanted: Mutex<bool>,
    wake: Condvar,
}

impl Health {
    /// A closed circuit whose generation counter `generation` stamps new connections,
    /// with its prober running on `url` in threads of its own; `announce` as on
    /// [`Health`].
    pub(super) fn start(
        url: String,
        generation: Arc<AtomicU64>,
        announce: bool,
    ) -> std::io::Result<Arc<Self>> {
        let mut kept = None;
        Self::start_with(move || round_trip(&url, &mut kept), generation, announce)
    }

    /// [`Self::start`] with the prober making its round trips with `round_trip`.
    fn start_with(
        round_trip: impl FnMut() -> bool + Send + 'static,
        generation: Arc<AtomicU64>,
        announce: bool,
    ) -> std::io::Result<Arc<Self>> {
        let health = Arc::new(Self {
            down: tokio::sync::watch::Sender::new(false),
            generation,
            answered: AtomicU64::new(0),
            announce,
            wanted: Mutex::new(false),
            wake: Condvar::new(),
        });
        spawn_prober(round_trip, Arc::downgrade(&health))?;
        Ok(health)
    }

    /// True while the database is known to be out of reach.
    pub(super) fn is_down(&self) -> bool {
        *self.down.borrow()
    }

    /// Asks the prober to check the database now: a call waited unusually long, or a
    /// connection failed.
    pub(super) fn suspect(&self) {
        *self.wanted.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.wake.notify_one();
    }

    /// A pooled connection was found dead: the others opened before it likely died
    /// with it (a restart the circuit never saw, no request having come meanwhile), so
    /// none of them is handed out again, and the prober looks.
    pub(super) fn connection_lost(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.suspect();
    }

    /// A call's work ended on a connection the server kept answering.
    pub(super) fn answered(&self) {
        self.answered.fetch_add(1, Ordering::Relaxed);
    }

    /// Resolves once the database is known to be out of reach (at once if it is).
    pub(super) async fn went_down(&self) {
        let mut down = self.down.subscribe();
        // The sender lives as long as `self`, so this only ends by the value turning true.
        let _ = down.wait_for(|down| *down).await;
    }

    fn open(&self) {
        if !self.down.send_replace(true) {
            if self.announce {
                tracing::warn!(
                    "the database does not answer; requests that need it answer 503 until it is back"
                );
            } else {
                tracing::debug!("the database does not answer");
            }
        }
    }

    fn close(&self) {
        if self.is_down() {
            // Before the circuit closes, so no caller let through takes an old connection.
            self.generation.fetch_add(1, Ordering::AcqRel);
            self.down.send_replace(false);
            if self.announce {
                tracing::info!("the database answers again");
            } else {
                tracing::debug!("the database answers again");
            }
        }
    }

    /// Waits up to `IDLE_CHECK` for a reason to probe; true when there is one (the
    /// circuit is open, or a caller asked).
    fn probe_wanted(&self) -> bool {
        if self.is_down() {
            return true;
        }
        let wanted = self.wanted.lock().unwrap_or_else(PoisonError::into_inner);
        let (mut wanted, _) = self
            .wake
            .wait_timeout_while(wanted, IDLE_CHECK, |wanted| !*wanted)
            .unwrap_or_else(PoisonError::into_inner);
        std::mem::take(&mut *wanted)
    }
}

/// Starts the prober: one thread decides, and another makes the round trips it asks
/// for, so the decision never waits longer than [`PROBE_TIMEOUT`] even when a round
/// trip hangs. Both end once `health` is gone.
///
/// A probe that is late opens the circuit only if no call was answered meanwhile: on a
/// machine too busy to answer within [`PROBE_TIMEOUT`], the database still answers
/// the pool's connections, and every request failing with 503 would turn slowness into
/// an outage. A stopped or frozen server answers nothing, so the circuit opens after
/// one [`PROBE_TIMEOUT`] of silence.
fn spawn_prober(
    mut round_trip: impl FnMut() -> bool + Send + 'static,
    health: Weak<Health>,
) -> std::io::Result<()> {
    let (ask, asked) = mpsc::channel::<()>();
    let (answer, answers) = mpsc::channel::<bool>();
    std::thread::Builder::new()
        .name("keyward-db-probe".into())
        .spawn(move || {
            // Opened now, so a probe is one round trip and not a connection's start-up
            // (which a busy machine can take longer than `PROBE_TIMEOUT` over).
            round_trip();
            for () in asked {
                if answer.send(round_trip()).is_err() {
                    return;
                }
            }
        })?;
    std::thread::Builder::new()
        .name("keyward-db-circuit".into())
        .spawn(move || {
            while let Some(health) = health.upgrade() {
                if !health.probe_wanted() {
                    continue;
                }
                let mut seen = health.answered.load(Ordering::Relaxed);
                if ask.send(()).is_err() {
                    return;
                }
                let answered = loop {
                    match answers.recv_timeout(PROBE_TIMEOUT) {
                        Ok(answered) => break answered,
                        Err(RecvTimeoutError::Timeout) => {
                            let now = health.answered.load(Ordering::Relaxed);
                            if now != seen {
                                seen = now;
                                continue;
                            }
                            health.open();
                            // The round trip may still get through (a resumed server).
                            break answers.recv().unwrap_or(false);
                        }
                        Err(RecvTimeoutError::Disconnected) => return,
                    }
                };
                if answered {
                    health.close();
                } else {
                    health.open();
                    drop(health);
                    std::thread::sleep(PROBE_INTERVAL);
                }
            }
        })?;
    Ok(())
}

/// One `SELECT 1` on the prober's own connection, kept between probes so a probe costs
/// one round trip (a new connection with TLS to a distant server could take longer than
/// [`PROBE_TIMEOUT`] by itself); opened again when it fails.
fn round_trip(url: &str, kept: &mut Option<PgConnection>) -> bool {
    if let Some(conn) = kept
        && conn.batch_execute("SELECT 1").is_ok()
    {
        return true;
    }
    *kept = None;
    super::connection::prepare_tls();
    let Ok(mut conn) = PgConnection::establish(url) else {
        return false;
    };
    // Named, so an operator can tell it among the connections in `pg_stat_activity`.
    if conn
        .batch_execute("SET application_name = 'keyward-probe'; SELECT 1")
        .is_err()
    {
        return false;
    }
    *kept = Some(conn);
    true
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    /// A prober whose every round trip takes `delay`, then answers.
    fn slow_prober(delay: Duration) -> Arc<Health> {
        Health::start_with(
            move || {
                std::thread::sleep(delay);
                true
            },
            Arc::new(AtomicU64::new(0)),
            true,
        )
        .expect("the prober starts")
    }

    /// Whether the circuit opened at any time within `window`, looking every 5 ms while
    /// `meanwhile` runs once per look.
    fn opened_within(health: &Health, window: Duration, mut meanwhile: impl FnMut()) -> bool {
        let started = Instant::now();
        while started.elapsed() < window {
            if health.is_down() {
                return true;
            }
            meanwhile();
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }

    #[test]
    fn a_late_probe_leaves_the_circuit_closed_while_calls_are_answered() {
        let health = slow_prober(PROBE_TIMEOUT * 3);
        // Past the warm-up round trip the prober makes when it starts.
        std::thread::sleep(PROBE_TIMEOUT * 3 + Duration::from_millis(100));
        health.suspect();
        assert!(
            !opened_within(&health, PROBE_TIMEOUT * 4, || health.answered()),
            "a database answering the pool's calls was declared out of reach"
        );
    }

    #[test]
    fn a_late_probe_opens_the_circuit_when_nothing_is_answered_and_closes_it_on_its_answer() {
        let health = slow_prober(PROBE_TIMEOUT * 3);
        std::thread::sleep(PROBE_TIMEOUT * 3 + Duration::from_millis(100));
        health.suspect();
        assert!(
            opened_within(&health, PROBE_TIMEOUT * 2, || ()),
            "a silent database was not declared out of reach"
        );
        let closed = Instant::now();
        while health.is_down() {
            assert!(
                closed.elapsed() < PROBE_TIMEOUT * 10,
                "the probe's answer never closed the circuit"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}
