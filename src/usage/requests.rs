//! The request log in memory: what each verification was, gathered on the request path
//! and handed to the usage flush as rows. Accepted requests are counted per key, client
//! address and minute; refused ones are kept one by one under their request ID up to
//! [`KEPT_PER_MINUTE`] per key (or merchant, for a key that matched none), address and
//! minute, and counted past it, so a flood costs a bounded number of rows.

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use time::PrimitiveDateTime;

use crate::db::key_requests::{Bucket, LogRow};
use crate::domain::ApiKey;

/// Refused requests kept one by one per key (or merchant), client address and minute
/// on each instance: enough to read a burst of refusals request by request, few enough
/// that a flood writes at most this many rows a minute per key and address, plus one
/// counted row per outcome.
pub const KEPT_PER_MINUTE: u32 = 60;
/// Client addresses a minute whose requests with keys that match none a merchant's log
/// takes on each instance. Anyone may name a merchant in `X-Merchant-Id`; past this many
/// addresses (an IPv6 /64 holds billions) the rest are not kept for that merchant, so a
/// flood cannot bury its real refusals.
pub const UNKNOWN_ADDRESSES_PER_MINUTE: u32 = 20;

/// Slots (key or merchant, address, minute) with refusals per shard this minute past
/// which a request with a key that matched none, from a new slot, is not logged: made-up
/// merchant IDs and addresses cannot grow memory without bound, and never crowd out the
/// refusals of stored keys, which are always logged.
const PENDING_SLOTS: usize = 4_096;

/// The longest User-Agent kept, in characters.
pub const AGENT_CHARS: usize = 200;
/// The longest path kept, in characters.
pub const PATH_CHARS: usize = 300;
/// Characters of a refusal's detail kept: a whole allowlist of 100 IPv6 ranges fits.
const DETAIL_CHARS: usize = 5_000;

const SHARDS: usize = 16;

/// What the request showed besides its key.
#[derive(Debug, Clone, Copy)]
pub struct Seen<'a> {
    /// The client address verification used.
    pub client: IpAddr,
    /// The ID its answer carries in `X-Request-Id`.
    pub request_id: &'a str,
    /// The User-Agent, as sent.
    pub user_agent: &'a str,
    /// The method (for forward-auth, the gateway's).
    pub method: &'a str,
    /// The path, shortened and with keys masked (for forward-auth, the gateway's).
    pub path: &'a str,
}

/// Whose request it was.
#[derive(Debug, Clone, Copy)]
pub enum Subject<'a> {
    /// A stored key.
    Key {
        /// The key version.
        key_id: &'a Arc<str>,
        /// Its merchant.
        merchant_id: &'a str,
    },
    /// A key that matched none (or was malformed), for the merchant the request named.
    Unknown {
        /// The merchant named by `X-Merchant-Id` (kept at flush only if it exists).
        merchant_id: &'a str,
        /// The key as presented, masked, or empty.
        presented: &'a str,
    },
}

/// The first `chars` characters of `text`.
pub fn shorten(text: &str, chars: usize) -> &str {
    // No longer in bytes than allowed in characters: nothing to count (the usual case,
    // on every request).
    if text.len() <= chars {
        return text;
    }
    match text.char_indices().nth(chars) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

/// `text` as the request log may keep it: control characters (a NUL Postgres refuses, an
/// escape sequence a terminal would obey) as spaces, every key in it masked, at most
/// `chars` characters. Borrowed, with nothing copied, when there is nothing to change:
/// the usual case, on every request.
pub fn loggable(text: &str, chars: usize) -> Cow<'_, str> {
    if !text.contains("kw_") && !text.chars().any(char::is_control) {
        return Cow::Borrowed(shorten(text, chars));
    }
    let plain: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    Cow::Owned(shorten(&ApiKey::mask_in(&plain), chars).to_owned())
}

/// Sets `slot` to `value`, reusing its allocation, unless it holds it already.
fn set(slot: &mut String, value: &str) {
    if slot != value {
        slot.clear();
        slot.push_str(value);
    }
}

/// A counted row, grown request by request.
#[derive(Debug, Clone)]
struct Counted {
    merchant_id: Arc<str>,
    presented: String,
    first_at: PrimitiveDateTime,
    last_at: PrimitiveDateTime,
    user_agent: String,
    method: String,
    path: String,
    detail: String,
    count: i64,
}

impl Counted {
    fn new(
        merchant_id: Arc<str>,
        presented: &str,
        at: PrimitiveDateTime,
        seen: &Seen<'_>,
        detail: Option<String>,
    ) -> Self {
        Self {
            merchant_id,
            presented: presented.to_owned(),
            first_at: at,
            last_at: at,
            user_agent: shorten(seen.user_agent, AGENT_CHARS).to_owned(),
            method: seen.method.to_owned(),
            path: seen.path.to_owned(),
            detail: detail.unwrap_or_default(),
            count: 0,
        }
    }

    fn add(&mut self, presented: &str, at: PrimitiveDateTime, seen: &Seen<'_>) {
        self.count += 1;
        self.first_at = self.first_at.min(at);
        if at >= self.last_at {
            self.last_at = at;
            set(&mut self.presented, presented);
            set(&mut self.user_agent, shorten(seen.user_agent, AGENT_CHARS));
            set(&mut self.method, seen.method);
            set(&mut self.path, seen.path);
        }
    }

    fn merge(&mut self, other: Counted) {
        self.count += other.count;
        self.first_at = self.first_at.min(other.first_at);
        if other.last_at >= self.last_at {
            self.last_at = other.last_at;
            self.presented = other.presented;
            self.user_agent = other.user_agent;
            self.method = other.method;
            self.path = other.path;
        }
    }
}

/// Whose bucket: a key's, or (for keys that matched none) a merchant's.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Owner {
    Key(Arc<str>),
    Merchant(Arc<str>),
}

impl Owner {
    fn name(&self) -> &str {
        match self {
            Owner::Key(id) | Owner::Merchant(id) => id,
        }
    }
}

type Slot = (Owner, PrimitiveDateTime, IpAddr);

/// A refused request kept on its own.
#[derive(Debug, Clone)]
struct Single {
    outcome: &'static str,
    request_id: String,
    counted: Counted,
}

#[derive(Debug, Default)]
pub(super) struct Pending {
    /// Accepted requests per key, minute and address.
    accepted: HashMap<(Arc<str>, PrimitiveDateTime, IpAddr), Counted>,
    /// Refusals kept one by one, per key or merchant, minute and address.
    kept: HashMap<Slot, Vec<Single>>,
    /// Refusals past the cap, per slot and outcome.
    over: HashMap<(Slot, &'static str), Counted>,
}

#[derive(Debug, Default)]
struct Shard {
    pending: Pending,
    /// Refusals kept one by one per slot this minute, across flushes: the cap holds
    /// for the minute, not for each flush.
    kept_this_minute: HashMap<Slot, u32>,
    /// Addresses whose unknown keys a merchant's log took this minute, per merchant.
    unknown_addresses: HashMap<(Arc<str>, PrimitiveDateTime), u32>,
}

/// The request log's pending rows, spread over locks like the usage counters.
pub struct RequestLog {
    enabled: bool,
    shards: [Mutex<Shard>; SHARDS],
}

impl std::fmt::Debug for RequestLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestLog")
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

/// The start of the minute `at` falls in.
pub fn minute_of(at: PrimitiveDateTime) -> PrimitiveDateTime {
    at.replace_time(
        time::Time::from_hms(at.hour(), at.minute(), 0).expect("a minute of a valid time is valid"),
    )
}

impl RequestLog {
    /// A log that keeps requests, or (`enabled` false) one that keeps nothing.
    pub fn new(enabled: bool) -> Self {
        Self {
            enabled,
            shards: std::array::from_fn(|_| Mutex::new(Shard::default())),
        }
    }

    /// Whether requests are kept.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    fn shard(&self, owner: &str) -> MutexGuard<'_, Shard> {
        use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
        let hash = BuildHasherDefault::<DefaultHasher>::default().hash_one(owner);
        self.shards[(hash as usize) % SHARDS]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps an accepted request with a known key, made at `at`.
    pub fn accepted(&self, key_id: &Arc<str>, merchant_id: &str, at: PrimitiveDateTime, seen: &Seen<'_>) {
        if !self.enabled {
            return;
        }
        let mut shard = self.shard(key_id);
        shard
            .pending
            .accepted
            .entry((key_id.clone(), minute_of(at), seen.client))
            .or_insert_with(|| Counted::new(merchant_id.into(), "", at, seen, None))
            .add("", at, seen);
    }

    /// Keeps a refused request made at `at`, answered with `outcome` (an API error
    /// code): on its own under its request ID while its slot is under the cap, else
    /// counted.
    pub fn refused(
        &self,
        subject: Subject<'_>,
        outcome: &'static str,
        detail: Option<String>,
        at: PrimitiveDateTime,
        seen: &Seen<'_>,
    ) {
        if !self.enabled {
            return;
        }
        // A scope asked for is the caller's own text: kept printable, like everything else.
        let detail = detail.map(|detail| loggable(&detail, DETAIL_CHARS).into_owned());
        let (owner, merchant_id, presented) = match subject {
            Subject::Key { key_id, merchant_id } => (Owner::Key(key_id.clone()), merchant_id, ""),
            Subject::Unknown {
                merchant_id,
                presented,
            } => (Owner::Merchant(merchant_id.into()), merchant_id, presented),
        };
        let mut shard = self.shard(owner.name());
        let slot: Slot = (owner, minute_of(at), seen.client);
        if matches!(slot.0, Owner::Merchant(_))
            && shard.kept_this_minute.len() >= PENDING_SLOTS
            && !shard.kept_this_minute.contains_key(&slot)
        {
            return;
        }
        if let Owner::Merchant(merchant) = &slot.0
            && !shard.kept_this_minute.contains_key(&slot)
        {
            let addresses = shard
                .unknown_addresses
                .entry((merchant.clone(), slot.1))
                .or_insert(0);
            if *addresses >= UNKNOWN_ADDRESSES_PER_MINUTE {
                return;
            }
            *addresses += 1;
        }
        let kept = shard.kept_this_minute.entry(slot.clone()).or_insert(0);
        let merchant: Arc<str> = merchant_id.into();
        // Without an ID (verification outside the server) a refusal can only be counted.
        if *kept < KEPT_PER_MINUTE && !seen.request_id.is_empty() {
            *kept += 1;
            let mut counted = Counted::new(merchant, presented, at, seen, detail);
            counted.count = 1;
            shard.pending.kept.entry(slot).or_default().push(Single {
                outcome,
                request_id: seen.request_id.to_owned(),
                counted,
            });
        } else {
            shard
                .pending
                .over
                .entry((slot, outcome))
                .or_insert_with(|| Counted::new(merchant, presented, at, seen, detail))
                .add(presented, at, seen);
        }
    }

    /// Takes every pending row, leaving the log empty, and forgets the caps of minutes
    /// that have passed.
    pub(super) fn take(&self) -> Pending {
        let mut all = Pending::default();
        if !self.enabled {
            return all;
        }
        for shard in &self.shards {
            let mut shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
            let taken = std::mem::take(&mut shard.pending);
            if let Some(latest) = shard.kept_this_minute.keys().map(|slot| slot.1).max() {
                shard.kept_this_minute.retain(|slot, _| slot.1 >= latest);
                shard.unknown_addresses.retain(|(_, minute), _| *minute >= latest);
            }
            all.accepted.extend(taken.accepted);
            all.kept.extend(taken.kept);
            all.over.extend(taken.over);
        }
        all
    }

    /// Puts back what a failed flush could not write, so the next flush retries it.
    pub(super) fn restore(&self, failed: Pending) {
        for (slot, counted) in failed.accepted {
            let mut shard = self.shard(&slot.0);
            merge_into(&mut shard.pending.accepted, slot, counted);
        }
        for (slot, singles) in failed.kept {
            let mut shard = self.shard(slot.0.name());
            shard.pending.kept.entry(slot).or_default().extend(singles);
        }
        for (bucket, counted) in failed.over {
            let mut shard = self.shard(bucket.0.0.name());
            merge_into(&mut shard.pending.over, bucket, counted);
        }
    }
}

impl Pending {
    /// Whether nothing is pending.
    pub(super) fn is_empty(&self) -> bool {
        self.accepted.is_empty() && self.kept.is_empty() && self.over.is_empty()
    }

    /// The rows to write: one per counted bucket and one per request kept on its own.
    pub(super) fn rows(&self) -> Vec<LogRow> {
        let mut rows = Vec::with_capacity(self.accepted.len() + self.over.len());
        for ((key_id, minute, client), counted) in &self.accepted {
            rows.push(row(
                &Owner::Key(key_id.clone()),
                *minute,
                *client,
                "accepted",
                "",
                counted,
            ));
        }
        for ((owner, minute, client), singles) in &self.kept {
            for single in singles {
                rows.push(row(
                    owner,
                    *minute,
                    *client,
                    single.outcome,
                    &single.request_id,
                    &single.counted,
                ));
            }
        }
        for (((owner, minute, client), outcome), counted) in &self.over {
            rows.push(row(owner, *minute, *client, outcome, "", counted));
        }
        rows
    }
}

fn merge_into<K: std::hash::Hash + Eq>(map: &mut HashMap<K, Counted>, key: K, counted: Counted) {
    match map.entry(key) {
        std::collections::hash_map::Entry::Occupied(mut held) => held.get_mut().merge(counted),
        std::collections::hash_map::Entry::Vacant(free) => {
            free.insert(counted);
        }
    }
}

fn row(
    owner: &Owner,
    minute: PrimitiveDateTime,
    client: IpAddr,
    outcome: &str,
    request_id: &str,
    counted: &Counted,
) -> LogRow {
    let (key_id, bucket) = match owner {
        Owner::Key(key_id) => (Some(key_id.to_string()), Bucket::Key),
        Owner::Merchant(_) => (None, Bucket::Unknown),
    };
    LogRow {
        bucket: if request_id.is_empty() {
            bucket
        } else {
            Bucket::Single
        },
        merchant_id: counted.merchant_id.to_string(),
        key_id,
        presented_key: counted.presented.clone(),
        minute,
        first_at: counted.first_at,
        last_at: counted.last_at,
        outcome: outcome.to_owned(),
        request_id: request_id.to_owned(),
        client_address: client.to_string(),
        user_agent: counted.user_agent.clone(),
        method: counted.method.clone(),
        path: counted.path.clone(),
        detail: counted.detail.clone(),
        count: counted.count,
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    fn seen(request_id: &str) -> Seen<'_> {
        Seen {
            client: IpAddr::from([203, 0, 113, 9]),
            request_id,
            user_agent: "worker/1",
            method: "GET",
            path: "/api/v1/whoami",
        }
    }

    #[test]
    fn shortening_counts_characters_not_bytes() {
        assert_eq!(shorten("abc", 5), "abc");
        assert_eq!(shorten("abcdef", 3), "abc");
        assert_eq!(shorten("héllo wörld", 7), "héllo w");
        assert_eq!(shorten("ééé", 2), "éé");
    }

    #[test]
    fn what_is_kept_is_printable_and_never_a_key() {
        let key = ApiKey::generate_in(crate::domain::Environment::Test);
        assert!(matches!(loggable("curl/8.5.0", 200), Cow::Borrowed("curl/8.5.0")));
        let agent = format!("sdk {}", key.expose());
        assert_eq!(loggable(&agent, 200), format!("sdk {}", key.masked()));
        assert_eq!(loggable("a\0b\u{1b}[2J\r\nrow", 200), "a b [2J  row");
        assert_eq!(loggable("ab\0cd", 3), "ab ");
    }

    #[test]
    fn a_refusals_detail_is_kept_without_control_characters() {
        let log = RequestLog::new(true);
        let key: Arc<str> = Arc::from("k1");
        let subject = Subject::Key {
            key_id: &key,
            merchant_id: "m1",
        };
        let at = datetime!(2026-11-03 14:05:10);
        log.refused(
            subject,
            "insufficient_scope",
            Some("a\0b".to_owned()),
            at,
            &seen("r1"),
        );
        assert_eq!(log.take().rows()[0].detail, "a b");
    }

    #[test]
    fn unknown_keys_are_kept_for_a_merchant_from_a_bounded_number_of_addresses() {
        let log = RequestLog::new(true);
        let at = datetime!(2026-11-03 14:05:10);
        for host in 0..200u32 {
            let mut seen = seen("r");
            seen.client = IpAddr::from(std::net::Ipv6Addr::from(
                0x2001_0db8_u128 << 96 | u128::from(host),
            ));
            let subject = Subject::Unknown {
                merchant_id: "m1",
                presented: "",
            };
            log.refused(subject, "invalid_key", None, at, &seen);
        }
        let rows = log.take().rows();
        assert_eq!(rows.len(), UNKNOWN_ADDRESSES_PER_MINUTE as usize);
        let other = Subject::Unknown {
            merchant_id: "m2",
            presented: "",
        };
        log.refused(other, "invalid_key", None, at, &seen("r"));
        assert_eq!(log.take().rows().len(), 1, "another merchant has its own bound");
    }

    #[test]
    fn a_busy_key_is_one_row_per_address_and_minute() {
        let log = RequestLog::new(true);
        let key: Arc<str> = Arc::from("k1");
        for second in 0..50_000 {
            let at = datetime!(2026-11-03 14:05) + time::Duration::milliseconds(second);
            log.accepted(&key, "m1", at, &seen(""));
        }
        let rows = log.take().rows();
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].count, rows[0].bucket), (50_000, Bucket::Key));
        assert_eq!(rows[0].minute, datetime!(2026-11-03 14:05));
        assert!(log.take().is_empty(), "taken once");
    }

    #[test]
    fn the_cap_on_refusals_kept_one_by_one_holds_for_the_minute_across_flushes() {
        let log = RequestLog::new(true);
        let key: Arc<str> = Arc::from("k1");
        let subject = Subject::Key {
            key_id: &key,
            merchant_id: "m1",
        };
        let at = datetime!(2026-11-03 14:05:10);
        let refuse = |n: u32| {
            let id = format!("req-{n}");
            log.refused(subject, "key_disabled", None, at, &seen(&id));
        };
        (0..100).for_each(refuse);
        let first = log.take().rows();
        let kept = first.iter().filter(|row| row.bucket == Bucket::Single).count();
        assert_eq!(kept, KEPT_PER_MINUTE as usize);
        assert_eq!(first.iter().map(|row| row.count).sum::<i64>(), 100);
        assert_eq!(first.len(), kept + 1);

        (100..110).for_each(refuse);
        let second = log.take().rows();
        assert_eq!(second.len(), 1, "still the same minute: counted");
        assert_eq!((second[0].count, second[0].request_id.as_str()), (10, ""));

        log.refused(
            subject,
            "key_disabled",
            None,
            at + time::Duration::minutes(1),
            &seen("next"),
        );
        let third = log.take().rows();
        assert_eq!(third[0].bucket, Bucket::Single, "a new minute, a new cap");
    }

    #[test]
    fn restored_rows_merge_with_new_ones_and_an_off_log_keeps_nothing() {
        let log = RequestLog::new(true);
        let key: Arc<str> = Arc::from("k1");
        log.accepted(&key, "m1", datetime!(2026-11-03 14:05:01), &seen(""));
        let failed = log.take();
        log.accepted(&key, "m1", datetime!(2026-11-03 14:05:30), &seen(""));
        log.restore(failed);
        let rows = log.take().rows();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].count, 2);
        assert_eq!(rows[0].first_at, datetime!(2026-11-03 14:05:01));

        let off = RequestLog::new(false);
        off.accepted(&key, "m1", datetime!(2026-11-03 14:05:01), &seen(""));
        assert!(off.take().is_empty());
    }
}
