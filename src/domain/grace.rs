//! The grace period a rotation leaves the old key: the key policy's default and the
//! choice made at each rotation.

use time::{Duration, PrimitiveDateTime};

use super::validation::ValidationError;

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
