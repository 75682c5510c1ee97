//! Which digests belong to a stored key, known in memory, so that a client address past
//! its budget of unknown keys (`api::limits`) is told "no such key" without a database
//! read per made-up key, while each of its real keys, cached or not, still verifies.
//!
//! The attacker cannot tell real digests from made-up ones, so no rule that only limits
//! reads could refuse the made-up keys without sometimes refusing a real one. Knowing
//! every stored digest can: one read of the whole table the first time an address runs
//! out of budget, then reads of only the keys stored since (by `api_keys.seq`), at most
//! one every [`READ_INTERVAL`] for all addresses together. A digest not in the set waits
//! for a read begun after it arrived, so a key stored anywhere (another instance, the
//! CLI) before the request is always found.

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::time::Instant;

use crate::db::{Db, DbError, keys};
use crate::domain::KeyDigest;

/// The least time between two reads of new keys: what bounds the database work of
/// every flood this instance screens, whatever the number of addresses.
pub const READ_INTERVAL: Duration = Duration::from_millis(100);

/// Digests read per statement, so the first read of a large table never holds it all
/// in memory twice.
const PAGE: i64 = 10_000;

/// Every stored digest's fingerprint, read lazily and then kept up to date.
#[derive(Default)]
pub struct KnownDigests {
    /// 8 bytes per key: a made-up digest matches one of `n` keys by chance once in
    /// 2^64 / n, and then only costs the read that a real key would.
    fingerprints: Arc<RwLock<HashSet<u64>>>,
    /// Reads begun so far, so a caller can tell which ones began after it arrived.
    begun: AtomicU64,
    /// Taken by the one caller reading at a time; the others wait here and share its
    /// answer.
    progress: tokio::sync::Mutex<Progress>,
}

#[derive(Default)]
struct Progress {
    /// Every key with a `seq` up to this one is in `fingerprints`.
    seq: i64,
    /// The number of the last read that completed.
    completed: u64,
    /// When the last read began.
    last_began: Option<Instant>,
    /// The number of the last read that failed: callers that began before it would
    /// only fail the same way, so they share its failure rather than each wait their
    /// turn to fail (a queue of seconds while the database is out of reach).
    failed: u64,
}

impl std::fmt::Debug for KnownDigests {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KnownDigests")
            .field("reads_begun", &self.begun.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

fn fingerprint(digest: &str) -> u64 {
    // Digests are HMAC outputs an attacker cannot steer, so a fixed hash is enough.
    let mut hasher = DefaultHasher::new();
    digest.hash(&mut hasher);
    hasher.finish()
}

impl KnownDigests {
    /// False only when no key with this digest was stored before this call began;
    /// waits up to [`READ_INTERVAL`] plus one read for keys stored since the last read.
    pub async fn may_exist(&self, db: &Db, digest: &KeyDigest) -> Result<bool, DbError> {
        let wanted = fingerprint(digest.as_str());
        if self.contains(wanted) {
            return Ok(true);
        }
        // Not behind the one lock every reader takes in turn: under load a crowd
        // handed it on one by one for seconds, each only to fail.
        if db.known_unreachable() {
            return Err(DbError::Unreachable);
        }
        let begun_before = self.begun.load(Ordering::Acquire);
        let mut progress = self.progress.lock().await;
        if progress.completed <= begun_before {
            if progress.failed > begun_before {
                return Err(DbError::Unreachable);
            }
            if let Some(last) = progress.last_began {
                tokio::time::sleep_until(last + READ_INTERVAL).await;
            }
            progress.last_began = Some(Instant::now());
            let number = self.begun.fetch_add(1, Ordering::AcqRel) + 1;
            let (after, fingerprints) = (progress.seq, self.fingerprints.clone());
            let upto = db
                .run(move |conn| -> Result<_, DbError> {
                    let upto = keys::settled_seq(conn)?;
                    let mut after = after;
                    while after < upto {
                        let page = keys::digests_stored_between(conn, after, upto, PAGE)?;
                        let Some((last, _)) = page.last() else {
                            break;
                        };
                        after = *last;
                        fingerprints
                            .write()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .extend(page.iter().map(|(_, digest)| fingerprint(digest)));
                    }
                    Ok(upto)
                })
                .await;
            let upto = match upto {
                Ok(upto) => upto,
                Err(err) => {
                    progress.failed = number;
                    return Err(err);
                }
            };
            progress.seq = upto;
            progress.completed = number;
        }
        drop(progress);
        Ok(self.contains(wanted))
    }

    fn contains(&self, fingerprint: u64) -> bool {
        self.fingerprints
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(&fingerprint)
    }
}
