//! Verified key states kept in memory, so a verification that hits costs no database
//! work. Entries live one second by default, which bounds how long a change made by
//! another process takes to be seen; changes made by this process clear the cache as
//! soon as they commit.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use time::PrimitiveDateTime;

use crate::db::keys::VerificationRow;
use crate::domain::{Environment, IpAllowlist, KeyDigest, KeyFacts, MerchantId, Scopes};

/// How long an entry is trusted unless configured otherwise.
pub const DEFAULT_TTL: Duration = Duration::from_secs(1);
/// The share of the lifetime after which the next request reads the entry anew.
const REFRESH_AT: f32 = 0.8;
/// Entries kept at most; beyond that the cache starts over rather than grow.
const MAX_ENTRIES: usize = 200_000;

/// What verification needs to know about a key.
#[derive(Debug)]
pub struct CachedKey {
    /// Version ID.
    pub id: Arc<str>,
    /// Display name.
    pub name: String,
    /// Owning merchant.
    pub merchant_id: MerchantId,
    /// Granted scopes.
    pub scopes: Scopes,
    /// Version number.
    pub version: i32,
    /// State, expiry and grace.
    pub facts: KeyFacts,
    /// Requests per minute allowed, if limited.
    pub rate_limit_per_minute: Option<u32>,
    /// Live or test.
    pub environment: Environment,
    /// The addresses the key may be used from; empty for any.
    pub allowed_ips: IpAllowlist,
}

impl CachedKey {
    /// Reads what verification needs from a stored row.
    pub fn from_row(row: VerificationRow) -> Self {
        Self {
            facts: KeyFacts {
                status: row.status,
                expires_at: row.expires_at,
                grace_ends_at: row.grace_ends_at,
                lifetime_days: row.lifetime_days.and_then(|days| u32::try_from(days).ok()),
            },
            scopes: row.scopes,
            id: Arc::from(row.id.as_str()),
            name: row.name,
            merchant_id: row.merchant_id,
            version: row.version,
            rate_limit_per_minute: row
                .rate_limit_per_minute
                .and_then(|limit| u32::try_from(limit).ok()),
            environment: row.environment,
            allowed_ips: row.allowed_ips,
        }
    }

    /// When the key stops working, if ever.
    pub fn expires_at(&self) -> Option<PrimitiveDateTime> {
        self.facts.expires_at
    }
}

struct Entry {
    key: Option<Arc<CachedKey>>,
    fetched_at: Instant,
    /// Set when one request took on reading the entry anew before it expires.
    refreshing: AtomicBool,
}

/// The answer of a cache lookup.
pub enum Lookup {
    /// Known: the key, or `None` for a digest no key has.
    Hit(Option<Arc<CachedKey>>),
    /// Not known: read the database, then [`KeyCache::put`] with this generation.
    Miss(u64),
    /// Known but soon to expire, and this caller is the one to read it anew (then
    /// [`KeyCache::put`]); every other caller keeps hitting meanwhile, so a busy key
    /// never expires under all its requests at once.
    Refresh(u64),
}

/// How long a watched cache is trusted after the change listener last proved it would
/// hear a change: past it, every lookup reads the database until the listener is back.
const WATCH_SILENCE: Duration = Duration::from_secs(1);

/// Verified key states by digest.
pub struct KeyCache {
    entries: RwLock<HashMap<KeyDigest, Entry>>,
    generation: AtomicU64,
    ttl: Duration,
    /// Set once a change listener watches this cache (several instances on Postgres).
    watched: AtomicBool,
    /// When the listener last proved its connection alive, in milliseconds since `born`
    /// (a new cache counts as just heard: it holds nothing stale yet).
    heard_at_ms: AtomicU64,
    born: Instant,
}

impl Default for KeyCache {
    fn default() -> Self {
        Self::new(DEFAULT_TTL)
    }
}

impl std::fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyCache").finish_non_exhaustive()
    }
}

impl KeyCache {
    /// A cache whose entries live `ttl`; zero turns caching off.
    pub fn new(ttl: Duration) -> Self {
        Self {
            entries: RwLock::new(HashMap::new()),
            generation: AtomicU64::new(0),
            ttl,
            watched: AtomicBool::new(false),
            heard_at_ms: AtomicU64::new(0),
            born: Instant::now(),
        }
    }

    /// From now on, trust entries only while the change listener keeps proving itself
    /// alive ([`crate::db::changes::OnChange::alive`]): other instances' changes reach
    /// this cache through it alone.
    pub fn watch(&self) {
        self.watched.store(true, Ordering::Release);
    }

    /// False while a watching listener has been silent too long: its connection may be
    /// gone without a word, and changes with it.
    fn trusted(&self) -> bool {
        if !self.watched.load(Ordering::Acquire) {
            return true;
        }
        let heard = Duration::from_millis(self.heard_at_ms.load(Ordering::Acquire));
        self.born.elapsed().saturating_sub(heard) < WATCH_SILENCE
    }

    /// Looks a digest up.
    pub fn get(&self, digest: &KeyDigest) -> Lookup {
        let generation = self.generation.load(Ordering::Acquire);
        if !self.trusted() {
            return Lookup::Miss(generation);
        }
        let entries = self
            .entries
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(entry) = entries.get(digest) else {
            return Lookup::Miss(generation);
        };
        let age = entry.fetched_at.elapsed();
        if age >= self.ttl {
            Lookup::Miss(generation)
        } else if age >= self.ttl.mul_f32(REFRESH_AT) && !entry.refreshing.swap(true, Ordering::AcqRel) {
            Lookup::Refresh(generation)
        } else {
            Lookup::Hit(entry.key.clone())
        }
    }

    /// Remembers what the database said, unless a change cleared the cache since the
    /// read began (the read may then predate the change).
    pub fn put(&self, digest: KeyDigest, key: Option<Arc<CachedKey>>, generation: u64, read_at: Instant) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self
            .entries
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if self.generation.load(Ordering::Acquire) != generation || !self.trusted() {
            return;
        }
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(
            digest,
            Entry {
                key,
                fetched_at: read_at,
                refreshing: AtomicBool::new(false),
            },
        );
    }

    /// Forgets everything: call it after a key change commits.
    pub fn clear(&self) {
        let mut entries = self
            .entries
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.clear();
    }
}

impl crate::db::changes::OnChange for KeyCache {
    /// Starts over, as a change made here does: a notification does not say which
    /// digests it touches (a new key's may be cached as unknown), and a cleared cache
    /// refills with one read per key.
    fn changed(&self) {
        self.clear();
    }

    fn alive(&self) {
        let now = u64::try_from(self.born.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.heard_at_ms.store(now, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A digest for the tests, told apart by its last character.
    fn digest(last: &str) -> KeyDigest {
        KeyDigest::try_from(format!("{last:0>64}")).unwrap()
    }

    #[test]
    fn a_watched_cache_is_trusted_only_while_its_listener_is_heard() {
        use crate::db::changes::OnChange;
        let cache = KeyCache::new(Duration::from_secs(60));
        cache.watch();
        cache.put(digest("d"), None, 0, Instant::now());
        assert!(matches!(cache.get(&digest("d")), Lookup::Hit(None)));
        std::thread::sleep(WATCH_SILENCE + Duration::from_millis(50));
        assert!(
            matches!(cache.get(&digest("d")), Lookup::Miss(_)),
            "silent too long"
        );
        cache.put(digest("e"), None, 0, Instant::now());
        cache.alive();
        assert!(
            matches!(cache.get(&digest("e")), Lookup::Miss(_)),
            "nothing is kept while silent"
        );
        assert!(
            matches!(cache.get(&digest("d")), Lookup::Hit(None)),
            "heard again"
        );
    }

    #[test]
    fn one_caller_refreshes_an_entry_near_its_end_while_the_others_hit() {
        let cache = KeyCache::new(Duration::from_millis(100));
        cache.put(digest("d"), None, 0, Instant::now());
        assert!(matches!(cache.get(&digest("d")), Lookup::Hit(None)));
        std::thread::sleep(Duration::from_millis(85));
        assert!(matches!(cache.get(&digest("d")), Lookup::Refresh(0)));
        assert!(
            matches!(cache.get(&digest("d")), Lookup::Hit(None)),
            "only one refresh at a time"
        );
        std::thread::sleep(Duration::from_millis(20));
        assert!(
            matches!(cache.get(&digest("d")), Lookup::Miss(0)),
            "expired all the same"
        );
    }

    #[test]
    fn a_zero_lifetime_caches_nothing() {
        let cache = KeyCache::new(Duration::ZERO);
        cache.put(digest("d"), None, 0, Instant::now());
        assert!(matches!(cache.get(&digest("d")), Lookup::Miss(_)));
    }

    #[test]
    fn a_read_that_began_before_a_clear_is_not_cached() {
        let cache = KeyCache::default();
        let Lookup::Miss(generation) = cache.get(&digest("d")) else {
            panic!("empty cache hit")
        };
        cache.clear();
        cache.put(digest("d"), None, generation, Instant::now());
        assert!(matches!(cache.get(&digest("d")), Lookup::Miss(_)));
        let Lookup::Miss(generation) = cache.get(&digest("d")) else {
            panic!()
        };
        cache.put(digest("d"), None, generation, Instant::now());
        assert!(matches!(cache.get(&digest("d")), Lookup::Hit(None)));
    }
}
