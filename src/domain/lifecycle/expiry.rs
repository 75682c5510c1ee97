//! When a key stops working: the expiry chosen at Generate, and the expiries renewal
//! and rotation give under today's policy.

use time::{Date, Duration, PrimitiveDateTime, Time};

use super::status::KeyFacts;
use crate::domain::policy::{KeyPolicy, MAX_LIFETIME_DAYS};
use crate::domain::validation::ValidationError;

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
