//! Limits counted in Redis: one counter per scope and one-minute window, taken with a
//! script (increment, expiry, refusal past the limit) in one round trip of at most
//! [`TIMEOUT`]. The connection is opened, and the scripts loaded, in the background
//! (at start, and by the probe after an outage), never on a request's path: a start-up
//! round trip or three would not fit in a request's wait on a busy machine. When Redis
//! does not answer, the circuit opens: one warning, the caller's local limits until a
//! background probe finds Redis again, one line then.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Script};

use crate::config::RedisUrl;

/// The longest a request waits for Redis before it counts locally instead: a round
/// trip takes well under a millisecond, but on a busy machine the wait for a core
/// alone can pass 50 ms, and a late answer opens the circuit for a second.
pub const TIMEOUT: Duration = Duration::from_millis(100);
/// How long opening a connection and loading the scripts on it may take.
const OPEN_TIMEOUT: Duration = Duration::from_secs(1);
/// How often the probe tries an unreachable Redis again.
const PROBE_EVERY: Duration = Duration::from_secs(1);
/// What the probe writes to when Redis failed before any counter was asked for (at
/// start): a counter no request uses.
const START_COUNTER: &str = "keyward:limits:start";
/// A window's counter outlives its minute by one, so a clock a little behind still
/// finds it.
const EXPIRE_MS: i64 = 120_000;

/// Adds one unless the window holds the limit already; 1 when added.
const TAKE: &str = r"
local hits = redis.call('INCR', KEYS[1])
if hits == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if hits > tonumber(ARGV[1]) then
  redis.call('DECR', KEYS[1])
  return 0
end
return 1
";

/// Writes to a counter without changing it (a new one is made at zero, with the
/// usual expiry): the probe's test that Redis takes writes to this very key.
const TOUCH: &str = r"
local hits = redis.call('INCRBY', KEYS[1], 0)
if hits == 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return hits
";

/// Takes one back, never below zero.
const GIVE_BACK: &str = r"
local hits = tonumber(redis.call('GET', KEYS[1]) or '0')
if hits > 0 then redis.call('DECR', KEYS[1]) end
return 0
";

/// A Redis server's counters, and whether it answers.
pub struct RedisCounter {
    inner: Arc<Inner>,
}

struct Inner {
    client: redis::Client,
    /// The URL without its password, for the log.
    shown: String,
    connection: RwLock<Option<MultiplexedConnection>>,
    /// True while a background task opens the connection, so a burst opens one.
    opening: AtomicBool,
    /// The circuit: open while Redis is out of reach and the probe runs.
    down: AtomicBool,
    take: Script,
    give_back: Script,
    touch: Script,
}

impl RedisCounter {
    /// A counter for `url`; connects on first use, so a Redis that is down at start
    /// is the same case as one that goes down later.
    pub fn new(url: &RedisUrl) -> redis::RedisResult<Self> {
        Ok(Self {
            inner: Arc::new(Inner {
                client: redis::Client::open(url.expose())?,
                shown: url.to_string(),
                connection: RwLock::new(None),
                opening: AtomicBool::new(false),
                down: AtomicBool::new(false),
                take: Script::new(TAKE),
                give_back: Script::new(GIVE_BACK),
                touch: Script::new(TOUCH),
            }),
        })
    }

    /// The URL without its password.
    pub fn shown(&self) -> &str {
        &self.inner.shown
    }

    /// Adds one hit to `scope`'s window unless it holds `limit`; whether it did, or
    /// `None` when Redis is out of reach (the caller then counts locally).
    pub async fn take(&self, scope: &str, window: i64, limit: u32) -> Option<bool> {
        let counter = counter_key(scope, window);
        self.call(
            |script: &Inner| &script.take,
            &counter,
            &[i64::from(limit), EXPIRE_MS],
        )
        .await
        .map(|added| added == 1)
    }

    /// Takes back one hit of `scope`'s window.
    pub async fn give_back(&self, scope: &str, window: i64) {
        let counter = counter_key(scope, window);
        self.call(|script: &Inner| &script.give_back, &counter, &[]).await;
    }

    /// Starts opening the connection, so the first requests find it open.
    pub fn open_early(&self) {
        open_in_background(&self.inner, START_COUNTER);
    }

    async fn call(&self, script: fn(&Inner) -> &Script, counter: &str, args: &[i64]) -> Option<i64> {
        if self.inner.down.load(Ordering::Acquire) {
            return None;
        }
        let Some(mut connection) = self.inner.current() else {
            // Opening takes longer than a request may wait: this one counts locally.
            open_in_background(&self.inner, counter);
            return None;
        };
        let mut invocation = script(&self.inner).key(counter);
        for arg in args {
            invocation.arg(*arg);
        }
        let answer = tokio::time::timeout(TIMEOUT, invocation.invoke_async::<i64>(&mut connection)).await;
        match answer {
            Ok(Ok(value)) => Some(value),
            Ok(Err(err)) => {
                trip(&self.inner, &err.to_string(), counter);
                None
            }
            Err(_) => {
                trip(&self.inner, "no answer within 100 ms", counter);
                None
            }
        }
    }
}

/// Opens the connection on a task of its own unless one is opening it already; a
/// failure opens the circuit, and the probe then writes to `counter`.
fn open_in_background(inner: &Arc<Inner>, counter: &str) {
    if inner.opening.swap(true, Ordering::AcqRel) {
        return;
    }
    let (inner, counter) = (inner.clone(), counter.to_owned());
    tokio::spawn(async move {
        match tokio::time::timeout(OPEN_TIMEOUT, inner.open()).await {
            Ok(Ok(connection)) => {
                inner.keep(connection);
                tracing::debug!(redis = %inner.shown, "Redis connection open");
            }
            Ok(Err(err)) => trip(&inner, &err.to_string(), &counter),
            Err(_) => trip(&inner, "no connection within 1 s", &counter),
        }
        inner.opening.store(false, Ordering::Release);
    });
}

/// Opens the circuit: the first caller to see Redis fail (on `counter`) logs it and
/// starts the probe; the others only count locally.
fn trip(inner: &Arc<Inner>, why: &str, counter: &str) {
    *inner
        .connection
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    if !inner.down.swap(true, Ordering::AcqRel) {
        tracing::warn!(
            redis = %inner.shown,
            error = why,
            "Redis is out of reach: rate limits are counted per instance until it answers again"
        );
        tokio::spawn(probe(Arc::downgrade(inner), counter.to_owned()));
    }
}

fn counter_key(scope: &str, window: i64) -> String {
    format!("keyward:limits:{scope}:{window}")
}

impl Inner {
    fn current(&self) -> Option<MultiplexedConnection> {
        self.connection
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn keep(&self, connection: MultiplexedConnection) {
        *self
            .connection
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(connection);
    }

    /// A new connection with every script loaded, so each take is one round trip (a
    /// script Redis does not know yet costs two more).
    async fn open(&self) -> redis::RedisResult<MultiplexedConnection> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(OPEN_TIMEOUT))
            .set_response_timeout(Some(OPEN_TIMEOUT));
        let mut connection = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        for script in [&self.take, &self.give_back, &self.touch] {
            script.load_async(&mut connection).await?;
        }
        Ok(connection)
    }
}

/// Tries Redis every [`PROBE_EVERY`] until it takes a write to `counter`, the counter
/// whose take failed, without changing it; then closes the circuit; stops with the
/// server. A PING would not do, nor a write to a key of the probe's own: a Redis that
/// answers it but refuses or holds writes (a read-only replica, `CLIENT PAUSE …
/// WRITE`), or refuses only some keys (an ACL, a Cluster node that owns another slot),
/// would close the circuit only for the next request to open it again.
async fn probe(inner: Weak<Inner>, counter: String) {
    loop {
        tokio::time::sleep(PROBE_EVERY).await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        let answered = tokio::time::timeout(PROBE_EVERY, async {
            let mut connection = inner.open().await?;
            inner
                .touch
                .key(&counter)
                .arg(EXPIRE_MS)
                .invoke_async::<i64>(&mut connection)
                .await
                .map(|_| connection)
        })
        .await;
        if let Ok(Ok(connection)) = answered {
            inner.keep(connection);
            inner.down.store(false, Ordering::Release);
            tracing::info!(redis = %inner.shown, "Redis answers again: rate limits are shared through it");
            return;
        }
    }
}
