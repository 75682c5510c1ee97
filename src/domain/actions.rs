//! Which actions a key offers. Each is offered exactly when its rule would let it
//! through with the person's confirmation given, so the dashboard, the command line and
//! an API never offer what the transaction then refuses, nor hide what it would allow.

use time::PrimitiveDateTime;

use super::environment::Environment;
use super::lifecycle::{
    KeyFacts, Refusal, check_delete, check_disable, check_duplicate, check_edit, check_enable, check_limit,
    check_renew, check_reveal, check_revoke, check_rotate,
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
    /// Duplicate (a new key with this one's presets).
    pub duplicate: Result<(), Refusal>,
}

/// Whether Generate New API Key would succeed for `role` with `active_keys` active now:
/// the page's button and the form ask this, as the transaction asks [`check_limit`].
pub fn allowed_generate(role: Role, active_keys: u64, policy: &KeyPolicy) -> Result<(), Refusal> {
    if !role.allows(Permission::ManageKeys) {
        return Err(Refusal::NotPermitted);
    }
    check_limit(active_keys, policy)
}

/// Whether Reveal (a test key shown again) would succeed for `role` on `key`, a key of
/// `environment`: the card's button and the management API ask this, as the transaction
/// asks [`check_reveal`].
pub fn allowed_reveal(
    role: Role,
    key: &KeyFacts,
    environment: Environment,
    policy: &KeyPolicy,
) -> Result<(), Refusal> {
    if !role.allows(Permission::ManageKeys) {
        return Err(Refusal::NotPermitted);
    }
    check_reveal(key, environment, policy)
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
            duplicate: refused(),
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
        duplicate: check_duplicate(key, active_keys, policy),
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    #[test]
    fn only_test_keys_are_revealed_again_and_only_where_the_policy_allows() {
        let allowing = KeyPolicy {
            test_keys_revealable: true,
            ..KeyPolicy::default()
        };
        let active = key(KeyStatus::Active);
        assert_eq!(
            allowed_reveal(Role::Developer, &active, Environment::Test, &allowing),
            Ok(())
        );
        assert_eq!(
            allowed_reveal(Role::Admin, &active, Environment::Live, &allowing),
            Err(Refusal::RevealLiveKey)
        );
        assert_eq!(
            allowed_reveal(Role::Admin, &active, Environment::Test, &KeyPolicy::default()),
            Err(Refusal::RevealNotAllowed),
            "off by default"
        );
        assert_eq!(
            allowed_reveal(Role::Viewer, &active, Environment::Test, &allowing),
            Err(Refusal::NotPermitted)
        );
        assert_eq!(
            allowed_reveal(
                Role::Admin,
                &key(KeyStatus::Revoked),
                Environment::Test,
                &allowing
            ),
            Err(Refusal::Revoked)
        );
    }

    use super::*;
    use crate::domain::lifecycle::KeyStatus;
    use crate::domain::policy::PolicyPreset;

    fn key(status: KeyStatus) -> KeyFacts {
        KeyFacts {
            status,
            expires_at: None,
            grace_ends_at: None,
            lifetime_days: None,
        }
    }

    #[test]
    fn generate_and_duplicate_stop_at_the_limit_and_are_not_for_readers() {
        let single = PolicyPreset::SingleKey.policy();
        assert_eq!(allowed_generate(Role::Developer, 0, &single), Ok(()));
        assert_eq!(
            allowed_generate(Role::Admin, 1, &single),
            Err(Refusal::LimitReached { active: 1, max: 1 })
        );
        assert_eq!(
            allowed_generate(Role::Viewer, 0, &single),
            Err(Refusal::NotPermitted)
        );
        let around = |active_keys, role| KeySurroundings {
            lineage_in_grace: false,
            active_keys,
            policy: &single,
            role,
            now: datetime!(2026-11-03 14:02),
        };
        let revoked = key(KeyStatus::Revoked);
        assert_eq!(
            allowed_actions(&revoked, &around(0, Role::Admin)).duplicate,
            Ok(())
        );
        assert_eq!(
            allowed_actions(&revoked, &around(1, Role::Admin)).duplicate,
            Err(Refusal::LimitReached { active: 1, max: 1 })
        );
        assert_eq!(
            allowed_actions(&key(KeyStatus::Deleted), &around(0, Role::Admin)).duplicate,
            Err(Refusal::Deleted)
        );
        assert_eq!(
            allowed_actions(&revoked, &around(0, Role::Viewer)).duplicate,
            Err(Refusal::NotPermitted)
        );
    }
}
