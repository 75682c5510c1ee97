//! Key states and the rules every change must pass, checked inside the transaction
//! that makes the change. No I/O: callers pass in what they read.

use std::fmt;

use time::{Date, Duration, PrimitiveDateTime, Time};

use super::policy::KeyPolicy;
use super::{ValidationError, is_forbidden_char};

const MAX_DESCRIPTION_CHARS: usize = 500;

/// A key's stored state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStatus {
    /// Works (unless expired).
    Active,
    /// Switched off; can be enabled again.
    Disabled,
    /// Replaced by a newer version; works until its grace period ends.
    Rotated,
    /// Permanently refused.
    Revoked,
    /// Hidden from lists, kept for history.
    Deleted,
}

impl KeyStatus {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Active => "active",
            KeyStatus::Disabled => "disabled",
            KeyStatus::Rotated => "rotated",
            KeyStatus::Revoked => "revoked",
            KeyStatus::Deleted => "deleted",
        }
    }

    /// Parses the stored text.
    pub fn parse(raw: &str) -> Option<Self> {
        [
            KeyStatus::Active,
            KeyStatus::Disabled,
            KeyStatus::Rotated,
            KeyStatus::Revoked,
            KeyStatus::Deleted,
        ]
        .into_iter()
        .find(|status| status.as_str() == raw)
    }
}

/// What a person sees as a key's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DisplayStatus {
    /// Works.
    Active,
    /// Switched off.
    Disabled,
    /// Past its expiry.
    Expired,
    /// In a grace period after rotation.
    Rotated,
    /// Grace period over after rotation.
    Retired,
    /// Revoked.
    Revoked,
    /// Deleted.
    Deleted,
}

impl DisplayStatus {
    /// The badge text.
    pub fn label(self) -> &'static str {
        match self {
            DisplayStatus::Active => "ACTIVE",
            DisplayStatus::Disabled => "DISABLED",
            DisplayStatus::Expired => "EXPIRED",
            DisplayStatus::Rotated => "ROTATED",
            DisplayStatus::Retired => "RETIRED",
            DisplayStatus::Revoked => "REVOKED",
            DisplayStatus::Deleted => "DELETED",
        }
    }
}

impl fmt::Display for DisplayStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// The facts about a key that the rules look at.
#[derive(Debug, Clone, Copy)]
pub struct KeyFacts {
    /// Stored state.
    pub status: KeyStatus,
    /// When it stops working, if ever.
    pub expires_at: Option<PrimitiveDateTime>,
    /// For a rotated key, when its grace period ends.
    pub grace_ends_at: Option<PrimitiveDateTime>,
    /// The lifetime it was generated with, in days, if any.
    pub lifetime_days: Option<u32>,
}

impl KeyFacts {
    /// True once the expiry has passed.
    pub fn is_expired(&self, now: PrimitiveDateTime) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }

    /// True for a rotated key whose grace period has not ended.
    pub fn in_grace(&self, now: PrimitiveDateTime) -> bool {
        self.status == KeyStatus::Rotated && self.grace_ends_at.is_some_and(|end| now < end)
    }

    /// True when the key counts toward the policy's active-key limit.
    pub fn counts_toward_limit(&self, now: PrimitiveDateTime) -> bool {
        self.status == KeyStatus::Active && !self.is_expired(now)
    }

    /// True when a request with this key would be let through (state and expiry only).
    pub fn is_usable(&self, now: PrimitiveDateTime) -> bool {
        (self.status == KeyStatus::Active && !self.is_expired(now))
            || (self.in_grace(now) && !self.is_expired(now))
    }

    /// What a person sees as its status.
    pub fn display_status(&self, now: PrimitiveDateTime) -> DisplayStatus {
        match self.status {
            KeyStatus::Active | KeyStatus::Disabled if self.is_expired(now) => DisplayStatus::Expired,
            KeyStatus::Active => DisplayStatus::Active,
            KeyStatus::Disabled => DisplayStatus::Disabled,
            KeyStatus::Rotated if self.in_grace(now) => DisplayStatus::Rotated,
            KeyStatus::Rotated => DisplayStatus::Retired,
            KeyStatus::Revoked => DisplayStatus::Revoked,
            KeyStatus::Deleted => DisplayStatus::Deleted,
        }
    }
}

/// Why a change to a key was refused. Each message tells the person what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The active-key limit is reached.
    #[error(
        "This merchant has {active} active {keys} and its key policy allows {max}. Revoke or disable a key first.",
        keys = if *active == 1 { "key" } else { "keys" }
    )]
    LimitReached {
        /// Active keys now.
        active: u64,
        /// The policy's limit.
        max: u32,
    },
    /// Another version of the lineage is still in its grace period.
    #[error(
        "A previous version of this key is still in its grace period. Revoke it, or wait until its grace period ends, before rotating again."
    )]
    RotationInGrace,
    /// Only a working (active, unexpired) key can be rotated.
    #[error("Only an active key that has not expired can be rotated.")]
    RotateNeedsActive,
    /// Revoked keys never come back and cannot change.
    #[error("This key is revoked. A revoked key can never be used or changed again.")]
    Revoked,
    /// The key was deleted.
    #[error("This key was deleted.")]
    Deleted,
    /// The policy asks for a key to be disabled before it is revoked.
    #[error("This merchant's key policy requires disabling an active key before revoking it.")]
    RevokeNeedsDisabled,
    /// The policy allows deleting only keys that no longer work.
    #[error("Deactivate this key before deleting it: only disabled, revoked or expired keys can be deleted.")]
    DeleteNeedsInactive,
    /// The typed confirmation was not exactly REVOKE.
    #[error("Type REVOKE, in capital letters, to confirm.")]
    RevokeNotConfirmed,
    /// The delete checkbox was not ticked.
    #[error("Tick \"I understand that this action cannot be undone\" to delete the key.")]
    DeleteNotConfirmed,
    /// The key is not in a state this action applies to.
    #[error("This key is {0}; this action does not apply to it.")]
    WrongState(&'static str),
    /// Scopes are fixed by the policy.
    #[error(
        "This merchant's key policy fixes scopes when a key is generated; generate a new key for other scopes."
    )]
    ScopesFixed,
    /// Another change to this key committed first.
    #[error("Someone else changed this key a moment ago. Reload the page to see its current state.")]
    Concurrent,
    /// Only a key with a lifetime can be renewed.
    #[error("This key has no lifetime to renew; it never expires or has a fixed end date.")]
    NoLifetime,
    /// The person's role does not manage keys.
    #[error("Your role in this merchant cannot change keys.")]
    NotPermitted,
}

/// The grace period a rotation leaves the old key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GracePeriod {
    /// The old key stops at once.
    Now,
    /// One hour.
    OneHour,
    /// 24 hours.
    OneDay,
    /// 3 days.
    ThreeDays,
    /// 7 days.
    SevenDays,
}

impl GracePeriod {
    /// Every choice, shortest first.
    pub const ALL: [GracePeriod; 5] = [
        GracePeriod::Now,
        GracePeriod::OneHour,
        GracePeriod::OneDay,
        GracePeriod::ThreeDays,
        GracePeriod::SevenDays,
    ];

    /// The form, CLI and stored value.
    pub fn as_str(self) -> &'static str {
        match self {
            GracePeriod::Now => "now",
            GracePeriod::OneHour => "1h",
            GracePeriod::OneDay => "24h",
            GracePeriod::ThreeDays => "3d",
            GracePeriod::SevenDays => "7d",
        }
    }

    /// The label on the page.
    pub fn label(self) -> &'static str {
        match self {
            GracePeriod::Now => "Now",
            GracePeriod::OneHour => "1 hour",
            GracePeriod::OneDay => "24 hours",
            GracePeriod::ThreeDays => "3 days",
            GracePeriod::SevenDays => "7 days",
        }
    }

    /// How long the old key keeps working.
    pub fn duration(self) -> Duration {
        match self {
            GracePeriod::Now => Duration::ZERO,
            GracePeriod::OneHour => Duration::hours(1),
            GracePeriod::OneDay => Duration::hours(24),
            GracePeriod::ThreeDays => Duration::days(3),
            GracePeriod::SevenDays => Duration::days(7),
        }
    }

    /// Parses a form, CLI or stored value.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        GracePeriod::ALL
            .into_iter()
            .find(|grace| grace.as_str() == raw.trim())
            .ok_or(ValidationError::Invalid {
                field: "Grace period",
                reason: "choose now, 1h, 24h, 3d or 7d",
            })
    }

    /// When the old key stops, given now and the old key's own expiry: a grace period
    /// never outlives the key.
    pub fn ends_at(
        self,
        now: PrimitiveDateTime,
        old_expires_at: Option<PrimitiveDateTime>,
    ) -> PrimitiveDateTime {
        let end = now + self.duration();
        old_expires_at.map_or(end, |expiry| end.min(expiry).max(now))
    }
}

/// A key's name, or none when the policy lets it be left empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyName(String);

impl KeyName {
    /// Parses a typed name: one line, at most 100 characters, in its NFKC form, with no
    /// invisible characters. Empty is `None` when the name is optional.
    pub fn parse(raw: &str, required: bool) -> Result<Option<Self>, ValidationError> {
        const FIELD: &str = "Name";
        match super::names::parse_single_line(raw, FIELD) {
            Err(ValidationError::Empty { .. }) if !required => Ok(None),
            parsed => parsed.map(|name| Some(Self(name))),
        }
    }

    /// The name given to the n-th unnamed key.
    pub fn numbered(n: u64) -> Self {
        Self(format!("Key {n}"))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A key's free-text description: up to 500 characters, line breaks allowed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyDescription(String);

impl KeyDescription {
    /// Parses a typed description.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        const FIELD: &str = "Description";
        let text = raw.trim();
        if text.chars().count() > MAX_DESCRIPTION_CHARS {
            return Err(ValidationError::TooLong {
                field: FIELD,
                max: MAX_DESCRIPTION_CHARS,
            });
        }
        if text
            .chars()
            .any(|c| !matches!(c, '\n' | '\r' | '\t') && is_forbidden_char(c))
        {
            return Err(ValidationError::ControlCharacters { field: FIELD });
        }
        Ok(Self(text.to_owned()))
    }

    /// The description as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The most requests per minute a key's own limit may allow.
pub const MAX_RATE_LIMIT_PER_MINUTE: u32 = 1_000_000;

/// Parses the optional per-key limit typed at Generate: empty for none, or a whole
/// number of requests per minute.
pub fn parse_rate_limit(raw: &str) -> Result<Option<u32>, ValidationError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    raw.parse::<u32>()
        .ok()
        .filter(|limit| (1..=MAX_RATE_LIMIT_PER_MINUTE).contains(limit))
        .map(Some)
        .ok_or(ValidationError::Invalid {
            field: "Rate limit",
            reason: "give a whole number of requests per minute from 1 to 1000000, or leave it empty",
        })
}

/// When a new key stops working.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// Never.
    Never,
    /// A lifetime in days, renewable.
    Days(u32),
    /// The end of a chosen day (UTC).
    On(Date),
}

/// The longest lifetime a key can be given, in days (ten years).
pub const MAX_LIFETIME_DAYS: u32 = 3650;

/// The lifetimes offered on the Generate form, in days.
pub const LIFETIME_CHOICES: [u32; 5] = [7, 30, 60, 90, 365];

impl Expiry {
    /// Parses the Generate form's `expires` choice (`never`, a number of days, or
    /// `custom`) and its `expires_on` date (YYYY-MM-DD).
    pub fn parse(choice: &str, custom_date: &str) -> Result<Self, ValidationError> {
        const FIELD: &str = "Expires";
        match choice.trim() {
            "" | "never" => Ok(Expiry::Never),
            "custom" => {
                let format = time::macros::format_description!("[year]-[month]-[day]");
                Date::parse(custom_date.trim(), format)
                    .map(Expiry::On)
                    .map_err(|_| ValidationError::Invalid {
                        field: FIELD,
                        reason: "give the custom date as YYYY-MM-DD",
                    })
            }
            days => days
                .parse::<u32>()
                .ok()
                .filter(|days| (1..=MAX_LIFETIME_DAYS).contains(days))
                .map(Expiry::Days)
                .ok_or(ValidationError::Invalid {
                    field: FIELD,
                    reason: "choose Never, a number of days from 1 to 3650, or a custom date",
                }),
        }
    }

    /// The expiry and renewable lifetime this choice gives a key generated `now` under
    /// `policy`, or why the policy refuses it.
    pub fn resolve(
        self,
        now: PrimitiveDateTime,
        policy: &KeyPolicy,
    ) -> Result<(Option<PrimitiveDateTime>, Option<u32>), ValidationError> {
        const FIELD: &str = "Expires";
        let too_long = ValidationError::Invalid {
            field: FIELD,
            reason: "the merchant's key policy requires keys to expire sooner; pick a shorter lifetime",
        };
        match self {
            Expiry::Never => match policy.max_lifetime_days {
                Some(_) => Err(ValidationError::Invalid {
                    field: FIELD,
                    reason: "the merchant's key policy requires keys to expire; pick a lifetime",
                }),
                None => Ok((None, None)),
            },
            Expiry::Days(days) => {
                if policy.max_lifetime_days.is_some_and(|max| days > max) {
                    return Err(too_long);
                }
                Ok((Some(now + Duration::days(i64::from(days))), Some(days)))
            }
            Expiry::On(date) => {
                if date < now.date() {
                    return Err(ValidationError::Invalid {
                        field: FIELD,
                        reason: "the custom date must be today or later",
                    });
                }
                if let Some(max) = policy.max_lifetime_days
                    && date > now.date() + Duration::days(i64::from(max))
                {
                    return Err(too_long);
                }
                let end_of_day = date
                    .next_day()
                    .map_or(PrimitiveDateTime::new(date, Time::MIDNIGHT), |next| {
                        PrimitiveDateTime::new(next, Time::MIDNIGHT)
                    });
                Ok((Some(end_of_day), None))
            }
        }
    }
}

/// A generation is allowed while fewer than the policy's limit of keys are active.
pub fn check_limit(active_keys: u64, policy: &KeyPolicy) -> Result<(), Refusal> {
    if active_keys >= u64::from(policy.max_active_keys) {
        return Err(Refusal::LimitReached {
            active: active_keys,
            max: policy.max_active_keys,
        });
    }
    Ok(())
}

fn refuse_final(key: &KeyFacts) -> Result<(), Refusal> {
    match key.status {
        KeyStatus::Revoked => Err(Refusal::Revoked),
        KeyStatus::Deleted => Err(Refusal::Deleted),
        _ => Ok(()),
    }
}

/// Rotation: an active, unexpired key whose lineage has no version in grace.
pub fn check_rotate(key: &KeyFacts, lineage_in_grace: bool, now: PrimitiveDateTime) -> Result<(), Refusal> {
    refuse_final(key)?;
    if key.status != KeyStatus::Active || key.is_expired(now) {
        return Err(Refusal::RotateNeedsActive);
    }
    if lineage_in_grace {
        return Err(Refusal::RotationInGrace);
    }
    Ok(())
}

/// Revocation: confirmed by typing exactly `REVOKE`; under a strict policy an active key
/// must be disabled first.
pub fn check_revoke(key: &KeyFacts, confirmation: &str, policy: &KeyPolicy) -> Result<(), Refusal> {
    refuse_final(key)?;
    if confirmation != "REVOKE" {
        return Err(Refusal::RevokeNotConfirmed);
    }
    if policy.revoke_only_disabled && key.status == KeyStatus::Active {
        return Err(Refusal::RevokeNeedsDisabled);
    }
    Ok(())
}

/// Disabling: only an active key.
pub fn check_disable(key: &KeyFacts) -> Result<(), Refusal> {
    refuse_final(key)?;
    match key.status {
        KeyStatus::Active => Ok(()),
        KeyStatus::Disabled => Err(Refusal::WrongState("disabled already")),
        _ => Err(Refusal::WrongState("rotated")),
    }
}

/// Enabling: only a disabled key, within the active-key limit.
pub fn check_enable(
    key: &KeyFacts,
    active_keys: u64,
    policy: &KeyPolicy,
    now: PrimitiveDateTime,
) -> Result<(), Refusal> {
    refuse_final(key)?;
    if key.status != KeyStatus::Disabled {
        return Err(Refusal::WrongState("not disabled"));
    }
    if !key.is_expired(now) {
        check_limit(active_keys, policy)?;
    }
    Ok(())
}

/// Editing: the current version of a lineage; scopes only where the policy allows.
pub fn check_edit(key: &KeyFacts, scopes_changed: bool, policy: &KeyPolicy) -> Result<(), Refusal> {
    refuse_final(key)?;
    if !matches!(key.status, KeyStatus::Active | KeyStatus::Disabled) {
        return Err(Refusal::WrongState("rotated"));
    }
    if scopes_changed && !policy.scopes_editable {
        return Err(Refusal::ScopesFixed);
    }
    Ok(())
}

/// Renewal: a key generated with a lifetime, within the active-key limit when renewing
/// brings an expired active key back.
pub fn check_renew(
    key: &KeyFacts,
    active_keys: u64,
    policy: &KeyPolicy,
    now: PrimitiveDateTime,
) -> Result<(), Refusal> {
    refuse_final(key)?;
    if !matches!(key.status, KeyStatus::Active | KeyStatus::Disabled) {
        return Err(Refusal::WrongState("rotated"));
    }
    if key.lifetime_days.is_none() {
        return Err(Refusal::NoLifetime);
    }
    if key.status == KeyStatus::Active && key.is_expired(now) {
        check_limit(active_keys, policy)?;
    }
    Ok(())
}

/// The expiry a renewal gives: one lifetime from now, capped by today's policy.
pub fn renewed_expiry(lifetime_days: u32, policy: &KeyPolicy, now: PrimitiveDateTime) -> PrimitiveDateTime {
    let days = policy
        .max_lifetime_days
        .map_or(lifetime_days, |max| lifetime_days.min(max));
    now + Duration::days(i64::from(days))
}

/// The expiry and lifetime of the version a rotation creates, under today's policy:
/// the old lifetime (capped by the policy) from now; a fixed end date carried over
/// (capped too); and, where the policy now demands an expiry, its maximum.
pub fn rotated_expiry(
    old: &KeyFacts,
    policy: &KeyPolicy,
    now: PrimitiveDateTime,
) -> (Option<PrimitiveDateTime>, Option<u32>) {
    let cap = policy
        .max_lifetime_days
        .map(|max| now + Duration::days(i64::from(max)));
    match (old.lifetime_days, old.expires_at) {
        (Some(days), _) => {
            let days = policy.max_lifetime_days.map_or(days, |max| days.min(max));
            (Some(renewed_expiry(days, policy, now)), Some(days))
        }
        (None, Some(end)) => (Some(cap.map_or(end, |cap| end.min(cap))), None),
        (None, None) => (cap, policy.max_lifetime_days),
    }
}

/// Deletion: confirmed by the checkbox; under the default policy only a key that no
/// longer works.
pub fn check_delete(
    key: &KeyFacts,
    understood: bool,
    policy: &KeyPolicy,
    now: PrimitiveDateTime,
) -> Result<(), Refusal> {
    if key.status == KeyStatus::Deleted {
        return Err(Refusal::Deleted);
    }
    if !understood {
        return Err(Refusal::DeleteNotConfirmed);
    }
    if policy.delete_only_inactive && key.is_usable(now) {
        return Err(Refusal::DeleteNeedsInactive);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use time::macros::{date, datetime};

    use super::*;
    use crate::domain::policy::PolicyPreset;

    const NOW: PrimitiveDateTime = datetime!(2026-11-03 14:02);

    fn key(status: KeyStatus) -> KeyFacts {
        KeyFacts {
            status,
            expires_at: None,
            grace_ends_at: None,
            lifetime_days: None,
        }
    }

    #[test]
    fn a_rotated_key_works_while_now_is_before_the_grace_end() {
        let rotated = KeyFacts {
            grace_ends_at: Some(NOW + Duration::hours(1)),
            ..key(KeyStatus::Rotated)
        };
        assert!(rotated.is_usable(NOW + Duration::minutes(59)));
        assert!(!rotated.is_usable(NOW + Duration::hours(1)));
        assert_eq!(rotated.display_status(NOW), DisplayStatus::Rotated);
        assert_eq!(
            rotated.display_status(NOW + Duration::hours(1)),
            DisplayStatus::Retired
        );
    }

    #[test]
    fn a_grace_period_never_outlives_the_old_key() {
        let expiry = NOW + Duration::hours(5);
        assert_eq!(GracePeriod::ThreeDays.ends_at(NOW, Some(expiry)), expiry);
        assert_eq!(
            GracePeriod::OneHour.ends_at(NOW, Some(expiry)),
            NOW + Duration::hours(1)
        );
        assert_eq!(GracePeriod::Now.ends_at(NOW, None), NOW);
    }

    #[test]
    fn rotation_is_refused_during_grace_and_for_inactive_keys() {
        assert_eq!(check_rotate(&key(KeyStatus::Active), false, NOW), Ok(()));
        assert_eq!(
            check_rotate(&key(KeyStatus::Active), true, NOW),
            Err(Refusal::RotationInGrace)
        );
        assert_eq!(
            check_rotate(&key(KeyStatus::Disabled), false, NOW),
            Err(Refusal::RotateNeedsActive)
        );
        assert_eq!(
            check_rotate(&key(KeyStatus::Revoked), false, NOW),
            Err(Refusal::Revoked)
        );
        let expired = KeyFacts {
            expires_at: Some(NOW),
            ..key(KeyStatus::Active)
        };
        assert_eq!(
            check_rotate(&expired, false, NOW),
            Err(Refusal::RotateNeedsActive)
        );
    }

    #[test]
    fn revoke_needs_exactly_revoke() {
        let policy = KeyPolicy::default();
        for typed in ["revoke", " REVOKE", "REVOKE\n", "REVOKED", ""] {
            assert_eq!(
                check_revoke(&key(KeyStatus::Active), typed, &policy),
                Err(Refusal::RevokeNotConfirmed),
                "{typed:?}"
            );
        }
        assert_eq!(check_revoke(&key(KeyStatus::Active), "REVOKE", &policy), Ok(()));
        assert_eq!(
            check_revoke(&key(KeyStatus::Revoked), "REVOKE", &policy),
            Err(Refusal::Revoked)
        );
    }

    #[test]
    fn the_strict_policy_revokes_only_disabled_keys() {
        let strict = PolicyPreset::StrictLifecycle.policy();
        assert_eq!(
            check_revoke(&key(KeyStatus::Active), "REVOKE", &strict),
            Err(Refusal::RevokeNeedsDisabled)
        );
        assert_eq!(check_revoke(&key(KeyStatus::Disabled), "REVOKE", &strict), Ok(()));
        assert_eq!(
            check_edit(&key(KeyStatus::Active), true, &strict),
            Err(Refusal::ScopesFixed)
        );
        assert_eq!(check_edit(&key(KeyStatus::Active), false, &strict), Ok(()));
    }

    #[test]
    fn the_limit_counts_active_keys_only() {
        let single = PolicyPreset::SingleKey.policy();
        assert_eq!(check_limit(0, &single), Ok(()));
        assert_eq!(
            check_limit(1, &single),
            Err(Refusal::LimitReached { active: 1, max: 1 })
        );
        assert_eq!(
            check_enable(&key(KeyStatus::Disabled), 1, &single, NOW),
            Err(Refusal::LimitReached { active: 1, max: 1 })
        );
        assert!(!key(KeyStatus::Rotated).counts_toward_limit(NOW));
    }

    #[test]
    fn delete_needs_the_checkbox_and_an_inactive_key() {
        let policy = KeyPolicy::default();
        assert_eq!(
            check_delete(&key(KeyStatus::Disabled), false, &policy, NOW),
            Err(Refusal::DeleteNotConfirmed)
        );
        assert_eq!(
            check_delete(&key(KeyStatus::Active), true, &policy, NOW),
            Err(Refusal::DeleteNeedsInactive)
        );
        assert_eq!(
            check_delete(&key(KeyStatus::Disabled), true, &policy, NOW),
            Ok(())
        );
        assert_eq!(check_delete(&key(KeyStatus::Revoked), true, &policy, NOW), Ok(()));
    }

    #[test]
    fn expiry_choices_resolve_under_the_policy() {
        let standard = KeyPolicy::default();
        let token = PolicyPreset::TokenLifetime.policy();
        assert_eq!(Expiry::parse("never", ""), Ok(Expiry::Never));
        assert_eq!(Expiry::parse("30", ""), Ok(Expiry::Days(30)));
        assert_eq!(Expiry::parse("45", ""), Ok(Expiry::Days(45)));
        for bad in ["0", "3651", "-1", "ten", "7.5"] {
            assert!(Expiry::parse(bad, "").is_err(), "{bad}");
        }
        assert_eq!(
            Expiry::parse("custom", "2026-12-31"),
            Ok(Expiry::On(date!(2026 - 12 - 31)))
        );
        assert!(Expiry::parse("custom", "31/12/2026").is_err());

        assert_eq!(Expiry::Never.resolve(NOW, &standard), Ok((None, None)));
        assert!(Expiry::Never.resolve(NOW, &token).is_err());
        assert_eq!(
            Expiry::Days(90).resolve(NOW, &token),
            Ok((Some(NOW + Duration::days(90)), Some(90)))
        );
        assert!(Expiry::Days(365).resolve(NOW, &token).is_err());
        assert!(Expiry::On(date!(2026 - 11 - 02)).resolve(NOW, &standard).is_err());
        assert_eq!(
            Expiry::On(date!(2026 - 11 - 03)).resolve(NOW, &standard),
            Ok((Some(datetime!(2026-11-04 0:00)), None))
        );
    }

    #[test]
    fn renewal_needs_a_lifetime_and_respects_todays_policy() {
        let policy = PolicyPreset::TokenLifetime.policy();
        assert_eq!(
            check_renew(&key(KeyStatus::Active), 0, &policy, NOW),
            Err(Refusal::NoLifetime)
        );
        let with_lifetime = KeyFacts {
            lifetime_days: Some(365),
            ..key(KeyStatus::Active)
        };
        assert_eq!(check_renew(&with_lifetime, 0, &policy, NOW), Ok(()));
        assert_eq!(renewed_expiry(365, &policy, NOW), NOW + Duration::days(90));
    }

    #[test]
    fn rate_limits_are_optional_whole_numbers() {
        assert_eq!(parse_rate_limit(" "), Ok(None));
        assert_eq!(parse_rate_limit("600"), Ok(Some(600)));
        for bad in ["0", "-5", "1.5", "lots", "1000001"] {
            assert!(parse_rate_limit(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rotation_follows_todays_policy() {
        let standard = KeyPolicy::default();
        let token = PolicyPreset::TokenLifetime.policy();
        let never = key(KeyStatus::Active);
        assert_eq!(rotated_expiry(&never, &standard, NOW), (None, None));
        assert_eq!(
            rotated_expiry(&never, &token, NOW),
            (Some(NOW + Duration::days(90)), Some(90))
        );
        let yearly = KeyFacts {
            lifetime_days: Some(365),
            expires_at: Some(NOW),
            ..key(KeyStatus::Active)
        };
        assert_eq!(
            rotated_expiry(&yearly, &standard, NOW),
            (Some(NOW + Duration::days(365)), Some(365))
        );
        assert_eq!(
            rotated_expiry(&yearly, &token, NOW),
            (Some(NOW + Duration::days(90)), Some(90))
        );
        let fixed = KeyFacts {
            expires_at: Some(NOW + Duration::days(400)),
            ..key(KeyStatus::Active)
        };
        assert_eq!(
            rotated_expiry(&fixed, &standard, NOW),
            (Some(NOW + Duration::days(400)), None)
        );
        assert_eq!(
            rotated_expiry(&fixed, &token, NOW),
            (Some(NOW + Duration::days(90)), None)
        );
    }

    #[test]
    fn key_names_are_checked_and_optional_only_when_the_policy_says_so() {
        assert_eq!(KeyName::parse("  ", false), Ok(None));
        assert!(KeyName::parse("  ", true).is_err());
        assert!(KeyName::parse(&"x".repeat(101), true).is_err());
        assert!(KeyName::parse("a\u{7}b", true).is_err());
        assert_eq!(
            KeyName::parse(" Production ", true).unwrap().unwrap().as_str(),
            "Production"
        );
        assert_eq!(KeyName::numbered(3).as_str(), "Key 3");
        assert!(KeyDescription::parse("line one\nline two").is_ok());
        assert!(KeyDescription::parse(&"d".repeat(501)).is_err());
    }
}
