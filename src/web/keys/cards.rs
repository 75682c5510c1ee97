//! A key as a card on API Credentials and at the top of its dialogs and page.

use std::collections::HashMap;

use time::PrimitiveDateTime;

use super::origin::Origin;
use crate::db::DbError;
use crate::db::keys::KeyRow;
use crate::domain::{AllowedActions, DisplayStatus, Environment, KeyId, Refusal};
use crate::web::format;

/// A key as a card or a row on the page.
pub struct KeyCard {
    /// Version ID.
    pub id: KeyId,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// `kw_live_AbCd…WxYz`.
    pub masked: String,
    /// Created Date.
    pub created: String,
    /// Created by.
    pub created_by: String,
    /// Last Used, relative ("5 minutes ago"), or Never.
    pub last_used: String,
    /// Last Used exactly, for the hover text and `<time datetime>`; empty when never.
    pub last_used_exact: String,
    /// Last Used as RFC 3339.
    pub last_used_iso: String,
    /// Where the last use came from: its client address and User-Agent (shortened),
    /// as `203.0.113.9 · curl/8.5.0`; empty when never used or not known.
    pub last_used_from: String,
    /// The last use's whole User-Agent, for the hover text.
    pub last_used_agent: String,
    /// The last refused attempt, if any: Last Used counts accepted requests only.
    pub last_refused: Option<RefusedAttempt>,
    /// Successful requests in the last 24 hours.
    pub succeeded_24h: i64,
    /// Failed requests in the last 24 hours.
    pub failed_24h: i64,
    /// Failed share of the last 24 hours' requests, as text.
    pub error_rate: String,
    /// Requests in the last hour.
    pub last_hour: i64,
    /// For a rotated key: requests in the last hour on the version that replaced it.
    pub successor_last_hour: i64,
    /// For a rotated key: the version that replaced it.
    pub successor_version: i32,
    /// For a rotated key: unused for the last 60 minutes, so revoking it breaks nothing.
    pub safe_to_revoke: bool,
    /// Expires within 7 days.
    pub expires_soon: bool,
    /// The key's own limit, as text.
    pub rate_limit: String,
    /// The addresses and ranges the key may be used from; empty for any.
    pub allowed_ips: Vec<String>,
    /// Version number.
    pub version: i32,
    /// Status badge text.
    pub status: &'static str,
    /// Status for CSS.
    pub status_class: &'static str,
    /// Scope names.
    pub scopes: Vec<&'static str>,
    /// Expiry, or Never.
    pub expires: String,
    /// For a rotated key in its grace period: `2d 5h`.
    pub grace_remaining: String,
    /// For a rotated key: when its grace period ends (or ended), which is when it stops
    /// working, whatever its own expiry said.
    pub grace_ends: String,
    /// A rotated key still in its grace period.
    pub in_grace: bool,
    /// For a revoked key: when.
    pub revoked: String,
    /// For a revoked key: by whom.
    pub revoked_by: String,
    /// When it stopped working (grace period ended, revoked, expired, disabled), if it has.
    pub stopped: String,
    /// Rotate Key is offered.
    pub can_rotate: bool,
    /// Rotation waits for a previous version's grace period to end.
    pub rotation_waits: bool,
    /// Revoke Key is offered.
    pub can_revoke: bool,
    /// Disable is offered.
    pub can_disable: bool,
    /// Enable is offered.
    pub can_enable: bool,
    /// Why a disabled key cannot be enabled now (the active-key limit), if so.
    pub enable_refused: Option<String>,
    /// Edit is offered.
    pub can_edit: bool,
    /// Duplicate is offered.
    pub can_duplicate: bool,
    /// Renew is offered.
    pub can_renew: bool,
    /// Delete is offered.
    pub can_delete: bool,
    /// Reveal (a test key shown again) is offered.
    pub can_reveal: bool,
    /// Where the card is shown, which is where its actions return.
    pub shown_on: Origin,
    /// Live or test.
    pub environment: Environment,
    pub(super) display: DisplayStatus,
    pub(super) created_at: PrimitiveDateTime,
    pub(super) stopped_at: Option<PrimitiveDateTime>,
    pub(super) lineage_id: KeyId,
}

/// A request with the key that was refused: when, and the API error code it got.
pub struct RefusedAttempt {
    /// Relative ("5 minutes ago").
    pub ago: String,
    /// Exactly, for the hover text.
    pub exact: String,
    /// RFC 3339, for `<time datetime>`.
    pub iso: String,
    /// `key_disabled`, `key_revoked`, `invalid_key`…
    pub code: String,
}

impl RefusedAttempt {
    /// The attempt refused at `at` with `code`, as read at `now`.
    pub(super) fn new(now: PrimitiveDateTime, at: PrimitiveDateTime, code: &str) -> Self {
        Self {
            ago: format::ago(now, at),
            exact: format::datetime(at),
            iso: format::iso(at),
            code: code.to_owned(),
        }
    }
}

/// When a key stopped working, if it has: the earliest of its expiry, the end of its
/// grace period, its disabling (until enabled again), revocation and deletion, among
/// those that have happened.
pub(super) fn stopped_at(row: &KeyRow, now: PrimitiveDateTime) -> Option<PrimitiveDateTime> {
    [
        row.expires_at,
        row.grace_ends_at,
        row.disabled_at,
        row.revoked_at,
        row.deleted_at,
    ]
    .into_iter()
    .flatten()
    .filter(|at| *at <= now)
    .min()
}

impl KeyCard {
    /// Offers exactly the actions the rules allow (see [`allowed_actions`]).
    pub(super) fn offer(&mut self, allowed: &AllowedActions) {
        self.can_rotate = allowed.rotate.is_ok();
        self.rotation_waits = allowed.rotate == Err(Refusal::RotationInGrace);
        self.can_revoke = allowed.revoke.is_ok();
        self.can_disable = allowed.disable.is_ok();
        self.can_enable = allowed.enable.is_ok();
        self.enable_refused = match &allowed.enable {
            Err(refusal @ Refusal::LimitReached { .. }) => Some(refusal.to_string()),
            _ => None,
        };
        self.can_edit = allowed.edit.is_ok();
        self.can_duplicate = allowed.duplicate.is_ok();
        self.can_renew = allowed.renew.is_ok();
        self.can_delete = allowed.delete.is_ok();
    }

    /// The address of `action` on this key, from where the card is shown.
    pub fn action(&self, action: &str) -> String {
        self.shown_on.action(&self.id, action)
    }

    /// True when the rules offer at least one action on the key, or explain why one
    /// waits.
    pub fn has_actions(&self) -> bool {
        self.can_rotate
            || self.can_disable
            || self.can_enable
            || self.can_edit
            || self.can_renew
            || self.can_revoke
            || self.can_delete
            || self.can_reveal
            || self.rotation_waits
            || self.enable_refused.is_some()
    }

    /// True for a test key, which the card marks as one.
    pub fn is_test(&self) -> bool {
        self.environment == Environment::Test
    }

    /// True for a version replaced by a rotation, in its grace period or past it.
    pub fn is_rotated_version(&self) -> bool {
        matches!(self.display, DisplayStatus::Rotated | DisplayStatus::Retired)
    }
}

/// The usage numbers a card shows, read in one query each for the whole page.
#[derive(Default)]
pub(super) struct Usage {
    pub(super) day: HashMap<String, (i64, i64)>,
    pub(super) hour: HashMap<String, (i64, i64)>,
    pub(super) refused: HashMap<String, (PrimitiveDateTime, String)>,
}

impl Usage {
    pub(super) fn apply(&self, card: &mut KeyCard, now: PrimitiveDateTime) {
        card.last_refused = self
            .refused
            .get(card.id.as_str())
            .map(|(at, code)| RefusedAttempt::new(now, *at, code));
        let (ok, failed) = self.day.get(card.id.as_str()).copied().unwrap_or_default();
        card.succeeded_24h = ok;
        card.failed_24h = failed;
        card.error_rate = if ok + failed == 0 {
            "–".to_owned()
        } else {
            format!("{:.1}%", failed as f64 * 100.0 / (ok + failed) as f64)
        };
        card.last_hour = self
            .hour
            .get(card.id.as_str())
            .map_or(0, |(ok, failed)| ok + failed);
    }
}

/// The characters of a User-Agent a card shows: enough for the client and its version.
const AGENT_SHOWN: usize = 40;

/// Where the key was last used from: the address and the start of the User-Agent.
fn used_from(row: &KeyRow) -> String {
    let address = row.last_used_from.as_deref().unwrap_or_default();
    let agent = row.last_used_agent.as_deref().unwrap_or_default();
    let mut shown: String = agent.chars().take(AGENT_SHOWN).collect();
    if agent.chars().nth(AGENT_SHOWN).is_some() {
        shown.push('…');
    }
    [address, shown.as_str()]
        .into_iter()
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" · ")
}

/// A key's card as shown at `now`, offering no action until [`KeyCard::offer`].
pub(super) fn card(row: &KeyRow, now: PrimitiveDateTime) -> Result<KeyCard, DbError> {
    let facts = row.facts();
    let display = facts.display_status(now);
    let stopped_at = stopped_at(row, now);
    Ok(KeyCard {
        id: row.id.clone(),
        name: row.name.clone(),
        description: row.description.clone(),
        masked: row.masked_key.clone(),
        created: format::datetime(row.created_at),
        created_by: row.created_by.clone(),
        last_used: row
            .last_used_at
            .map_or_else(|| "Never".to_owned(), |at| format::ago(now, at)),
        last_used_exact: row.last_used_at.map(format::datetime).unwrap_or_default(),
        last_used_iso: row.last_used_at.map(format::iso).unwrap_or_default(),
        last_used_from: used_from(row),
        last_used_agent: row.last_used_agent.clone().unwrap_or_default(),
        last_refused: None,
        succeeded_24h: 0,
        failed_24h: 0,
        error_rate: String::new(),
        last_hour: 0,
        successor_last_hour: 0,
        successor_version: row.version + 1,
        safe_to_revoke: row
            .last_used_at
            .is_none_or(|at| now - at >= time::Duration::minutes(60)),
        // A rotated version stops when its grace period ends, whatever its expiry.
        expires_soon: matches!(display, DisplayStatus::Active | DisplayStatus::Disabled)
            && row
                .expires_at
                .is_some_and(|at| at > now && at - now <= time::Duration::days(7)),
        rate_limit: row
            .rate_limit_per_minute
            .map_or_else(|| "None".to_owned(), |limit| format!("{limit} per minute")),
        allowed_ips: row.allowed_ips.entries(),
        version: row.version,
        status: display.label(),
        status_class: match display {
            DisplayStatus::Active => "active",
            DisplayStatus::Disabled => "disabled",
            DisplayStatus::Rotated => "rotated",
            _ => "inactive",
        },
        scopes: row.scopes.names(),
        expires: row
            .expires_at
            .map_or_else(|| "Never".to_owned(), format::datetime),
        grace_remaining: row
            .grace_ends_at
            .filter(|_| display == DisplayStatus::Rotated)
            .map(|end| format::remaining(now, end))
            .unwrap_or_default(),
        grace_ends: row.grace_ends_at.map(format::datetime).unwrap_or_default(),
        in_grace: display == DisplayStatus::Rotated,
        revoked: row.revoked_at.map(format::datetime).unwrap_or_default(),
        revoked_by: row.revoked_by.clone().unwrap_or_default(),
        stopped: stopped_at.map(format::datetime).unwrap_or_default(),
        can_rotate: false,
        rotation_waits: false,
        can_revoke: false,
        can_disable: false,
        can_enable: false,
        enable_refused: None,
        can_edit: false,
        can_duplicate: false,
        can_renew: false,
        can_delete: false,
        can_reveal: false,
        shown_on: Origin::List,
        environment: row.environment,
        display,
        created_at: row.created_at,
        stopped_at,
        lineage_id: row.lineage_id.clone(),
    })
}
