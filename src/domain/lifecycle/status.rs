//! A key's stored state, what a person sees of it, and the facts the rules read.

use std::fmt;

use time::PrimitiveDateTime;

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

/// A stored state Keyward does not write.
#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown key status `{0}`")]
pub struct UnknownStatus(pub String);

impl TryFrom<String> for KeyStatus {
    type Error = UnknownStatus;

    fn try_from(raw: String) -> Result<Self, UnknownStatus> {
        KeyStatus::parse(&raw).ok_or(UnknownStatus(raw))
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
