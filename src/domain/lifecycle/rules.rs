//! The rules every key change must pass, checked inside the transaction that makes the
//! change, with the facts the caller read.

use time::PrimitiveDateTime;

use super::status::{KeyFacts, KeyStatus};
use crate::domain::environment::Environment;
use crate::domain::policy::KeyPolicy;

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
    /// Only test keys are revealed again: a live key's plaintext is kept nowhere.
    #[error("A live key is shown only once, when it is generated. Rotate it to get a new one.")]
    RevealLiveKey,
    /// The Key Policy keeps test keys, like live ones, to the one reveal.
    #[error(
        "This merchant's key policy does not let test keys be revealed again. An admin can allow it on the Key Policy page."
    )]
    RevealNotAllowed,
}

impl Refusal {
    /// The stable code the management API answers this refusal with: one per rule, so
    /// automation can tell the rules apart without reading messages.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::LimitReached { .. } => "active_key_limit",
            Refusal::RotationInGrace => "rotation_in_progress",
            Refusal::RotateNeedsActive => "rotate_needs_active",
            Refusal::Revoked => "key_revoked",
            Refusal::Deleted => "key_deleted",
            Refusal::RevokeNeedsDisabled => "must_disable_first",
            Refusal::DeleteNeedsInactive => "must_deactivate_first",
            Refusal::RevokeNotConfirmed => "revoke_not_confirmed",
            Refusal::DeleteNotConfirmed => "delete_not_confirmed",
            Refusal::WrongState(_) => "wrong_state",
            Refusal::ScopesFixed => "scopes_fixed",
            Refusal::Concurrent => "concurrent_change",
            Refusal::NoLifetime => "no_lifetime",
            Refusal::NotPermitted => "not_permitted",
            Refusal::RevealLiveKey => "live_key_not_revealable",
            Refusal::RevealNotAllowed => "reveal_not_allowed",
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

/// A new expiry given at Edit: an active key past its expiry that the new one brings
/// back must fit within the active-key limit, as at renewal.
pub fn check_expiry_change(
    key: &KeyFacts,
    new_expiry: Option<PrimitiveDateTime>,
    active_keys: u64,
    policy: &KeyPolicy,
    now: PrimitiveDateTime,
) -> Result<(), Refusal> {
    let brought_back = new_expiry.is_none_or(|at| now < at);
    if key.status == KeyStatus::Active && key.is_expired(now) && brought_back {
        check_limit(active_keys, policy)?;
    }
    Ok(())
}

/// Duplicating: a new key with the presets of any key not deleted, within the
/// active-key limit like any new key.
pub fn check_duplicate(key: &KeyFacts, active_keys: u64, policy: &KeyPolicy) -> Result<(), Refusal> {
    if key.status == KeyStatus::Deleted {
        return Err(Refusal::Deleted);
    }
    check_limit(active_keys, policy)
}

/// Revealing a key again: a test key not revoked or deleted, where the Key Policy lets
/// test keys be revealed again. A live key never is: only its digest is stored.
pub fn check_reveal(key: &KeyFacts, environment: Environment, policy: &KeyPolicy) -> Result<(), Refusal> {
    refuse_final(key)?;
    if environment != Environment::Test {
        return Err(Refusal::RevealLiveKey);
    }
    if !policy.test_keys_revealable {
        return Err(Refusal::RevealNotAllowed);
    }
    Ok(())
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
