//! In-memory request limits on the verification path: reads of unknown digests per
//! client address, and each key's own per-minute limit.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Database reads of digests no key has, allowed per client address and minute; past
/// them the address's unknown digests are screened in memory (`api::known`).
pub const UNKNOWN_KEY_READS_PER_MINUTE: u32 = 60;
const WINDOW: Duration = Duration::from_secs(60);
/// Windows tracked at most per limiter; old ones are dropped past this.
const MAX_TRACKED: usize = 100_000;

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
/// this minute. Taken before the read, so requests in flight at once cannot overdraw
/// it, and given back when the read finds a key: only unknown digests count.
pub struct UnknownKeyBudget {
    windows: Windows<IpAddr>,
    limit: u32,
}

impl std::fmt::Debug for UnknownKeyBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnknownKeyBudget")
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

impl UnknownKeyBudget {
    /// Allows `limit` reads per address and minute.
    pub fn new(limit: u32) -> Self {
        Self {
            windows: Windows::new(),
            limit,
        }
    }

    /// Takes one read from the address's budget; false when this minute's is spent.
    pub fn take(&self, address: IpAddr) -> bool {
        self.windows.add(&address, Instant::now(), self.limit).0
    }

    /// Gives back a read taken with [`Self::take`] that found a key.
    pub fn give_back(&self, address: IpAddr) {
        self.windows.subtract(&address, Instant::now());
    }
}

/// Each key's own requests-per-minute limit.
pub struct KeyRateLimiter {
    windows: Windows<Arc<str>>,
}

impl std::fmt::Debug for KeyRateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRateLimiter").finish_non_exhaustive()
    }
}

impl Default for KeyRateLimiter {
    fn default() -> Self {
        Self {
            windows: Windows::new(),
        }
    }
}

impl KeyRateLimiter {
    /// Counts a request with the key; `Err(seconds to wait)` past its limit.
    pub fn admit(&self, key_id: &Arc<str>, limit: u32) -> Result<(), u64> {
        let now = Instant::now();
        match self.windows.add(key_id, now, limit) {
            (true, _) => Ok(()),
            (false, ends) => Err(ends.duration_since(now).as_secs().max(1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_spends_its_budget_on_unknown_digests_only() {
        let budget = UnknownKeyBudget::new(3);
        let address: IpAddr = "192.0.2.7".parse().unwrap();
        assert!(budget.take(address));
        budget.give_back(address);
        for _ in 0..3 {
            assert!(budget.take(address), "a read that found a key was given back");
        }
        assert!(!budget.take(address), "spent");
        assert!(
            budget.take("192.0.2.8".parse().unwrap()),
            "other addresses have their own"
        );
    }

    #[test]
    fn a_key_gets_its_limit_per_minute() {
        let limiter = KeyRateLimiter::default();
        let key: Arc<str> = Arc::from("k");
        assert!(limiter.admit(&key, 2).is_ok());
        assert!(limiter.admit(&key, 2).is_ok());
        assert!(limiter.admit(&key, 2).is_err());
    }
}
