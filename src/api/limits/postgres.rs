//! Limits shared through the database with no write on the request path: each instance
//! admits from an allowance held in memory and, every [`SYNC_EVERY`], adds what it
//! admitted to the shared window (one upsert returning the totals), then takes as its
//! new allowance its share of what is left, split between the instances whose
//! heartbeat is fresh.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::share::share;
use super::window::{WINDOW_MS, unix_ms};
use crate::db::rate_limits::{self, Hits, Total};
use crate::db::{Db, DbError};

/// How often an instance adds its counts and reads the totals back.
pub const SYNC_EVERY: Duration = Duration::from_millis(200);
/// An instance whose heartbeat is older than this no longer gets a share.
const ALIVE_FOR_MS: i64 = 2_000;
/// Which instances get the one-more of a split turns once per slot of this length.
const TURN_MS: i64 = 1_000;
/// A scope idle since this many syncs is read again anyway, so its allowance follows
/// what the others spent.
const REREAD_AFTER: u64 = 5;
/// Scopes shared per window at most: every one is sent at least once per
/// [`REREAD_AFTER`] syncs, so a flood of made-up keys from ever new addresses must not
/// turn into ever larger upserts on the primary. Past it, scopes count per instance.
const MAX_SCOPES: usize = 10_000;
/// Old windows and forgotten instances are deleted once per this many syncs.
const PRUNE_EVERY: u64 = 300;

/// What this instance knows of one scope's current window.
#[derive(Debug, Clone, Copy)]
struct Entry {
    window: i64,
    limit: u32,
    /// Every instance's hits, as of the last sync.
    total: u32,
    /// Hits admitted here since the last sync's counts were taken.
    pending: u32,
    /// Hits this instance may still admit before its next sync.
    allowance: u32,
    /// The sync that last read this scope.
    read_at: u64,
}

#[derive(Debug, Clone, Copy)]
struct Peers {
    rank: u32,
    count: u32,
}

/// This instance's side of the shared counts.
pub struct PostgresCounter {
    db: Db,
    instance: String,
    entries: Mutex<HashMap<String, Entry>>,
    peers: Mutex<Peers>,
    syncs: Mutex<u64>,
    /// Set while syncs fail: the caller then counts per instance.
    out_of_reach: AtomicBool,
    /// The window in which [`MAX_SCOPES`] was last reported, to warn once a minute.
    full_warned: AtomicI64,
    /// What every scope had spent of the window this instance joined in, read at the
    /// join: a restarted instance starts from it, not from a whole new share each time.
    spent_at_join: Mutex<(i64, HashMap<String, u32>)>,
}

fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn turn(now: i64) -> u64 {
    u64::try_from(now / TURN_MS).unwrap_or_default()
}

fn clamp(hits: i64) -> u32 {
    u32::try_from(hits.max(0)).unwrap_or(u32::MAX)
}

impl PostgresCounter {
    /// Joins the instances on `db` (its own pool, so a sync never waits behind
    /// requests' reads, nor they behind it): a first heartbeat, read at once, so the
    /// first requests are split with the instances already running.
    pub fn join(db: Db) -> Result<Self, DbError> {
        let instance = uuid::Uuid::new_v4().to_string();
        let now = unix_ms();
        let window = now - now.rem_euclid(WINDOW_MS);
        let (alive, spent) = {
            let mut conn = db.get()?;
            let alive = rate_limits::heartbeat(&mut conn, &instance, now, now - ALIVE_FOR_MS)?;
            (alive, rate_limits::totals_of(&mut conn, window)?)
        };
        let spent = spent
            .into_iter()
            .map(|total| (total.scope, clamp(total.hits)))
            .collect();
        let counter = Self {
            spent_at_join: Mutex::new((window, spent)),
            db,
            instance,
            entries: Mutex::new(HashMap::new()),
            peers: Mutex::new(Peers { rank: 0, count: 1 }),
            syncs: Mutex::new(0),
            out_of_reach: AtomicBool::new(false),
            full_warned: AtomicI64::new(i64::MIN),
        };
        counter.set_peers(&alive);
        Ok(counter)
    }

    fn set_peers(&self, alive: &[String]) {
        let count = u32::try_from(alive.len()).unwrap_or(u32::MAX);
        let peers = match alive.iter().position(|id| *id == self.instance) {
            Some(rank) => Peers {
                rank: u32::try_from(rank).unwrap_or(u32::MAX),
                count,
            },
            None => Peers {
                rank: count,
                count: count.saturating_add(1),
            },
        };
        *locked(&self.peers) = peers;
    }

    /// Whether the last sync failed, so the caller counts per instance.
    pub fn out_of_reach(&self) -> bool {
        self.out_of_reach.load(Ordering::Acquire)
    }

    /// Admits one hit in `scope`'s `window` if this instance's allowance has one left;
    /// `None` when this window already tracks [`MAX_SCOPES`] others, so the caller
    /// counts it per instance.
    pub fn take(&self, scope: &str, window: i64, limit: u32, now: i64) -> Option<bool> {
        let peers = *locked(&self.peers);
        let mut entries = locked(&self.entries);
        if entries.len() >= MAX_SCOPES && !entries.contains_key(scope) {
            if self.full_warned.swap(window, Ordering::AcqRel) != window {
                tracing::warn!(
                    "more than {MAX_SCOPES} rate-limited keys and addresses this minute: the others are counted per instance until the next minute"
                );
            }
            return None;
        }
        let entry = entries.entry(scope.to_owned()).or_insert(Entry {
            window: i64::MIN,
            limit,
            total: 0,
            pending: 0,
            allowance: 0,
            read_at: 0,
        });
        if entry.window != window {
            // A window this instance has not read yet: its share of the whole limit,
            // as if nobody had spent any (the tolerance the README states), unless it
            // joined in this window and read what was spent then. The turn is the
            // window's, so every instance's first shares add up to the limit.
            let spent = {
                let mut joined = locked(&self.spent_at_join);
                if joined.0 == window {
                    joined.1.remove(scope)
                } else {
                    joined.1.clear();
                    None
                }
            }
            .unwrap_or(0);
            *entry = Entry {
                window,
                limit,
                total: spent,
                pending: 0,
                allowance: share(limit.saturating_sub(spent), peers.count, peers.rank, turn(window)),
                read_at: 0,
            };
        } else if entry.limit != limit {
            entry.limit = limit;
            entry.allowance = share(
                limit.saturating_sub(entry.total),
                peers.count,
                peers.rank,
                turn(now),
            )
            .saturating_sub(entry.pending);
        }
        if entry.allowance == 0 {
            return Some(false);
        }
        entry.allowance -= 1;
        entry.pending += 1;
        Some(true)
    }

    /// Takes back a hit admitted in `window` by [`Self::take`].
    pub fn give_back(&self, scope: &str, window: i64) {
        let mut entries = locked(&self.entries);
        if let Some(entry) = entries.get_mut(scope)
            && entry.window == window
            && entry.pending > 0
        {
            entry.pending -= 1;
            entry.allowance += 1;
        }
    }

    /// Adds this instance's hits to the shared windows and takes new allowances; on a
    /// failure the hits are kept for the next sync.
    pub async fn sync(&self) -> Result<(), DbError> {
        let now = unix_ms();
        let window = now - now.rem_euclid(WINDOW_MS);
        let sync = {
            let mut syncs = locked(&self.syncs);
            *syncs += 1;
            *syncs
        };
        let hits = self.take_hits(window, sync);
        let instance = self.instance.clone();
        let sent = hits.clone();
        let answer = self
            .db
            .run(move |conn| -> Result<_, DbError> {
                // One transaction: a sync that fails has added nothing, so putting its
                // hits back for the next one never counts them twice.
                let synced = crate::db::write_transaction(conn, |conn| -> Result<_, DbError> {
                    let alive = rate_limits::heartbeat(conn, &instance, now, now - ALIVE_FOR_MS)?;
                    let totals = if sent.is_empty() {
                        Vec::new()
                    } else {
                        rate_limits::add(conn, &sent)?
                    };
                    Ok((alive, totals))
                })?;
                // Housekeeping, not part of the sync: a failure waits for the next turn.
                if sync % PRUNE_EVERY == 0
                    && let Err(err) = rate_limits::prune(conn, window - WINDOW_MS, now - 3_600_000)
                {
                    tracing::debug!(error = %crate::error::cause_chain(&err), "could not prune the shared rate limits");
                }
                Ok(synced)
            })
            .await;
        match answer {
            Ok((alive, totals)) => {
                self.set_peers(&alive);
                self.apply(&totals, sync, now);
                Ok(())
            }
            Err(err) => {
                self.put_back(&hits);
                Err(err)
            }
        }
    }

    /// The hits to send: every scope of this window that admitted some since the last
    /// sync, wants more, or was not read for a while. Older windows are forgotten.
    fn take_hits(&self, window: i64, sync: u64) -> Vec<Hits> {
        let mut entries = locked(&self.entries);
        entries.retain(|_, entry| entry.window == window);
        entries
            .iter_mut()
            .filter(|(_, entry)| {
                entry.pending > 0
                    || (entry.allowance == 0 && entry.total < entry.limit)
                    || sync.saturating_sub(entry.read_at) >= REREAD_AFTER
            })
            .map(|(scope, entry)| {
                let added = entry.pending;
                entry.pending = 0;
                Hits {
                    scope: scope.clone(),
                    window_start: window,
                    added: i64::from(added),
                }
            })
            .collect()
    }

    fn put_back(&self, hits: &[Hits]) {
        let mut entries = locked(&self.entries);
        for sent in hits {
            if let Some(entry) = entries.get_mut(&sent.scope)
                && entry.window == sent.window_start
            {
                entry.pending += clamp(sent.added);
            }
        }
    }

    /// Each scope's new allowance: its share of what the limit leaves, less what was
    /// admitted here while the sync was under way (that came out of the old one).
    fn apply(&self, totals: &[Total], sync: u64, now: i64) {
        let peers = *locked(&self.peers);
        let mut entries = locked(&self.entries);
        for total in totals {
            if let Some(entry) = entries.get_mut(&total.scope)
                && entry.window == total.window_start
            {
                entry.total = clamp(total.hits);
                entry.read_at = sync;
                entry.allowance = share(
                    entry.limit.saturating_sub(entry.total),
                    peers.count,
                    peers.rank,
                    turn(now),
                )
                .saturating_sub(entry.pending);
            }
        }
    }

    /// Leaves the shared store when the server stops, so the others take this
    /// instance's share at their next sync rather than after its heartbeat ages.
    pub async fn leave(&self) -> Result<(), DbError> {
        let instance = self.instance.clone();
        self.db.run(move |conn| rate_limits::leave(conn, &instance)).await
    }
}

/// Syncs every [`SYNC_EVERY`] until `stop` is notified, then leaves.
pub async fn run(counter: Arc<PostgresCounter>, stop: Arc<tokio::sync::Notify>) {
    let mut interval = tokio::time::interval(SYNC_EVERY);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            () = stop.notified() => break,
        }
        let synced = counter.sync().await;
        let was_out = counter.out_of_reach.swap(synced.is_err(), Ordering::AcqRel);
        match synced {
            Ok(()) if was_out => {
                tracing::info!("the database answers again: rate limits are shared through it");
            }
            Err(err) if !was_out => {
                tracing::warn!(
                    error = %crate::error::cause_chain(&err),
                    "the database is out of reach: rate limits are counted per instance until it answers again"
                );
            }
            _ => {}
        }
    }
    // What was admitted since the last sync counts for the others too.
    if let Err(err) = counter.sync().await {
        tracing::debug!(error = %crate::error::cause_chain(&err), "could not add the last rate-limit counts");
    }
    if let Err(err) = counter.leave().await {
        tracing::debug!(error = %crate::error::cause_chain(&err), "could not leave the shared rate limits");
    }
}
