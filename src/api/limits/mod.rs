//! Request limits on the verification path and the management API: reads of unknown
//! digests per client address, and each key's (and management token's) own per-minute
//! limit. [`SharedLimits`] counts them for the whole deployment, through Redis
//! (`redis`) or the database (`postgres`), or per instance on SQLite or while the
//! shared store is out of reach.

mod postgres;
mod redis;
mod share;
mod window;

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use self::postgres::PostgresCounter;
use self::redis::RedisCounter;
use self::window::{WINDOW_MS, unix_ms};
use crate::config::RedisUrl;
use crate::db::{Db, DbError};

/// Database reads of digests no key has, allowed per client address and minute; past
/// them the address's unknown digests are screened in memory (`api::known`).
pub const UNKNOWN_KEY_READS_PER_MINUTE: u32 = 60;
const WINDOW: Duration = Duration::from_secs(60);
/// Windows tracked at most per limiter; old ones are dropped past this.
const MAX_TRACKED: usize = 100_000;

/// Where the counts of every instance meet.
enum Store {
    /// Nowhere: each instance counts alone (SQLite runs one).
    Local,
    /// A Redis server.
    Redis(RedisCounter),
    /// The database, synced in the background.
    Postgres(Arc<PostgresCounter>),
}

/// Every limit of one instance, counted with the other instances' when a shared store
/// is configured, and in [`Windows`] of its own otherwise or while that store is out of
/// reach.
pub struct SharedLimits {
    store: Store,
    local: Windows<String>,
}

impl std::fmt::Debug for SharedLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedLimits")
            .field("store", &self.describe())
            .finish_non_exhaustive()
    }
}

impl SharedLimits {
    /// Limits counted by this instance alone.
    pub fn local() -> Arc<Self> {
        Arc::new(Self {
            store: Store::Local,
            local: Windows::new(),
        })
    }

    /// Limits counted in the Redis at `url` (connected on first use).
    pub fn redis(url: &RedisUrl) -> ::redis::RedisResult<Arc<Self>> {
        Ok(Arc::new(Self {
            store: Store::Redis(RedisCounter::new(url)?),
            local: Windows::new(),
        }))
    }

    /// Limits shared through the database `db` (a pool of their own), with the other
    /// instances that use it; [`Self::run`] keeps them in step.
    pub fn postgres(db: Db) -> Result<Arc<Self>, DbError> {
        Ok(Arc::new(Self {
            store: Store::Postgres(Arc::new(PostgresCounter::join(db)?)),
            local: Windows::new(),
        }))
    }

    /// Where the limits are counted, for the start-up log.
    pub fn describe(&self) -> String {
        match &self.store {
            Store::Local => "per instance (SQLite)".to_owned(),
            Store::Redis(redis) => format!("shared through Redis at {}", redis.shown()),
            Store::Postgres(_) => "shared through Postgres".to_owned(),
        }
    }

    /// The background work the store needs until `stop`: the database sync; for
    /// Redis, opening its connection, after which it returns, as it does at once for
    /// the others.
    pub async fn run(self: Arc<Self>, stop: Arc<tokio::sync::Notify>) {
        match &self.store {
            Store::Postgres(counter) => postgres::run(counter.clone(), stop).await,
            Store::Redis(redis) => redis.open_early(),
            Store::Local => {}
        }
    }

    /// Adds one hit to `scope` unless its window holds `limit`; where it was counted,
    /// or `Err(seconds to wait)` past it.
    async fn take(&self, scope: &str, limit: u32) -> Result<Taken, u64> {
        let now = unix_ms();
        let window = now - now.rem_euclid(WINDOW_MS);
        // Until the shared window ends; at least a second, as Retry-After counts whole
        // seconds.
        let refused = || {
            Err(u64::try_from((window + WINDOW_MS - now + 999) / 1000).map_or(60, |seconds| seconds.max(1)))
        };
        let shared = match &self.store {
            Store::Local => None,
            Store::Redis(redis) => redis.take(scope, window, limit).await,
            Store::Postgres(counter) if counter.out_of_reach() => None,
            Store::Postgres(counter) => counter.take(scope, window, limit, now),
        };
        match shared {
            Some(true) => Ok(Taken { window, shared: true }),
            Some(false) => refused(),
            None => {
                let now = Instant::now();
                match self.local.add(&scope.to_owned(), now, limit) {
                    (true, _) => Ok(Taken {
                        window,
                        shared: false,
                    }),
                    (false, ends) => Err(ends.duration_since(now).as_secs().max(1)),
                }
            }
        }
    }

    /// Takes back the hit `taken` from where [`Self::take`] counted it: the shared
    /// window it named, or this instance's own count. Asked again at give-back time, the
    /// store or the minute may have changed since (Redis back, the minute turned), and
    /// the hit would come off a count that never had it.
    async fn give_back(&self, scope: &str, taken: Taken) {
        match &self.store {
            Store::Redis(redis) if taken.shared => redis.give_back(scope, taken.window).await,
            Store::Postgres(counter) if taken.shared => counter.give_back(scope, taken.window),
            _ => self.local.subtract(&scope.to_owned(), Instant::now()),
        }
    }
}

/// Where a hit was counted: the shared window that starts at `window`, or (`shared`
/// false) this instance's own count.
#[derive(Debug, Clone, Copy)]
pub struct Taken {
    window: i64,
    shared: bool,
}

/// Fixed one-minute windows of counts per key.
struct Windows<K> {
    counts: Mutex<HashMap<K, (Instant, u32)>>,
}

impl<K: Hash + Eq + Clone> Windows<K> {
    fn new() -> Self {
        Self {
            counts: Mutex::new(HashMap::new()),
        }
    }

    /// Adds one to `key`'s window unless it holds `limit` already; returns whether it
    /// did, and when the window ends.
    fn add(&self, key: &K, now: Instant, limit: u32) -> (bool, Instant) {
        let mut counts = self
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if counts.len() >= MAX_TRACKED {
            counts.retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
        }
        let window = counts.entry(key.clone()).or_insert((now, 0));
        if now.duration_since(window.0) >= WINDOW {
            *window = (now, 0);
        }
        let added = window.1 < limit;
        if added {
            window.1 += 1;
        }
        (added, window.0 + WINDOW)
    }

    /// Takes one back from `key`'s current window, if it still has it.
    fn subtract(&self, key: &K, now: Instant) {
        let mut counts = self
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(window) = counts.get_mut(key)
            && now.duration_since(window.0) < WINDOW
        {
            window.1 = window.1.saturating_sub(1);
        }
    }
}

/// How many digests no key has each client address may have looked up in the database
/// this minute, for the whole deployment. Taken before the read, so requests in flight
/// at once cannot overdraw it, and given back when the read finds a key: only unknown
/// digests count.
pub struct UnknownKeyBudget {
    limits: Arc<SharedLimits>,
    /// What the scopes begin with, so two budgets on one store count apart.
    kind: &'static str,
    limit: u32,
}

impl std::fmt::Debug for UnknownKeyBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnknownKeyBudget")
            .field("kind", &self.kind)
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

impl UnknownKeyBudget {
    /// Allows `limit` reads per address and minute, counted in `limits` under `kind`.
    pub fn new(limits: Arc<SharedLimits>, kind: &'static str, limit: u32) -> Self {
        Self { limits, kind, limit }
    }

    fn scope(&self, address: IpAddr) -> String {
        format!("{}:{}", self.kind, address.to_canonical())
    }

    /// Takes one read from the address's budget; `None` when this minute's is spent.
    pub async fn take(&self, address: IpAddr) -> Option<Taken> {
        self.limits.take(&self.scope(address), self.limit).await.ok()
    }

    /// Gives back a read `taken` with [`Self::take`] that found a key.
    pub async fn give_back(&self, address: IpAddr, taken: Taken) {
        self.limits.give_back(&self.scope(address), taken).await;
    }
}

/// Each key's (or management token's) own requests-per-minute limit, for the whole
/// deployment.
pub struct KeyRateLimiter {
    limits: Arc<SharedLimits>,
    /// What the scopes begin with: `key` or `token`.
    kind: &'static str,
}

impl std::fmt::Debug for KeyRateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRateLimiter")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl KeyRateLimiter {
    /// Counts in `limits` under `kind`.
    pub fn new(limits: Arc<SharedLimits>, kind: &'static str) -> Self {
        Self { limits, kind }
    }

    /// Counts a request with the key; `Err(seconds to wait)` past its limit.
    pub async fn admit(&self, key_id: &str, limit: u32) -> Result<(), u64> {
        self.limits
            .take(&format!("{}:{key_id}", self.kind), limit)
            .await
            .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_address_spends_its_budget_on_unknown_digests_only() {
        let budget = UnknownKeyBudget::new(SharedLimits::local(), "address", 3);
        let address: IpAddr = "192.0.2.7".parse().unwrap();
        let taken = budget.take(address).await.expect("within the budget");
        budget.give_back(address, taken).await;
        for _ in 0..3 {
            assert!(
                budget.take(address).await.is_some(),
                "a read that found a key was given back"
            );
        }
        assert!(budget.take(address).await.is_none(), "spent");
        assert!(
            budget.take("192.0.2.8".parse().unwrap()).await.is_some(),
            "other addresses have their own"
        );
    }

    #[tokio::test]
    async fn a_key_gets_its_limit_per_minute() {
        let limits = SharedLimits::local();
        let limiter = KeyRateLimiter::new(limits.clone(), "key");
        assert!(limiter.admit("k", 2).await.is_ok());
        assert!(limiter.admit("k", 2).await.is_ok());
        assert!(limiter.admit("k", 2).await.is_err());
        let tokens = KeyRateLimiter::new(limits, "token");
        assert!(
            tokens.admit("k", 2).await.is_ok(),
            "a token of the same ID counts apart"
        );
    }
}
