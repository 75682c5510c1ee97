//! Stopping without dropping requests: on SIGTERM (or Ctrl-C) the server stops accepting
//! connections, answers every request that still arrives on an open connection with
//! `Connection: close`, and exits once those connections are gone or the drain time is
//! up.
//!
//! actix-web's own graceful stop finishes the request in progress on each connection but
//! drops any request queued behind it, so a client on a keep-alive connection loses the
//! request it sent just as the signal came. The drain here runs first, with actix's stop
//! only at its end, when no connection (or only one past the drain time) is left.

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{ServerHandle, ServiceRequest, ServiceResponse};
use actix_web::http::ConnectionType;
use actix_web::middleware::Next;
use actix_web::web::Data;

/// How often the drain looks whether every connection has closed.
const POLL: Duration = Duration::from_millis(20);

/// Long enough for actix's accept thread to act on a pause it has acknowledged (it
/// does so as soon as it is woken); connections that come meanwhile wait in the
/// backlog and are refused with the rest when the socket shuts.
const PAUSE_TAKES: Duration = Duration::from_millis(100);

/// Whether the server is draining, and how many connections it has open.
#[derive(Debug, Clone, Default)]
pub struct Drain {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    draining: AtomicBool,
    connections: AtomicUsize,
}

/// Held in a connection's extensions for as long as the connection is open.
#[derive(Debug)]
pub struct OpenConnection(Arc<Inner>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Drain {
    /// Counts a connection just accepted until the returned guard is dropped with it.
    pub fn open_connection(&self) -> OpenConnection {
        self.inner.connections.fetch_add(1, Ordering::Relaxed);
        OpenConnection(self.inner.clone())
    }

    /// True once a stop signal has come: `/readyz` answers 503 and every answer closes
    /// its connection.
    pub fn is_draining(&self) -> bool {
        self.inner.draining.load(Ordering::Relaxed)
    }

    /// Connections open right now.
    pub fn open_connections(&self) -> usize {
        self.inner.connections.load(Ordering::Relaxed)
    }

    fn start(&self) {
        self.inner.draining.store(true, Ordering::Relaxed);
    }
}

/// Middleware: while draining, each answer tells its client to close the connection, so
/// no client sends another request on a connection that is about to go away.
pub async fn close_when_draining(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let drain = req.app_data::<Data<Drain>>().cloned();
    let mut res = next.call(req).await?;
    if drain.is_some_and(|drain| drain.is_draining()) {
        res.response_mut()
            .head_mut()
            .set_connection_type(ConnectionType::Close);
    }
    Ok(res)
}

/// Waits for SIGTERM or SIGINT, then drains: no new connections (refused at once, so a
/// load balancer moves on), requests on open connections answered with
/// `Connection: close`, until none is open or `within` has passed; then stops the
/// server. A second signal stops it at once.
pub async fn on_stop_signal(server: ServerHandle, drain: Drain, listener: TcpListener, within: Duration) {
    let Ok(mut signals) = StopSignals::new() else {
        tracing::error!("cannot listen for stop signals; stopping the server at once");
        server.stop(false).await;
        return;
    };
    signals.next().await;
    let started = Instant::now();
    drain.start();
    tracing::info!(
        open_connections = drain.open_connections(),
        "stop signal received: draining (no new connections; open ones answered with Connection: close)"
    );
    server.pause().await;
    // actix answers the pause before its accept thread has let go of the socket; shut
    // sooner, that thread's next accept fails and logs two errors.
    tokio::time::sleep(PAUSE_TAKES).await;
    stop_accepting(&listener);
    let finished = tokio::select! {
        () = every_connection_closed(&drain, within) => true,
        () = signals.next() => false,
    };
    if finished && drain.open_connections() == 0 {
        tracing::info!(
            took_ms = started.elapsed().as_millis(),
            "drained: every connection closed"
        );
        server.stop(true).await;
    } else {
        tracing::warn!(
            open_connections = drain.open_connections(),
            "stopping with connections still open"
        );
        server.stop(false).await;
    }
}

/// Shuts the listening socket: connections not yet accepted are refused from now on,
/// where a paused listener would leave them waiting in its backlog until the exit.
fn stop_accepting(listener: &TcpListener) {
    if let Err(err) = rustix::net::shutdown(listener, rustix::net::Shutdown::Read) {
        tracing::warn!(error = %err, "could not close the listening socket; new connections wait until the exit");
    }
}

async fn every_connection_closed(drain: &Drain, within: Duration) {
    let deadline = Instant::now() + within;
    while drain.open_connections() > 0 && Instant::now() < deadline {
        tokio::time::sleep(POLL).await;
    }
}

/// SIGTERM (what systemd and orchestrators send) and SIGINT (Ctrl-C).
struct StopSignals {
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn new() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
        })
    }

    async fn next(&mut self) {
        tokio::select! {
            _ = self.terminate.recv() => {}
            _ = self.interrupt.recv() => {}
        }
    }
}
