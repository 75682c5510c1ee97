//! A merchant's key policy: the settings that pick between the seeds' behaviours.

use super::grace::GracePeriod;
use super::validation::ValidationError;

/// The most active keys a policy may allow.
pub const MAX_ACTIVE_KEYS_LIMIT: u32 = 100;
/// The longest lifetime a key can be given, and a policy can cap keys at, in days (ten
/// years).
pub const MAX_LIFETIME_DAYS: u32 = 3650;

/// The rules a merchant's keys follow. A change applies to the next action and never
/// alters existing keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyPolicy {
    /// Active keys allowed at once (keys in a grace period do not count).
    pub max_active_keys: u32,
    /// The grace period a rotation offers first.
    pub default_grace: GracePeriod,
    /// A key must be named; otherwise an unnamed key is called "Key N".
    pub name_required: bool,
    /// An active key must be disabled before it can be revoked.
    pub revoke_only_disabled: bool,
    /// Only a key that no longer works (disabled, revoked, expired) can be deleted.
    pub delete_only_inactive: bool,
    /// Scopes can be changed after the key is generated.
    pub scopes_editable: bool,
    /// Keys must expire within this many days.
    pub max_lifetime_days: Option<u32>,
    /// A test key may be revealed again from its card (Stripe lets sandbox keys be);
    /// live keys never are. Off in every preset.
    pub test_keys_revealable: bool,
}

impl Default for KeyPolicy {
    fn default() -> Self {
        PolicyPreset::Standard.policy()
    }
}

/// Ready-made policies, one per seed page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyPreset {
    /// Violet: one active key; two only during a rotation's grace period.
    SingleKey,
    /// The default: up to five named keys (Gelato).
    Standard,
    /// The warehouse API: up to five keys, a name optional ("Key N" otherwise).
    Flexible,
    /// The payments platform: Enabled → Disabled → Revoked, scopes fixed at creation.
    StrictLifecycle,
    /// VTEX: named keys that live at most 90 days and are renewed.
    TokenLifetime,
}

impl PolicyPreset {
    /// Every preset, as offered on the page.
    pub const ALL: [PolicyPreset; 5] = [
        PolicyPreset::SingleKey,
        PolicyPreset::Standard,
        PolicyPreset::Flexible,
        PolicyPreset::StrictLifecycle,
        PolicyPreset::TokenLifetime,
    ];

    /// The preset's form value.
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyPreset::SingleKey => "single-key",
            PolicyPreset::Standard => "standard",
            PolicyPreset::Flexible => "flexible",
            PolicyPreset::StrictLifecycle => "strict-lifecycle",
            PolicyPreset::TokenLifetime => "token-lifetime",
        }
    }

    /// The preset's name on the page.
    pub fn label(self) -> &'static str {
        match self {
            PolicyPreset::SingleKey => "Single key",
            PolicyPreset::Standard => "Standard",
            PolicyPreset::Flexible => "Flexible",
            PolicyPreset::StrictLifecycle => "Strict lifecycle",
            PolicyPreset::TokenLifetime => "Token lifetime",
        }
    }

    /// What the preset does, in a sentence.
    pub fn description(self) -> &'static str {
        match self {
            PolicyPreset::SingleKey => {
                "One active key; rotate to replace it, with both keys working during the grace period."
            }
            PolicyPreset::Standard => "Up to five named keys; deactivate a key before deleting it.",
            PolicyPreset::Flexible => {
                "Up to five keys; a name is optional, and unnamed keys are called Key 1, Key 2…"
            }
            PolicyPreset::StrictLifecycle => {
                "Disable a key before revoking it; scopes are fixed when the key is generated."
            }
            PolicyPreset::TokenLifetime => {
                "Named keys that expire within 90 days and are renewed before they end."
            }
        }
    }

    /// Parses a preset's form value.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        PolicyPreset::ALL
            .into_iter()
            .find(|preset| preset.as_str() == raw)
            .ok_or(ValidationError::Invalid {
                field: "Preset",
                reason: "choose one of the presets listed",
            })
    }

    /// The settings this preset stands for.
    pub fn policy(self) -> KeyPolicy {
        let standard = KeyPolicy {
            max_active_keys: 5,
            default_grace: GracePeriod::ThreeDays,
            name_required: true,
            revoke_only_disabled: false,
            delete_only_inactive: true,
            scopes_editable: true,
            max_lifetime_days: None,
            test_keys_revealable: false,
        };
        match self {
            PolicyPreset::Standard => standard,
            PolicyPreset::SingleKey => KeyPolicy {
                max_active_keys: 1,
                name_required: false,
                ..standard
            },
            PolicyPreset::Flexible => KeyPolicy {
                name_required: false,
                ..standard
            },
            PolicyPreset::StrictLifecycle => KeyPolicy {
                revoke_only_disabled: true,
                scopes_editable: false,
                ..standard
            },
            PolicyPreset::TokenLifetime => KeyPolicy {
                max_lifetime_days: Some(90),
                ..standard
            },
        }
    }
}

impl KeyPolicy {
    /// The preset these settings match exactly, if any.
    pub fn preset(&self) -> Option<PolicyPreset> {
        PolicyPreset::ALL
            .into_iter()
            .find(|preset| preset.policy() == *self)
    }

    /// Checks settings typed on the Key Policy page.
    pub fn validate(self) -> Result<Self, ValidationError> {
        if !(1..=MAX_ACTIVE_KEYS_LIMIT).contains(&self.max_active_keys) {
            return Err(ValidationError::Invalid {
                field: "Maximum active keys",
                reason: "it must be a whole number from 1 to 100",
            });
        }
        if let Some(days) = self.max_lifetime_days
            && !(1..=MAX_LIFETIME_DAYS).contains(&days)
        {
            return Err(ValidationError::Invalid {
                field: "Maximum key lifetime",
                reason: "it must be a whole number of days from 1 to 3650, or empty for none",
            });
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_the_standard_preset_of_design_md() {
        let policy = KeyPolicy::default();
        assert_eq!(policy.max_active_keys, 5);
        assert_eq!(policy.default_grace, GracePeriod::ThreeDays);
        assert!(policy.name_required && policy.delete_only_inactive && policy.scopes_editable);
        assert!(!policy.revoke_only_disabled);
        assert_eq!(policy.max_lifetime_days, None);
        assert_eq!(policy.preset(), Some(PolicyPreset::Standard));
    }

    #[test]
    fn each_preset_reproduces_its_seed() {
        assert_eq!(PolicyPreset::SingleKey.policy().max_active_keys, 1);
        let strict = PolicyPreset::StrictLifecycle.policy();
        assert!(strict.revoke_only_disabled && !strict.scopes_editable);
        let flexible = PolicyPreset::Flexible.policy();
        assert!(!flexible.name_required);
        assert_eq!(flexible.max_active_keys, 5);
        let token = PolicyPreset::TokenLifetime.policy();
        assert!(token.name_required);
        assert_eq!(token.max_lifetime_days, Some(90));
        for preset in PolicyPreset::ALL {
            assert_eq!(preset.policy().preset(), Some(preset));
            assert_eq!(PolicyPreset::parse(preset.as_str()), Ok(preset));
        }
    }

    #[test]
    fn out_of_range_settings_are_refused() {
        let policy = KeyPolicy::default();
        assert!(
            KeyPolicy {
                max_active_keys: 0,
                ..policy
            }
            .validate()
            .is_err()
        );
        assert!(
            KeyPolicy {
                max_active_keys: 101,
                ..policy
            }
            .validate()
            .is_err()
        );
        assert!(
            KeyPolicy {
                max_lifetime_days: Some(0),
                ..policy
            }
            .validate()
            .is_err()
        );
        assert!(
            KeyPolicy {
                max_lifetime_days: Some(90),
                ..policy
            }
            .validate()
            .is_ok()
        );
    }
}
