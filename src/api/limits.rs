//! In-memory request limits on the verification path: failed verifications per client
//! address (checked before any hashing) and each key's own per-minute limit.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// Failed verifications allowed per client address and minute.
pub const FAILURES_PER_MINUTE: u32 = 60;
const WINDOW: Duration = Duration::from_secs(60);
/// Windows tracked at most per limiter; old ones are dropped past this.
const MAX_TRACKED: usize = 100_000;

/// Fixed one-minute windows of counts per key.
struct Windows<K> {
    // Read far more often than written (every verification checks its address; only
    // failures count), hence a read-write lock.
    counts: RwLock<HashMap<K, (Instant, u32)>>,
}

impl<K: Hash + Eq + Clone> Windows<K> {
    fn new() -> Self {
        Self {
            counts: RwLock::new(HashMap::new()),
        }
    }

    /// The count in `key`'s current window, and when that window ends.
    fn current(&self, key: &K, now: Instant) -> (u32, Instant) {
        let counts = self
            .counts
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match counts.get(key) {
            Some((start, count)) if now.duration_since(*start) < WINDOW => (*count, *start + WINDOW),
            _ => (0, now + WINDOW),
        }
    }

    /// Adds one to `key`'s window; returns the new count and when the window ends.
    fn add(&self, key: &K, now: Instant) -> (u32, Instant) {
        let mut counts = self
            .counts
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if counts.len() >= MAX_TRACKED {
            counts.retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
        }
        let window = counts.entry(key.clone()).or_insert((now, 0));
        if now.duration_since(window.0) >= WINDOW {
            *window = (now, 0);
        }
        window.1 += 1;
        (window.1, window.0 + WINDOW)
    }
}

/// Refuses a client address that has failed verification too often this minute.
pub struct FailureThrottle {
    windows: Windows<IpAddr>,
    limit: u32,
}

impl std::fmt::Debug for FailureThrottle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FailureThrottle")
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

impl FailureThrottle {
    /// Allows `limit` failures per address and minute.
    pub fn new(limit: u32) -> Self {
        Self {
            windows: Windows::new(),
            limit,
        }
    }

    /// `Some(seconds to wait)` when the address is over its limit.
    pub fn blocked(&self, address: IpAddr) -> Option<u64> {
        let now = Instant::now();
        let (count, ends) = self.windows.current(&address, now);
        (count >= self.limit).then(|| ends.duration_since(now).as_secs().max(1))
    }

    /// Counts a failed verification from the address.
    pub fn note_failure(&self, address: IpAddr) {
        self.windows.add(&address, Instant::now());
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
        let (count, ends) = self.windows.add(key_id, now);
        if count > limit {
            Err(ends.duration_since(now).as_secs().max(1))
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_blocked_after_its_limit_of_failures() {
        let throttle = FailureThrottle::new(3);
        let address: IpAddr = "192.0.2.7".parse().unwrap();
        for _ in 0..3 {
            assert_eq!(throttle.blocked(address), None);
            throttle.note_failure(address);
        }
        let wait = throttle.blocked(address).expect("blocked");
        assert!((1..=60).contains(&wait));
        assert_eq!(
            throttle.blocked("192.0.2.8".parse().unwrap()),
            None,
            "other addresses are not"
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
