//! Key states and the rules every change must pass, checked inside the transaction
//! that makes the change. No I/O: callers pass in what they read.

mod expiry;
mod fields;
mod rules;
mod status;

pub use expiry::{Expiry, LIFETIME_CHOICES, renewed_expiry, rotated_expiry};
pub use fields::{KeyDescription, KeyName, parse_rate_limit};
pub use rules::{
    Refusal, check_delete, check_disable, check_duplicate, check_edit, check_enable, check_expiry_change,
    check_limit, check_renew, check_reveal, check_revoke, check_rotate,
};
pub use status::{DisplayStatus, KeyFacts, KeyStatus};

#[cfg(test)]
mod tests {
    use time::macros::{date, datetime};
    use time::{Duration, PrimitiveDateTime};

    use super::*;
    use crate::domain::grace::GracePeriod;
    use crate::domain::policy::{KeyPolicy, PolicyPreset};

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
    fn a_new_expiry_that_brings_an_expired_key_back_counts_toward_the_limit() {
        let single = PolicyPreset::SingleKey.policy();
        let expired = KeyFacts {
            expires_at: Some(NOW - Duration::hours(1)),
            ..key(KeyStatus::Active)
        };
        let later = Some(NOW + Duration::days(1));
        assert_eq!(
            check_expiry_change(&expired, later, 1, &single, NOW),
            Err(Refusal::LimitReached { active: 1, max: 1 })
        );
        assert_eq!(check_expiry_change(&expired, None, 0, &single, NOW), Ok(()));
        assert_eq!(
            check_expiry_change(&expired, Some(NOW), 1, &single, NOW),
            Ok(()),
            "an expiry already past brings nothing back"
        );
        assert_eq!(
            check_expiry_change(&key(KeyStatus::Active), later, 1, &single, NOW),
            Ok(()),
            "a working key counts already"
        );
        let disabled = KeyFacts {
            status: KeyStatus::Disabled,
            ..expired
        };
        assert_eq!(check_expiry_change(&disabled, later, 1, &single, NOW), Ok(()));
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
