//! Why a logged request was answered as it was: from one row of a key's request log and
//! what is known of the key, the rule that decided it in words, the facts behind it and
//! what to do next. The request log page, support's view of it and the management API
//! all explain a request with [`diagnose`].

use time::PrimitiveDateTime;
use time::macros::format_description;

use super::lifecycle::{KeyFacts, KeyStatus};

/// The outcome stored for a request that was let through.
pub const ACCEPTED: &str = "accepted";

/// The outcomes a request log row may have, in the order the outcome filters list them:
/// `accepted`, then the API's error codes for a refused verification.
pub const OUTCOMES: &[&str] = &[
    ACCEPTED,
    "invalid_key",
    "malformed_key",
    "key_disabled",
    "key_revoked",
    "key_expired",
    "insufficient_scope",
    "merchant_mismatch",
    "rate_limited",
    "ip_not_allowed",
    "environment_not_allowed",
    "missing_key",
];

/// The outcome as a page shows it: Accepted, or the error code itself.
pub fn outcome_label(outcome: &str) -> &str {
    if outcome == ACCEPTED { "Accepted" } else { outcome }
}

/// A request ID as pasted (`X-Request-Id`: 32 hexadecimal digits, hyphens or capitals
/// allowed), as the log keeps it; `None` when it is not one.
pub fn request_id(raw: &str) -> Option<String> {
    uuid::Uuid::parse_str(raw.trim())
        .ok()
        .map(|id| id.simple().to_string())
}

/// The visible part of a key typed into a log search: the characters after the prefix
/// it starts with, and its last four, as far as given (`kw_live_AbCd…WxYz`,
/// `kw_test_AbCd`, `…WxYz`, `WxYz`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPattern {
    /// Up to four characters after the prefix.
    pub head: Option<String>,
    /// The last four characters.
    pub tail: Option<String>,
}

impl KeyPattern {
    /// Parses the key field; `None` when it is neither a masked key nor four letters or
    /// digits.
    pub fn parse(raw: &str) -> Option<Self> {
        let text = raw.trim().replace("...", "\u{2026}");
        let alphanumeric = |part: &str| part.chars().all(|c| c.is_ascii_alphanumeric());
        let rest = match text.strip_prefix("kw_") {
            Some(after) => after.split_once('_')?.1.to_owned(),
            None if text.len() == 4 && alphanumeric(&text) => {
                return Some(Self {
                    head: None,
                    tail: Some(text),
                });
            }
            None => text,
        };
        let (head, tail) = match rest.split_once('\u{2026}') {
            Some((head, tail)) => (head.trim(), Some(tail.trim())),
            None => (rest.trim(), None),
        };
        let head = Some(head).filter(|head| !head.is_empty());
        let tail = tail.filter(|tail| !tail.is_empty());
        if head.is_some_and(|head| head.len() > 4 || !alphanumeric(head))
            || tail.is_some_and(|tail| tail.len() != 4 || !alphanumeric(tail))
            || (head.is_none() && tail.is_none())
        {
            return None;
        }
        Some(Self {
            head: head.map(str::to_owned),
            tail: tail.map(str::to_owned),
        })
    }
}

/// What the request log kept of a request.
#[derive(Debug, Clone, Copy)]
pub struct Seen<'a> {
    /// `accepted` or the error code the request was answered with.
    pub outcome: &'a str,
    /// When (the row's latest request).
    pub at: PrimitiveDateTime,
    /// The key as presented, masked; empty when the value was not shaped like a key.
    pub presented_key: &'a str,
    /// The client address verification used.
    pub client_address: &'a str,
    /// The fact the refusal rested on that the key does not keep (see the contract of
    /// `key_requests.detail`): the scope lacked, the allowlist at the time, the merchant
    /// named, the limit per minute, or which part of the key format failed.
    pub detail: &'a str,
    /// How many requests the row stands for.
    pub count: i64,
}

/// A person's (or token's) change to a key: who and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeMade {
    /// The name history recorded for who made it.
    pub by: String,
    /// When.
    pub at: PrimitiveDateTime,
}

/// What is known of the key a request presented, now.
#[derive(Debug, Clone)]
pub struct KeyContext {
    /// The key's name.
    pub name: String,
    /// This version's number.
    pub version: i32,
    /// The newest version of the same key, when it is not this one.
    pub newest_version: Option<i32>,
    /// The stored state and times the lifecycle rules read.
    pub facts: KeyFacts,
    /// The scopes it holds, by name.
    pub scopes: Vec<String>,
    /// The addresses and ranges it may be used from now (empty: any).
    pub allowlist: Vec<String>,
    /// Requests allowed per minute, if limited.
    pub rate_limit_per_minute: Option<i32>,
    /// Who revoked it, if it is revoked.
    pub revoked: Option<ChangeMade>,
    /// Who disabled it, if it is disabled now.
    pub disabled: Option<ChangeMade>,
}

/// A request explained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnosis {
    /// The outcome code.
    pub code: String,
    /// The rule that decided it, in words, with the fact it rested on.
    pub summary: String,
    /// The facts behind it: the key's state, versions, scopes, allowlist, limit.
    pub facts: Vec<String>,
    /// What to do next.
    pub next_step: String,
}

/// Explains a request: `key` is the key it presented, when it matched one; `now` tells
/// the key's state today from its state then.
pub fn diagnose(seen: &Seen<'_>, key: Option<&KeyContext>, now: PrimitiveDateTime) -> Diagnosis {
    let explain = match seen.outcome {
        ACCEPTED => accepted,
        "invalid_key" => invalid_key,
        "malformed_key" => malformed_key,
        "missing_key" => missing_key,
        "key_disabled" => key_disabled,
        "key_revoked" => key_revoked,
        "key_expired" => key_expired,
        "insufficient_scope" => insufficient_scope,
        "merchant_mismatch" => merchant_mismatch,
        "rate_limited" => rate_limited,
        "ip_not_allowed" => ip_not_allowed,
        "environment_not_allowed" => environment_not_allowed,
        _ => other_refusal,
    };
    let (summary, next_step) = explain(seen, key);
    Diagnosis {
        code: seen.outcome.to_owned(),
        summary,
        facts: key.map(|key| key_facts(key, now)).unwrap_or_default(),
        next_step,
    }
}

/// `3 Nov 2026 14:02 UTC`, as the dashboard shows times.
pub fn when(at: PrimitiveDateTime) -> String {
    let text = at
        .format(format_description!(
            "[day padding:none] [month repr:short] [year] [hour]:[minute]"
        ))
        .unwrap_or_default();
    format!("{text} UTC")
}

/// The facts the page lists under every explanation.
fn key_facts(key: &KeyContext, now: PrimitiveDateTime) -> Vec<String> {
    let mut facts = vec![format!(
        "Key \u{201c}{}\u{201d}, version {}, is {} now.",
        key.name,
        key.version,
        key.facts.display_status(now)
    )];
    if let Some(newest) = key.newest_version {
        facts.push(format!("Version {newest} is the newest version of this key."));
    }
    if let Some(end) = key.facts.grace_ends_at {
        let verb = if end <= now { "ended" } else { "ends" };
        facts.push(format!("Its grace period {verb} {}.", when(end)));
    }
    if let Some(expiry) = key.facts.expires_at {
        let verb = if expiry <= now { "expired" } else { "expires" };
        facts.push(format!("It {verb} {}.", when(expiry)));
    }
    if let Some(revoked) = &key.revoked {
        facts.push(format!("Revoked by {} on {}.", revoked.by, when(revoked.at)));
    }
    if let Some(disabled) = &key.disabled {
        facts.push(format!("Disabled by {} on {}.", disabled.by, when(disabled.at)));
    }
    facts.push(if key.scopes.is_empty() {
        "Scopes: none.".to_owned()
    } else {
        format!("Scopes: {}.", key.scopes.join(", "))
    });
    facts.push(if key.allowlist.is_empty() {
        "Allowed addresses: any.".to_owned()
    } else {
        format!("Allowed addresses: {}.", key.allowlist.join(", "))
    });
    facts.push(match key.rate_limit_per_minute {
        Some(limit) => format!("Rate limit: {limit} requests a minute."),
        None => "Rate limit: none.".to_owned(),
    });
    facts
}

type Explained = (String, String);

fn accepted(seen: &Seen<'_>, _: Option<&KeyContext>) -> Explained {
    let requests = if seen.count == 1 {
        "The request was".to_owned()
    } else {
        format!("{} requests were", seen.count)
    };
    (
        format!("{requests} accepted: the key was valid and allowed to make it."),
        "Nothing to do: if the integration still fails, the error comes from the API behind Keyward, not from the key."
            .to_owned(),
    )
}

fn invalid_key(seen: &Seen<'_>, _: Option<&KeyContext>) -> Explained {
    let presented = if seen.presented_key.is_empty() {
        "The key presented".to_owned()
    } else {
        format!("The key presented ({})", seen.presented_key)
    };
    (
        format!(
            "{presented} matches no key of this merchant: it may have been deleted, or belong to another environment or merchant."
        ),
        "Check which key the integration sends and compare it with API Credentials; if it was deleted, generate a new key."
            .to_owned(),
    )
}

fn malformed_key(seen: &Seen<'_>, _: Option<&KeyContext>) -> Explained {
    let why = match seen.detail {
        "prefix" => "it does not start with a Keyward prefix (kw_live_ or kw_test_)",
        "length" => "it does not have the length of a Keyward key (cut short or padded?)",
        "alphabet" => "it has characters other than letters and digits (a stray space or quote?)",
        "checksum" => "the checksum does not match (a copy-paste error?)",
        _ => "it is not in the format of a Keyward key",
    };
    (
        format!("This is not a Keyward key: {why}."),
        "Copy the key again, whole, from where it was stored when it was generated; a key shown once cannot be shown again, so generate a new one if it is lost."
            .to_owned(),
    )
}

fn missing_key(_: &Seen<'_>, _: Option<&KeyContext>) -> Explained {
    (
        "The request carried no key: no Authorization: ApiKey header.".to_owned(),
        "Send the key in the Authorization header as ApiKey followed by the key.".to_owned(),
    )
}

fn key_disabled(seen: &Seen<'_>, key: Option<&KeyContext>) -> Explained {
    // A refusal found in the log minutes later: the key's disabling now may be a later
    // one than the one the request met.
    let summary = match key.and_then(|key| key.disabled.as_ref()) {
        Some(disabled) if disabled.at <= seen.at => format!(
            "The key was disabled by {} on {}.",
            disabled.by,
            when(disabled.at)
        ),
        Some(disabled) => format!(
            "The key was disabled when the request came; it has been enabled since, and disabled again by {} on {}.",
            disabled.by,
            when(disabled.at)
        ),
        None => "The key was disabled when the request came (it has been enabled since).".to_owned(),
    };
    (
        summary,
        "Enable the key on its page if it should work again, or use another active key.".to_owned(),
    )
}

fn key_revoked(_: &Seen<'_>, key: Option<&KeyContext>) -> Explained {
    let summary = match key.and_then(|key| key.revoked.as_ref()) {
        Some(revoked) => format!("The key was revoked by {} on {}.", revoked.by, when(revoked.at)),
        None => "The key was revoked.".to_owned(),
    };
    (
        summary,
        "A revoked key never works again: generate a new key and put it in the integration.".to_owned(),
    )
}

fn key_expired(seen: &Seen<'_>, key: Option<&KeyContext>) -> Explained {
    let Some(key) = key else {
        return (
            "The key had expired.".to_owned(),
            "Generate a new key, or renew this one if it has a lifetime.".to_owned(),
        );
    };
    let grace_over =
        key.facts.status == KeyStatus::Rotated && key.facts.grace_ends_at.is_some_and(|end| end <= seen.at);
    if grace_over {
        let end = key.facts.grace_ends_at.map(when).unwrap_or_default();
        let current = key
            .newest_version
            .map(|newest| format!("; version {newest} is current"))
            .unwrap_or_default();
        return (
            format!("Version {}'s grace period ended {end}{current}.", key.version),
            "The key was rotated: put the current version's key in the integration.".to_owned(),
        );
    }
    let summary = match key.facts.expires_at {
        Some(at) if at <= seen.at => format!("The key expired on {}.", when(at)),
        // Renewed (or given a later expiry) since the request.
        Some(at) => format!(
            "The key had expired when the request came; it has been renewed since and now expires on {}.",
            when(at)
        ),
        None => "The key had expired when the request came; it no longer expires.".to_owned(),
    };
    (
        summary,
        if key.facts.lifetime_days.is_some() {
            "Renew the key on its page, or generate a new one.".to_owned()
        } else {
            "Set a later expiry on the key's page, or generate a new key.".to_owned()
        },
    )
}

fn insufficient_scope(seen: &Seen<'_>, _: Option<&KeyContext>) -> Explained {
    let scope = if seen.detail.is_empty() {
        "a scope the request needs".to_owned()
    } else {
        format!("the scope {}", seen.detail)
    };
    (
        format!("The key lacks {scope}."),
        format!("Edit the key to add {scope}, or use a key that has it."),
    )
}

fn merchant_mismatch(seen: &Seen<'_>, _: Option<&KeyContext>) -> Explained {
    let named = if seen.detail.is_empty() {
        "another merchant".to_owned()
    } else {
        format!("the merchant {}", seen.detail)
    };
    (
        format!("The request named {named} in X-Merchant-Id, but the key belongs to this merchant."),
        "Send this merchant's ID in X-Merchant-Id, or use a key of the merchant named.".to_owned(),
    )
}

fn rate_limited(seen: &Seen<'_>, key: Option<&KeyContext>) -> Explained {
    let limit = match seen.detail.parse::<i64>() {
        Ok(limit) => format!("{limit} a minute"),
        Err(_) => key
            .and_then(|key| key.rate_limit_per_minute)
            .map_or_else(|| "its limit".to_owned(), |limit| format!("{limit} a minute")),
    };
    let refused = if seen.count > 1 {
        format!(" ({} requests refused)", seen.count)
    } else {
        String::new()
    };
    (
        format!("The key was rate limited: it made more requests than {limit}{refused}."),
        "Slow the integration down and retry after the Retry-After seconds, or raise the key's rate limit."
            .to_owned(),
    )
}

fn ip_not_allowed(seen: &Seen<'_>, _: Option<&KeyContext>) -> Explained {
    let allowlist = seen.detail.split_whitespace().collect::<Vec<_>>().join(", ");
    let outside = if allowlist.is_empty() {
        "outside the key's allowlist".to_owned()
    } else {
        format!("outside the allowlist {allowlist}")
    };
    (
        format!("The request came from {}, {outside}.", seen.client_address),
        format!(
            "If {} is the integration's address, add it to the key's allowed addresses; otherwise the key is used from somewhere it should not be.",
            seen.client_address
        ),
    )
}

fn environment_not_allowed(seen: &Seen<'_>, _: Option<&KeyContext>) -> Explained {
    let wanted = match seen.detail {
        "" => "another",
        wanted @ ("live" | "test") => wanted,
        other => {
            return (
                format!("The gateway asked for {other} keys, and there are none: keys are live or test."),
                "Set the gateway's environment parameter to live or test, or leave it out to take both."
                    .to_owned(),
            );
        }
    };
    (
        format!("The gateway takes {wanted} keys only, and this key is of the other environment."),
        format!("Use a {wanted} key here (a test key works only where the gateway asks for test keys)."),
    )
}

fn other_refusal(seen: &Seen<'_>, _: Option<&KeyContext>) -> Explained {
    (
        format!("The request was refused with {}.", seen.outcome),
        "Read the error's message in the answer the integration received.".to_owned(),
    )
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    const AT: PrimitiveDateTime = datetime!(2026-12-02 12:30);
    const NOW: PrimitiveDateTime = datetime!(2026-12-03 09:00);

    fn seen<'a>(outcome: &'a str, detail: &'a str) -> Seen<'a> {
        Seen {
            outcome,
            at: AT,
            presented_key: "kw_live_AbCd…WxYz",
            client_address: "203.0.113.9",
            detail,
            count: 1,
        }
    }

    fn key(status: KeyStatus) -> KeyContext {
        KeyContext {
            name: "Checkout".to_owned(),
            version: 1,
            newest_version: None,
            facts: KeyFacts {
                status,
                expires_at: None,
                grace_ends_at: None,
                lifetime_days: None,
            },
            scopes: vec!["orders:read".to_owned()],
            allowlist: Vec::new(),
            rate_limit_per_minute: None,
            revoked: None,
            disabled: None,
        }
    }

    #[test]
    fn an_accepted_request_says_so_with_its_count() {
        let mut row = seen(ACCEPTED, "");
        row.count = 12;
        let diagnosis = diagnose(&row, Some(&key(KeyStatus::Active)), NOW);
        assert_eq!(diagnosis.code, "accepted");
        assert!(
            diagnosis.summary.starts_with("12 requests were accepted"),
            "{}",
            diagnosis.summary
        );
        assert!(
            diagnosis.facts[0].contains("is ACTIVE now"),
            "{:?}",
            diagnosis.facts
        );
    }

    #[test]
    fn a_revoked_key_names_who_revoked_it_and_when() {
        let mut revoked = key(KeyStatus::Revoked);
        revoked.revoked = Some(ChangeMade {
            by: "Alice Admin".to_owned(),
            at: datetime!(2026-11-03 14:02),
        });
        let diagnosis = diagnose(&seen("key_revoked", ""), Some(&revoked), NOW);
        assert_eq!(
            diagnosis.summary,
            "The key was revoked by Alice Admin on 3 Nov 2026 14:02 UTC."
        );
        assert!(diagnosis.next_step.contains("generate a new key"));
    }

    #[test]
    fn a_disabled_key_names_who_disabled_it_or_says_it_is_enabled_again() {
        let mut disabled = key(KeyStatus::Disabled);
        disabled.disabled = Some(ChangeMade {
            by: "Bea Dev".to_owned(),
            at: datetime!(2026-12-01 08:15),
        });
        let diagnosis = diagnose(&seen("key_disabled", ""), Some(&disabled), NOW);
        assert_eq!(
            diagnosis.summary,
            "The key was disabled by Bea Dev on 1 Dec 2026 08:15 UTC."
        );
        assert!(diagnosis.next_step.starts_with("Enable the key"));
        let since = diagnose(&seen("key_disabled", ""), Some(&key(KeyStatus::Active)), NOW);
        assert!(since.summary.contains("enabled since"), "{}", since.summary);
        // Disabled again after the request: not the disabling the request met.
        let mut again = disabled.clone();
        again.disabled = Some(ChangeMade {
            by: "Tok Deploy".to_owned(),
            at: seen("key_disabled", "").at + time::Duration::minutes(1),
        });
        let later = diagnose(&seen("key_disabled", ""), Some(&again), NOW);
        assert!(
            later
                .summary
                .starts_with("The key was disabled when the request came; it has been enabled since"),
            "{}",
            later.summary
        );
    }

    #[test]
    fn a_key_renewed_since_its_refusal_says_so_and_a_key_without_a_limit_has_none() {
        let mut renewed = key(KeyStatus::Active);
        renewed.facts.expires_at = Some(seen("key_expired", "").at + time::Duration::days(30));
        let diagnosis = diagnose(&seen("key_expired", ""), Some(&renewed), NOW);
        assert!(
            diagnosis
                .summary
                .starts_with("The key had expired when the request came; it has been renewed since"),
            "{}",
            diagnosis.summary
        );
        assert!(diagnosis.facts.iter().any(|fact| fact == "Rate limit: none."));
    }

    #[test]
    fn a_gateway_asking_for_an_environment_that_does_not_exist_is_told_so() {
        let diagnosis = diagnose(&seen("environment_not_allowed", "production"), None, NOW);
        assert!(
            diagnosis.summary.contains("keys are live or test"),
            "{}",
            diagnosis.summary
        );
        assert!(diagnosis.next_step.starts_with("Set the gateway's environment"));
    }

    #[test]
    fn a_rotated_version_past_its_grace_names_the_end_and_the_current_version() {
        let mut rotated = key(KeyStatus::Rotated);
        rotated.facts.grace_ends_at = Some(datetime!(2026-12-02 11:59));
        rotated.newest_version = Some(2);
        let diagnosis = diagnose(&seen("key_expired", ""), Some(&rotated), NOW);
        assert_eq!(
            diagnosis.summary,
            "Version 1's grace period ended 2 Dec 2026 11:59 UTC; version 2 is current."
        );
        assert!(
            diagnosis
                .facts
                .iter()
                .any(|fact| fact == "Version 2 is the newest version of this key.")
        );
    }

    #[test]
    fn an_expired_key_names_its_expiry_and_offers_renewal_when_it_has_a_lifetime() {
        let mut expired = key(KeyStatus::Active);
        expired.facts.expires_at = Some(datetime!(2026-12-01 00:00));
        expired.facts.lifetime_days = Some(30);
        let diagnosis = diagnose(&seen("key_expired", ""), Some(&expired), NOW);
        assert_eq!(diagnosis.summary, "The key expired on 1 Dec 2026 00:00 UTC.");
        assert!(diagnosis.next_step.starts_with("Renew the key"));
        assert!(
            diagnosis
                .facts
                .iter()
                .any(|fact| fact == "It expired 1 Dec 2026 00:00 UTC.")
        );
    }

    #[test]
    fn a_missing_scope_is_named() {
        let diagnosis = diagnose(
            &seen("insufficient_scope", "orders:write"),
            Some(&key(KeyStatus::Active)),
            NOW,
        );
        assert_eq!(diagnosis.summary, "The key lacks the scope orders:write.");
        assert!(diagnosis.next_step.contains("add the scope orders:write"));
        assert!(diagnosis.facts.iter().any(|fact| fact == "Scopes: orders:read."));
    }

    #[test]
    fn an_address_outside_the_allowlist_names_both() {
        let diagnosis = diagnose(
            &seen("ip_not_allowed", "198.51.100.0/24 2001:db8::/32"),
            Some(&key(KeyStatus::Active)),
            NOW,
        );
        assert_eq!(
            diagnosis.summary,
            "The request came from 203.0.113.9, outside the allowlist 198.51.100.0/24, 2001:db8::/32."
        );
    }

    #[test]
    fn each_key_format_failure_is_told_apart() {
        let checksum = diagnose(&seen("malformed_key", "checksum"), None, NOW);
        assert_eq!(
            checksum.summary,
            "This is not a Keyward key: the checksum does not match (a copy-paste error?)."
        );
        assert!(checksum.facts.is_empty());
        for (detail, words) in [
            ("prefix", "does not start"),
            ("length", "length"),
            ("alphabet", "letters and digits"),
        ] {
            let diagnosis = diagnose(&seen("malformed_key", detail), None, NOW);
            assert!(
                diagnosis.summary.contains(words),
                "{detail}: {}",
                diagnosis.summary
            );
        }
    }

    #[test]
    fn rate_limiting_names_the_limit_per_minute() {
        let mut row = seen("rate_limited", "60");
        row.count = 40;
        let diagnosis = diagnose(&row, Some(&key(KeyStatus::Active)), NOW);
        assert_eq!(
            diagnosis.summary,
            "The key was rate limited: it made more requests than 60 a minute (40 requests refused)."
        );
    }

    #[test]
    fn a_key_of_the_other_environment_names_the_one_the_gateway_takes() {
        let diagnosis = diagnose(
            &seen("environment_not_allowed", "live"),
            Some(&key(KeyStatus::Active)),
            NOW,
        );
        assert_eq!(
            diagnosis.summary,
            "The gateway takes live keys only, and this key is of the other environment."
        );
        assert!(diagnosis.next_step.starts_with("Use a live key here"));
    }

    #[test]
    fn a_merchant_mismatch_names_the_merchant_sent() {
        let diagnosis = diagnose(
            &seen("merchant_mismatch", "0b7e0a41-5d0c-4f6b-9e0a-1c2d3e4f5a6b"),
            Some(&key(KeyStatus::Active)),
            NOW,
        );
        assert!(
            diagnosis.summary.starts_with(
                "The request named the merchant 0b7e0a41-5d0c-4f6b-9e0a-1c2d3e4f5a6b in X-Merchant-Id"
            ),
            "{}",
            diagnosis.summary
        );
    }

    #[test]
    fn an_unknown_key_suggests_deletion_or_another_environment() {
        let diagnosis = diagnose(&seen("invalid_key", ""), None, NOW);
        assert!(
            diagnosis.summary.contains("kw_live_AbCd…WxYz"),
            "{}",
            diagnosis.summary
        );
        assert!(diagnosis.summary.contains("deleted"));
        assert!(diagnosis.summary.contains("another environment"));
    }

    #[test]
    fn a_request_id_is_read_with_or_without_hyphens() {
        let id = "0b7e0a415d0c4f6b9e0a1c2d3e4f5a6b";
        assert_eq!(request_id(id).as_deref(), Some(id));
        assert_eq!(
            request_id(" 0B7E0A41-5D0C-4F6B-9E0A-1C2D3E4F5A6B ").as_deref(),
            Some(id)
        );
        assert_eq!(request_id("not-an-id"), None);
    }

    #[test]
    fn a_key_pattern_reads_a_masked_key_its_head_or_its_last_four() {
        let pattern = |head: Option<&str>, tail: Option<&str>| {
            Some(KeyPattern {
                head: head.map(str::to_owned),
                tail: tail.map(str::to_owned),
            })
        };
        assert_eq!(
            KeyPattern::parse("kw_live_AbCd\u{2026}WxYz"),
            pattern(Some("AbCd"), Some("WxYz"))
        );
        assert_eq!(
            KeyPattern::parse("kw_test_AbCd...WxYz"),
            pattern(Some("AbCd"), Some("WxYz"))
        );
        assert_eq!(KeyPattern::parse("kw_live_Ab"), pattern(Some("Ab"), None));
        assert_eq!(KeyPattern::parse("\u{2026}WxYz"), pattern(None, Some("WxYz")));
        assert_eq!(KeyPattern::parse("WxYz"), pattern(None, Some("WxYz")));
        assert_eq!(KeyPattern::parse("kw_live_AbCd\u{2026}Wx"), None);
        assert_eq!(KeyPattern::parse("hello world"), None);
        assert_eq!(KeyPattern::parse("kw_live_"), None);
    }

    #[test]
    fn a_missing_key_and_an_unknown_code_are_still_explained() {
        assert!(
            diagnose(&seen("missing_key", ""), None, NOW)
                .summary
                .contains("no key")
        );
        let other = diagnose(&seen("unavailable", ""), None, NOW);
        assert_eq!(other.summary, "The request was refused with unavailable.");
    }
}
