//! Key usage counted in memory on the request path and written in batches: last
//! accepted request, last refused attempt, and successful and failed verifications per
//! key and hour, and the request log ([`requests`]). Never a write per request.

pub mod requests;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration as StdDuration, Instant};

use time::PrimitiveDateTime;

use self::requests::RequestLog;
use crate::db::key_requests;
use crate::db::usage::{self, LastRefusal, LastUse, UsageDelta};
use crate::db::{Db, DbError, write_transaction};
use crate::telemetry::Metrics;

/// How often the flusher writes what was counted.
pub const FLUSH_INTERVAL: StdDuration = StdDuration::from_secs(1);

/// A use of a key: when, and from which client address.
type Use = (PrimitiveDateTime, Option<IpAddr>);
/// A refused attempt with a key: when, and the error code it was answered with.
type Refused = (PrimitiveDateTime, &'static str);

/// How a verification of a known key ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The request was let through: it moves the key's Last Used.
    Accepted,
    /// The request was refused with this API error code (`key_disabled`…): it counts as
    /// failed and is the key's last refused attempt, but Last Used stays where it was.
    Refused(&'static str),
}

#[derive(Default)]
struct Pending {
    hours: HashMap<(Arc<str>, PrimitiveDateTime), (i64, i64)>,
    /// The latest accepted use of each key.
    last: HashMap<Arc<str>, Use>,
    /// The latest refused attempt with each key.
    last_refused: HashMap<Arc<str>, Refused>,
    /// The earliest successful use of each key, for its "first used" event.
    first_ok: HashMap<Arc<str>, Use>,
    /// The User-Agent of each key's latest accepted use, beside `last`.
    agents: HashMap<Arc<str>, (PrimitiveDateTime, String)>,
}

/// Keeps the later of two events in `slot` (`later`) or the earlier one.
fn keep<T: Copy>(
    slot: &mut HashMap<Arc<str>, (PrimitiveDateTime, T)>,
    key: Arc<str>,
    found: (PrimitiveDateTime, T),
    later: bool,
) {
    let kept = slot.entry(key).or_insert(found);
    if (later && found.0 >= kept.0) || (!later && found.0 < kept.0) {
        *kept = found;
    }
}

/// Locks the counters are spread over, so concurrent verifications of different keys
/// rarely wait for each other.
const SHARDS: usize = 16;

/// When the oldest count not yet flushed was made, for the flush lag: one atomic read
/// per verification while something already waits.
struct OldestPending {
    born: Instant,
    /// Microseconds after `born`, plus one; zero while nothing waits.
    since: AtomicU64,
}

impl OldestPending {
    fn new() -> Self {
        Self {
            born: Instant::now(),
            since: AtomicU64::new(0),
        }
    }

    fn mark(&self) {
        if self.since.load(Ordering::Relaxed) == 0 {
            let now = u64::try_from(self.born.elapsed().as_micros()).unwrap_or(u64::MAX - 1) + 1;
            // Whoever marks first is the oldest; a later mark finds it set.
            let _ = self
                .since
                .compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed);
        }
    }

    fn take(&self) -> Option<Instant> {
        match self.since.swap(0, Ordering::Relaxed) {
            0 => None,
            since => Some(self.born + StdDuration::from_micros(since - 1)),
        }
    }

    fn restore(&self, oldest: Option<Instant>) {
        let Some(oldest) = oldest else {
            return;
        };
        let since = u64::try_from(oldest.duration_since(self.born).as_micros()).unwrap_or(u64::MAX - 1) + 1;
        let _ = self
            .since
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |current| {
                Some(if current == 0 { since } else { current.min(since) })
            });
    }
}

/// What one flush wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flushed {
    /// Rows written: hourly counters and request log rows.
    pub rows: usize,
    /// How long the oldest count among them waited in memory.
    pub lag: StdDuration,
}

/// Counts verifications in memory until the next flush.
pub struct UsageRecorder {
    shards: [Mutex<Pending>; SHARDS],
    oldest: OldestPending,
    /// The request log's rows, written by the same flush.
    pub requests: RequestLog,
}

impl Default for UsageRecorder {
    fn default() -> Self {
        Self::new(true)
    }
}

impl std::fmt::Debug for UsageRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UsageRecorder").finish_non_exhaustive()
    }
}

/// The start of the hour `at` falls in.
pub fn hour_of(at: PrimitiveDateTime) -> PrimitiveDateTime {
    at.replace_time(time::Time::from_hms(at.hour(), 0, 0).expect("an hour of a valid time is valid"))
}

/// The start of the first of the 24 hours that end with the hour holding `now`: what
/// a key's page and the management API read usage from.
pub fn day_start(now: PrimitiveDateTime) -> PrimitiveDateTime {
    hour_of(now - time::Duration::hours(23))
}

/// Counts per hour start, as (hour, successful, failed), laid out as the 24 hours that
/// end with the hour holding `now`, oldest first; an hour with nothing counted is zeros.
pub fn last_day(
    now: PrimitiveDateTime,
    hours: &[(PrimitiveDateTime, i64, i64)],
) -> Vec<(PrimitiveDateTime, i64, i64)> {
    let last_hour = hour_of(now);
    (0..24)
        .map(|i| {
            let hour = last_hour - time::Duration::hours(23 - i);
            let (ok, failed) = hours
                .iter()
                .filter(|(at, _, _)| *at == hour)
                .fold((0, 0), |(ok, failed), (_, o, f)| (ok + o, failed + f));
            (hour, ok, failed)
        })
        .collect()
}

impl UsageRecorder {
    /// A recorder whose request log keeps requests, or (`log_requests` false) keeps none.
    pub fn new(log_requests: bool) -> Self {
        Self {
            shards: std::array::from_fn(|_| Mutex::new(Pending::default())),
            oldest: OldestPending::new(),
            requests: RequestLog::new(log_requests),
        }
    }

    fn shard(&self, key_id: &str) -> &Mutex<Pending> {
        use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
        let hash = BuildHasherDefault::<DefaultHasher>::default().hash_one(key_id);
        &self.shards[(hash as usize) % SHARDS]
    }

    fn lock<'a>(shard: &'a Mutex<Pending>) -> std::sync::MutexGuard<'a, Pending> {
        shard.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Counts one verification of a known key, accepted or refused, from `from` with
    /// the User-Agent `agent` (empty when none was sent).
    pub fn record(
        &self,
        key_id: &Arc<str>,
        outcome: Outcome,
        at: PrimitiveDateTime,
        from: Option<IpAddr>,
        agent: &str,
    ) {
        self.oldest.mark();
        let mut pending = Self::lock(self.shard(key_id));
        let counts = pending.hours.entry((key_id.clone(), hour_of(at))).or_default();
        match outcome {
            Outcome::Accepted => {
                counts.0 += 1;
                keep(&mut pending.last, key_id.clone(), (at, from), true);
                keep(&mut pending.first_ok, key_id.clone(), (at, from), false);
                let agent = requests::shorten(agent, requests::AGENT_CHARS);
                // Compared before copied: a busy key's agent rarely changes.
                match pending.agents.get_mut(key_id) {
                    Some((kept_at, kept)) if at >= *kept_at => {
                        *kept_at = at;
                        if kept != agent {
                            agent.clone_into(kept);
                        }
                    }
                    Some(_) => {}
                    None => {
                        pending.agents.insert(key_id.clone(), (at, agent.to_owned()));
                    }
                }
            }
            Outcome::Refused(code) => {
                counts.1 += 1;
                keep(&mut pending.last_refused, key_id.clone(), (at, code), true);
            }
        }
    }

    fn take(&self) -> Pending {
        let mut all = Pending::default();
        for shard in &self.shards {
            let taken = std::mem::take(&mut *Self::lock(shard));
            all.hours.extend(taken.hours);
            all.last.extend(taken.last);
            all.last_refused.extend(taken.last_refused);
            all.first_ok.extend(taken.first_ok);
            all.agents.extend(taken.agents);
        }
        all
    }

    /// Puts back counts a failed flush could not write, so the next flush retries them.
    fn restore(&self, failed: Pending) {
        for ((key, hour), (ok, bad)) in failed.hours {
            let mut pending = Self::lock(self.shard(&key));
            let counts = pending.hours.entry((key, hour)).or_default();
            counts.0 += ok;
            counts.1 += bad;
        }
        for (key, found) in failed.last {
            let mut pending = Self::lock(self.shard(&key));
            keep(&mut pending.last, key, found, true);
        }
        for (key, found) in failed.last_refused {
            let mut pending = Self::lock(self.shard(&key));
            keep(&mut pending.last_refused, key, found, true);
        }
        for (key, found) in failed.first_ok {
            let mut pending = Self::lock(self.shard(&key));
            keep(&mut pending.first_ok, key, found, false);
        }
        for (key, (at, agent)) in failed.agents {
            let mut pending = Self::lock(self.shard(&key));
            let kept = pending.agents.entry(key).or_insert((at, agent.clone()));
            if at >= kept.0 {
                *kept = (at, agent);
            }
        }
    }

    /// Writes everything counted so far in one transaction: one upsert for the
    /// counters, one update each for last use and last refused attempt, a "first
    /// used" event for keys whose first successful use is not recorded yet, and the
    /// request log's rows (those for a merchant that does not exist dropped). On failure
    /// the counts and rows are kept for the next try. `None` when there was nothing to
    /// write.
    pub async fn flush(&self, db: &Db) -> Result<Option<Flushed>, DbError> {
        // Taken before the counts: a count made meanwhile marks the next flush's oldest.
        let oldest = self.oldest.take();
        let pending = self.take();
        let logged = self.requests.take();
        if pending.hours.is_empty()
            && pending.last.is_empty()
            && pending.last_refused.is_empty()
            && logged.is_empty()
        {
            return Ok(None);
        }
        let rows = logged.rows();
        let row_count = rows.len() + pending.hours.len();
        let mut deltas: Vec<UsageDelta> = pending
            .hours
            .iter()
            .map(|((key_id, hour), (succeeded, failed))| UsageDelta {
                key_id: key_id.to_string(),
                hour: *hour,
                succeeded: *succeeded,
                failed: *failed,
            })
            .collect();
        let uses_of = |uses: &HashMap<Arc<str>, Use>| -> Vec<LastUse> {
            let mut uses: Vec<LastUse> = uses
                .iter()
                .map(|(key_id, (at, from))| LastUse {
                    key_id: key_id.to_string(),
                    at: *at,
                    from: from.map(|address| address.to_string()),
                    agent: pending
                        .agents
                        .get(key_id)
                        .map(|(_, agent)| agent.clone())
                        .filter(|agent| !agent.is_empty()),
                })
                .collect();
            // One order everywhere, so instances flushing at once lock rows alike and
            // never deadlock each other.
            uses.sort_by(|a, b| a.key_id.cmp(&b.key_id));
            uses
        };
        let (uses, firsts) = (uses_of(&pending.last), uses_of(&pending.first_ok));
        let mut refusals: Vec<LastRefusal> = pending
            .last_refused
            .iter()
            .map(|(key_id, (at, code))| LastRefusal {
                key_id: key_id.to_string(),
                at: *at,
                code: (*code).to_owned(),
            })
            .collect();
        refusals.sort_by(|a, b| a.key_id.cmp(&b.key_id));
        deltas.sort_by(|a, b| (&a.key_id, a.hour).cmp(&(&b.key_id, b.hour)));
        let written = db
            .run(move |conn| {
                write_transaction(conn, |conn| -> Result<(), DbError> {
                    usage::add(conn, &deltas)?;
                    usage::record_last_use(conn, &uses)?;
                    usage::record_last_refusals(conn, &refusals)?;
                    usage::record_first_uses(conn, &firsts)?;
                    write_log_or_drop(conn, rows)
                })
            })
            .await;
        if written.is_err() {
            self.restore(pending);
            self.requests.restore(logged);
            self.oldest.restore(oldest);
        }
        written.map(|()| {
            Some(Flushed {
                rows: row_count,
                lag: oldest.map_or(StdDuration::ZERO, |oldest| oldest.elapsed()),
            })
        })
    }
}

/// Writes the request log's rows in a savepoint of the flush. Rows the database refuses
/// for what they hold are dropped, with a warning, rather than failing the flush: kept
/// for a retry, they would hold back the usage counters and every later batch, on every
/// key of every merchant, for as long as the instance runs. A lost connection still fails
/// the flush, which then retries everything.
fn write_log_or_drop(
    conn: &mut crate::db::DbConnection,
    rows: Vec<key_requests::LogRow>,
) -> Result<(), DbError> {
    let count = rows.len();
    match write_transaction(conn, |conn| write_log(conn, rows)) {
        Err(err) if !err.is_transient() => {
            tracing::warn!(
                rows = count,
                error = %crate::error::cause_chain(&err),
                "the database refused a batch of request log rows; they were dropped"
            );
            Ok(())
        }
        written => written,
    }
}

/// Writes the request log's rows, dropping those of a key that matched none for a
/// merchant that does not exist (one query per batch of merchants named).
fn write_log(conn: &mut crate::db::DbConnection, mut rows: Vec<key_requests::LogRow>) -> Result<(), DbError> {
    let mut named: Vec<&str> = rows
        .iter()
        .filter(|row| row.key_id.is_none())
        .map(|row| row.merchant_id.as_str())
        .collect();
    if !named.is_empty() {
        named.sort_unstable();
        named.dedup();
        let existing = key_requests::existing_merchants(conn, &named)?;
        rows.retain(|row| row.key_id.is_some() || existing.contains(&row.merchant_id));
    }
    key_requests::write(conn, &rows)
}

/// Flushes every [`FLUSH_INTERVAL`] until `stop` fires, then once more, so nothing
/// counted before the stop is lost. A flush under way always completes. Each flush's
/// size and lag, and each failure, are counted in `metrics`.
pub async fn run_flusher(
    recorder: Arc<UsageRecorder>,
    db: Db,
    stop: Arc<tokio::sync::Notify>,
    metrics: Metrics,
) {
    let mut interval = tokio::time::interval(FLUSH_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let stopping = tokio::select! {
            _ = interval.tick() => false,
            () = stop.notified() => true,
        };
        match recorder.flush(&db).await {
            Ok(Some(flushed)) => metrics.usage_flushed(flushed.rows, flushed.lag),
            Ok(None) => {}
            Err(err) => {
                metrics.usage_flush_failed();
                let level = if stopping {
                    "the last usage flush failed"
                } else {
                    "flushing key usage failed; will retry"
                };
                tracing::warn!(error = %crate::error::cause_chain(&err), "{level}");
            }
        }
        if stopping {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn counts_add_up_per_key_and_hour_and_the_latest_use_wins() {
        let recorder = UsageRecorder::default();
        let key: Arc<str> = Arc::from("k1");
        let ip = |last: u8| Some(IpAddr::from([10, 0, 0, last]));
        recorder.record(&key, Outcome::Accepted, datetime!(2026-11-03 14:05), ip(1), "");
        recorder.record(
            &key,
            Outcome::Refused("key_disabled"),
            datetime!(2026-11-03 14:59),
            ip(2),
            "",
        );
        recorder.record(&key, Outcome::Accepted, datetime!(2026-11-03 15:00), ip(3), "");
        recorder.record(&key, Outcome::Accepted, datetime!(2026-11-03 14:10), ip(4), "");
        let pending = recorder.take();
        assert_eq!(pending.hours[&(key.clone(), datetime!(2026-11-03 14:00))], (2, 1));
        assert_eq!(pending.hours[&(key.clone(), datetime!(2026-11-03 15:00))], (1, 0));
        assert_eq!(pending.last[&key], (datetime!(2026-11-03 15:00), ip(3)));
        assert!(recorder.take().hours.is_empty(), "taken once");
    }

    #[test]
    fn a_refused_attempt_never_moves_the_last_use() {
        let recorder = UsageRecorder::default();
        let key: Arc<str> = Arc::from("k1");
        recorder.record(&key, Outcome::Accepted, datetime!(2026-11-03 14:05), None, "");
        recorder.record(
            &key,
            Outcome::Refused("key_revoked"),
            datetime!(2026-11-03 14:30),
            None,
            "",
        );
        recorder.record(
            &key,
            Outcome::Refused("key_disabled"),
            datetime!(2026-11-03 14:20),
            None,
            "",
        );
        let pending = recorder.take();
        assert_eq!(pending.last[&key].0, datetime!(2026-11-03 14:05));
        assert_eq!(
            pending.last_refused[&key],
            (datetime!(2026-11-03 14:30), "key_revoked")
        );

        let refused_only: Arc<str> = Arc::from("k2");
        recorder.record(
            &refused_only,
            Outcome::Refused("invalid_key"),
            datetime!(2026-11-03 14:40),
            None,
            "",
        );
        let pending = recorder.take();
        assert!(!pending.last.contains_key(&refused_only), "never used");
        assert!(!pending.first_ok.contains_key(&refused_only));
        assert_eq!(
            pending.hours[&(refused_only, datetime!(2026-11-03 14:00))],
            (0, 1)
        );
    }

    #[test]
    fn the_flush_lag_starts_at_the_oldest_count_waiting() {
        let recorder = UsageRecorder::default();
        let key: Arc<str> = Arc::from("k1");
        assert_eq!(recorder.oldest.take(), None, "nothing waits");
        let before = Instant::now();
        recorder.record(&key, Outcome::Accepted, datetime!(2026-11-03 14:05), None, "");
        std::thread::sleep(StdDuration::from_millis(20));
        let after_first = Instant::now();
        recorder.record(&key, Outcome::Accepted, datetime!(2026-11-03 14:06), None, "");
        let oldest = recorder.oldest.take().expect("counts wait");
        // Kept to the microsecond, so up to one before `before`.
        let tick = StdDuration::from_micros(1);
        assert!(
            oldest + tick >= before && oldest <= after_first,
            "the first count's time"
        );
        assert_eq!(recorder.oldest.take(), None, "taken once");
        recorder.record(&key, Outcome::Accepted, datetime!(2026-11-03 14:07), None, "");
        recorder.oldest.restore(Some(oldest));
        let restored = recorder.oldest.take().expect("counts wait");
        assert!(
            restored.duration_since(oldest) < StdDuration::from_millis(1),
            "a failed flush's oldest count is older than the new one"
        );
    }

    #[test]
    fn restored_counts_are_merged_with_new_ones() {
        let recorder = UsageRecorder::default();
        let key: Arc<str> = Arc::from("k1");
        recorder.record(&key, Outcome::Accepted, datetime!(2026-11-03 14:05), None, "");
        recorder.record(
            &key,
            Outcome::Refused("key_disabled"),
            datetime!(2026-11-03 14:07),
            None,
            "",
        );
        let failed = recorder.take();
        recorder.record(
            &key,
            Outcome::Refused("key_revoked"),
            datetime!(2026-11-03 14:06),
            None,
            "",
        );
        recorder.restore(failed);
        let pending = recorder.take();
        assert_eq!(pending.hours[&(key.clone(), datetime!(2026-11-03 14:00))], (1, 2));
        assert_eq!(
            pending.last_refused[&key],
            (datetime!(2026-11-03 14:07), "key_disabled")
        );
    }
}
