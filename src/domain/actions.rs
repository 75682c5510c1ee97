//! Which actions a key offers. Each is offered exactly when its rule would let it
//! through with the person's confirmation given, so the dashboard, the command line and
//! an API never offer what the transaction then refuses, nor hide what it would allow.

use time::PrimitiveDateTime;

use super::lifecycle::{
    KeyFacts, Refusal, check_delete, check_disable, check_edit, check_enable, check_renew, check_revoke,
    check_rotate,
};
use super::policy::KeyPolicy;
use super::role::{Permission, Role};

/// What the rules look at besides the key itself.
#[derive(Debug, Clone, Copy)]
pub struct KeySurroundings<'a> {
    /// Another version of the key's lineage is in its grace period.
    pub lineage_in_grace: bool,
    /// The merchant's keys that count toward the active-key limit now.
    pub active_keys: u64,
    /// The merchant's key policy.
    pub policy: &'a KeyPolicy,
    /// The role of the person asking.
    pub role: Role,
    /// Now.
    pub now: PrimitiveDateTime,
}

/// For each action on a key, whether it would succeed, or the rule that refuses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedActions {
    /// Rotate Key.
    pub rotate: Result<(), Refusal>,
    /// Revoke Key (once REVOKE is typed).
    pub revoke: Result<(), Refusal>,
    /// Disable.
    pub disable: Result<(), Refusal>,
    /// Enable.
    pub enable: Result<(), Refusal>,
    /// Edit (name and description; scopes where the policy allows).
    pub edit: Result<(), Refusal>,
    /// Renew.
    pub renew: Result<(), Refusal>,
    /// Delete (once the box is ticked).
    pub delete: Result<(), Refusal>,
}

/// Asks every rule about `key`: the one place that decides what a key offers. A role
/// that may not manage keys is offered nothing.
pub fn allowed_actions(key: &KeyFacts, around: &KeySurroundings<'_>) -> AllowedActions {
    if !around.role.allows(Permission::ManageKeys) {
        let refused = || Err(Refusal::NotPermitted);
        return AllowedActions {
            rotate: refused(),
            revoke: refused(),
            disable: refused(),
            enable: refused(),
            edit: refused(),
            renew: refused(),
            delete: refused(),
        };
    }
    let KeySurroundings {
        lineage_in_grace,
        active_keys,
        policy,
        now,
        ..
    } = *around;
    AllowedActions {
        rotate: check_rotate(key, lineage_in_grace, now),
        revoke: check_revoke(key, "REVOKE", policy),
        disable: check_disable(key),
        enable: check_enable(key, active_keys, policy, now),
        edit: check_edit(key, false, policy),
        renew: check_renew(key, active_keys, policy, now),
        delete: check_delete(key, true, policy, now),
    }
}
