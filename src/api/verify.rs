//! Verifying `Authorization: ApiKey <key>`: shape and checksum first (no I/O), then the
//! peppered digest, the cache or one indexed read (screened in memory for an address
//! past its budget of unknown keys), then state, expiry, grace period, merchant, scope
//! and the key's own rate limit. Every outcome for a known key is counted in memory.

use std::net::IpAddr;
use std::sync::Arc;

use actix_web::http::header::{self, HeaderMap, HeaderValue};
use time::PrimitiveDateTime;

use super::cache::{CachedKey, KeyCache, Lookup};
use super::error::ApiError;
use super::known::KnownDigests;
use super::limits::{KeyRateLimiter, UnknownKeyBudget};
use crate::clock::Clock;
use crate::config::DatabaseUrl;
use crate::db::{Db, DbError, keys};
use crate::domain::{ApiKey, KeyDigest, KeyPepper, KeyStatus, MerchantId, Scope};
use crate::telemetry::Metrics;
use crate::usage::requests::{Seen, Subject};
use crate::usage::{Outcome, UsageRecorder};

/// The header that may name the merchant a request is for.
pub const MERCHANT_HEADER: &str = "X-Merchant-Id";

/// A key that passed every check.
#[derive(Debug)]
pub struct Verified {
    /// The key.
    pub key: Arc<CachedKey>,
    /// For a rotated key, when its grace period ends.
    pub sunset: Option<PrimitiveDateTime>,
}

/// Everything verification uses, shared by all workers.
#[derive(Debug)]
pub struct Verifier {
    /// The database, for cache misses.
    pub db: Db,
    /// Now.
    pub clock: Clock,
    /// The digest key.
    pub pepper: KeyPepper,
    /// Verified states.
    pub cache: Arc<KeyCache>,
    /// Usage counters.
    pub usage: Arc<UsageRecorder>,
    /// Reads of unknown digests per client address.
    pub unknown: UnknownKeyBudget,
    /// Every stored digest, for addresses past that budget.
    pub known: KnownDigests,
    /// Each key's own limit.
    pub limits: KeyRateLimiter,
    /// Outcomes, latency and cache hits.
    pub metrics: Metrics,
}

/// What the request asks of the key.
#[derive(Debug, Default)]
pub struct Requirements<'a> {
    /// The scopes the key must have, every one.
    pub scopes: &'a [&'a str],
    /// Environments the key must be in, every one (`live`, `test`): a gateway in front
    /// of live data asks for `live`, so a test key never reaches it. A name that is no
    /// environment matches no key.
    pub environments: &'a [&'a str],
}

fn presented_key(headers: &HeaderMap) -> Result<ApiKey, ApiError> {
    let mut values = headers.get_all(header::AUTHORIZATION);
    let value = values.next().ok_or(ApiError::MissingKey)?;
    if values.next().is_some() {
        return Err(ApiError::MalformedKey(
            "Send one Authorization header, not several.",
            None,
        ));
    }
    let value = value
        .to_str()
        .map_err(|_| ApiError::MalformedKey("The Authorization header must be plain ASCII.", None))?
        .trim();
    if value.is_empty() {
        return Err(ApiError::MissingKey);
    }
    let (scheme, key) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("ApiKey") {
        return Err(ApiError::MalformedKey(
            "Use the ApiKey scheme: `Authorization: ApiKey <key>`.",
            None,
        ));
    }
    let key = key.trim();
    if key.is_empty() {
        return Err(ApiError::MissingKey);
    }
    ApiKey::parse(key).map_err(|format| {
        ApiError::MalformedKey(
            "This is not a Keyward API key: check that it was copied whole.",
            Some(format),
        )
    })
}

/// The key as presented, masked, for the request log of a key that matched none:
/// whatever follows the scheme, masked when it has a key's shape, else empty.
fn presented_masked(headers: &HeaderMap) -> String {
    let text = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
        .unwrap_or_default();
    let key = text.split_once(' ').map_or("", |(_, key)| key.trim());
    ApiKey::mask_presented(key)
}

/// The merchant named in `X-Merchant-Id`, if any. Sent more than once, as several
/// headers or joined by commas (as a proxy may fold them), it is refused rather than
/// one of them picked: another hop might pick another.
fn named_merchant(headers: &HeaderMap) -> Result<Option<&HeaderValue>, ApiError> {
    let mut values = headers.get_all(MERCHANT_HEADER);
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() || value.as_bytes().contains(&b',') {
        return Err(ApiError::DuplicateMerchantId);
    }
    Ok(Some(value))
}

impl Verifier {
    /// Verifies the request's key. `client` is the address whose budget of reads of
    /// unknown digests pays for a cache miss; past it the digest is screened in memory
    /// first, so a flood of made-up keys costs the database little while every real key
    /// from that address (behind a gateway or a NAT, other clients) keeps working.
    ///
    /// `seen` is what the request log keeps of the request besides its key.
    pub async fn verify(
        &self,
        headers: &HeaderMap,
        client: IpAddr,
        requirements: Requirements<'_>,
        seen: &Seen<'_>,
    ) -> Result<Verified, ApiError> {
        let key = presented_key(headers).inspect_err(|refused| self.log_unknown(headers, refused, seen))?;
        let merchant = named_merchant(headers)?;
        let digest = key.digest(&self.pepper);
        let Some(cached) = self.lookup(digest, client).await? else {
            let refused = ApiError::InvalidKey;
            self.log_unknown(headers, &refused, seen);
            return Err(refused);
        };
        // The digest covers the whole key, prefix included, and a key is stored in the
        // environment of its prefix, so a digest match already implies they agree. Asked
        // anyway: a row edited by hand must not let a test key pass as a live one.
        if cached.environment != key.environment() {
            return Err(ApiError::InvalidKey);
        }
        let now = self.clock.now();
        let judged = judge(&cached, merchant, client, &requirements, now);
        // Only a key with a limit of its own is counted, so only it may cost a round
        // trip to a shared store (Redis) on this path.
        let outcome = match (judged, cached.rate_limit_per_minute) {
            (Ok(verified), Some(limit)) => self
                .limits
                .admit(&cached.id, limit)
                .await
                .map(|()| verified)
                .map_err(|retry_after| ApiError::RateLimited {
                    message: "This API key's rate limit is reached.",
                    retry_after,
                    limit,
                }),
            (judged, _) => judged,
        };
        // Only an accepted request moves Last Used; a refused one is kept with its code.
        let counted = match &outcome {
            Ok(_) => Outcome::Accepted,
            Err(refused) => Outcome::Refused(refused.code()),
        };
        self.usage
            .record(&cached.id, counted, now, Some(client), seen.user_agent);
        match &outcome {
            Ok(_) => self
                .usage
                .requests
                .accepted(&cached.id, cached.merchant_id.as_str(), now, seen),
            Err(refused) => self.usage.requests.refused(
                Subject::Key {
                    key_id: &cached.id,
                    merchant_id: cached.merchant_id.as_str(),
                },
                refused.code(),
                refused.detail(),
                now,
                seen,
            ),
        }
        outcome
    }

    /// Hands a request whose key matched none, was malformed or was missing (an
    /// integration that lost its header is the commonest 401 support hears of) to the
    /// request log when it names a merchant in a valid `X-Merchant-Id`; whether that
    /// merchant exists is asked at the flush, once per batch, never here.
    fn log_unknown(&self, headers: &HeaderMap, refused: &ApiError, seen: &Seen<'_>) {
        if !self.usage.requests.enabled() {
            return;
        }
        let Ok(Some(named)) = named_merchant(headers) else {
            return;
        };
        let Some(merchant) = named
            .to_str()
            .ok()
            .and_then(|text| MerchantId::parse(text.trim()).ok())
        else {
            return;
        };
        let presented = presented_masked(headers);
        self.usage.requests.refused(
            Subject::Unknown {
                merchant_id: merchant.as_str(),
                presented: &presented,
            },
            refused.code(),
            refused.detail(),
            self.clock.now(),
            seen,
        );
    }

    /// The key with this digest, from the cache or the database; `None` for a digest
    /// no key has.
    async fn lookup(&self, digest: KeyDigest, client: IpAddr) -> Result<Option<Arc<CachedKey>>, ApiError> {
        let generation = match self.cache.get(&digest) {
            Lookup::Hit(key) => {
                self.metrics.key_cache_lookup(true);
                return Ok(key);
            }
            Lookup::Miss(generation) | Lookup::Refresh(generation) => {
                self.metrics.key_cache_lookup(false);
                generation
            }
        };
        // Within the address's budget a miss is read at once. Past it, only a digest that
        // may belong to a stored key is: made-up keys stop costing reads, while a real key
        // (which an attacker sharing the address cannot tell from a made-up one) still
        // verifies; no limit on reads alone could keep both promises.
        let budgeted = self.unknown.take(client).await;
        if budgeted.is_none() && !self.known.may_exist(&self.db, &digest).await? {
            return Ok(None);
        }
        // Stamped before the read: an entry is never trusted longer than the lifetime
        // after the state it holds was read.
        let read_at = std::time::Instant::now();
        let find = |conn: &mut crate::db::DbConnection| -> Result<_, DbError> {
            keys::find_for_verification(conn, &digest)
        };
        let row = match self.db.url() {
            // A SQLite point read takes microseconds: handing it to a blocking thread
            // would cost more than the read itself, unless every connection is busy.
            DatabaseUrl::Sqlite(_) => match self.db.try_run_here(find) {
                Some(row) => row,
                None => {
                    let wanted = digest.clone();
                    self.db
                        .run(move |conn| -> Result<_, DbError> { keys::find_for_verification(conn, &wanted) })
                        .await
                }
            },
            DatabaseUrl::Postgres(_) => {
                let wanted = digest.clone();
                self.db
                    .run(move |conn| -> Result<_, DbError> { keys::find_for_verification(conn, &wanted) })
                    .await
            }
        };
        // The budget is for digests found to be unknown: a key found, or a read that
        // failed (the database out of reach), gives its unit back, so an outage does not
        // leave an address's real keys queueing behind the screen once it is over.
        if let Some(taken) = budgeted
            && !matches!(row, Ok(None))
        {
            self.unknown.give_back(client, taken).await;
        }
        let row = row?;
        let key = row.map(|row| Arc::new(CachedKey::from_row(row)));
        self.cache.put(digest, key.clone(), generation, read_at);
        Ok(key)
    }
}

/// The checks after the key is known: state, expiry, grace, merchant, client address,
/// scope.
fn judge(
    key: &Arc<CachedKey>,
    merchant: Option<&HeaderValue>,
    client: IpAddr,
    requirements: &Requirements<'_>,
    now: PrimitiveDateTime,
) -> Result<Verified, ApiError> {
    let facts = &key.facts;
    let sunset = match facts.status {
        KeyStatus::Revoked => return Err(ApiError::KeyRevoked),
        KeyStatus::Deleted => return Err(ApiError::InvalidKey),
        KeyStatus::Disabled => return Err(ApiError::KeyDisabled),
        KeyStatus::Rotated if !facts.in_grace(now) => {
            return Err(ApiError::KeyExpired(
                "This API key was replaced by a newer version and its grace period has ended.",
            ));
        }
        KeyStatus::Rotated => facts.grace_ends_at,
        KeyStatus::Active => None,
    };
    if facts.is_expired(now) {
        return Err(ApiError::KeyExpired(
            "This API key has expired. Renew it or generate a new one.",
        ));
    }
    if let Some(merchant) = merchant {
        let named = merchant.to_str().map(str::trim).ok();
        if named != Some(key.merchant_id.as_str()) {
            let named = named.map(|named| named.chars().take(64).collect());
            return Err(ApiError::MerchantMismatch(named.unwrap_or_default()));
        }
    }
    if !key.allowed_ips.allows(client) {
        return Err(ApiError::IpNotAllowed {
            address: client.to_canonical(),
            allowlist: key.allowed_ips.to_string(),
        });
    }
    if let Some(&wanted) = requirements
        .environments
        .iter()
        .find(|&&wanted| wanted != key.environment.as_str())
    {
        return Err(ApiError::EnvironmentNotAllowed {
            environment: key.environment,
            wanted: wanted.chars().take(16).collect(),
        });
    }
    for &wanted in requirements.scopes {
        let granted = Scope::parse(wanted).is_ok_and(|scope| key.scopes.contains(scope));
        if !granted {
            return Err(ApiError::InsufficientScope(wanted.chars().take(40).collect()));
        }
    }
    Ok(Verified {
        key: key.clone(),
        sunset,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&[u8]]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in values {
            map.append(header::AUTHORIZATION, HeaderValue::from_bytes(value).unwrap());
        }
        map
    }

    #[test]
    fn header_variants_are_refused_before_any_hashing() {
        let key = ApiKey::generate();
        let good = format!("ApiKey {}", key.expose());
        assert!(presented_key(&headers(&[good.as_bytes()])).is_ok());
        assert!(presented_key(&headers(&[format!("apikey {}", key.expose()).as_bytes()])).is_ok());
        assert!(matches!(presented_key(&headers(&[])), Err(ApiError::MissingKey)));
        assert!(matches!(
            presented_key(&headers(&[b""])),
            Err(ApiError::MissingKey)
        ));
        assert!(matches!(
            presented_key(&headers(&[b"ApiKey "])),
            Err(ApiError::MissingKey)
        ));
        for bad in [
            format!("Bearer {}", key.expose()).into_bytes(),
            format!("ApiKey {}x", key.expose()).into_bytes(),
            "ApiKey kw_live_é".as_bytes().to_vec(),
            vec![b'a'; 10_240],
        ] {
            assert!(matches!(
                presented_key(&headers(&[&bad])),
                Err(ApiError::MalformedKey(..))
            ));
        }
        assert!(matches!(
            presented_key(&headers(&[good.as_bytes(), good.as_bytes()])),
            Err(ApiError::MalformedKey(..))
        ));
    }

    /// What DESIGN.md §6 accepts, written apart from the parser: one header of visible
    /// ASCII, `ApiKey` in any case, spaces, and a key whose checksum holds.
    fn presents(value: &[u8]) -> Option<String> {
        if !value.iter().all(|b| *b == b'\t' || (0x20..0x7f).contains(b)) {
            return None;
        }
        let text = std::str::from_utf8(value).ok()?.trim();
        let (scheme, rest) = (text.get(..6)?, text.get(6..)?);
        if !scheme.eq_ignore_ascii_case("apikey") || !rest.starts_with(' ') {
            return None;
        }
        let key = rest.trim();
        ApiKey::parse(key).ok().map(|_| key.to_owned())
    }

    fn check(value: &[u8]) {
        let Ok(header) = HeaderValue::from_bytes(value) else {
            return;
        };
        let mut map = HeaderMap::new();
        map.append(header::AUTHORIZATION, header.clone());
        let presented = presented_key(&map).ok().map(|key| key.expose().to_owned());
        assert_eq!(presented, presents(value), "{:?}", String::from_utf8_lossy(value));
        map.append(header::AUTHORIZATION, header);
        assert!(presented_key(&map).is_err(), "two headers are never read");
    }

    const CORPUS: &str = include_str!("../../tests/corpus/authorization.txt");

    #[test]
    fn the_authorization_corpus_is_judged_as_marked() {
        let mut seen = 0;
        for line in CORPUS.lines().filter(|line| !line.starts_with('#')) {
            let (mark, value) = line.split_at(2);
            check(value.as_bytes());
            assert_eq!(
                presented_key(&headers(&[value.as_bytes()])).is_ok(),
                mark == "+ ",
                "{line:?}"
            );
            seen += 1;
        }
        assert!(seen > 15);
    }

    proptest::proptest! {
        #[test]
        fn any_header_value_presents_a_key_exactly_when_it_is_apikey_and_a_valid_key(
            value in proptest::collection::vec(proptest::num::u8::ANY, 0..80),
        ) {
            check(&value);
        }

        #[test]
        fn scheme_spacing_and_key_variants_are_judged_by_the_rules(
            scheme in "(ApiKey|apikey|APIKEY|ApiKeys|Bearer|Api Key|)",
            before in "[ \t]{0,3}",
            between in "[ \t,=]{0,3}",
            after in "[ \t]{0,3}",
            change in proptest::option::of((0usize..54, "[0-9A-Za-z]")),
        ) {
            let key = ApiKey::generate();
            let mut raw = key.expose().to_owned();
            if let Some((at, replacement)) = change {
                raw.replace_range(at..=at, &replacement);
            }
            check(format!("{before}{scheme}{between}{raw}{after}").as_bytes());
        }
    }
}
