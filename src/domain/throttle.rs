use time::{Duration, PrimitiveDateTime};

/// How many failed sign-ins an account or an address may have in a sliding window
/// before sign-in is refused for it.
#[derive(Debug, Clone, Copy)]
pub struct SignInThrottle {
    /// Failures allowed within the window.
    pub max_failures: usize,
    /// The sliding window.
    pub window: Duration,
}

impl Default for SignInThrottle {
    fn default() -> Self {
        Self {
            max_failures: 5,
            window: Duration::minutes(15),
        }
    }
}

impl SignInThrottle {
    /// Where the window starts at `now`.
    pub fn window_start(&self, now: PrimitiveDateTime) -> PrimitiveDateTime {
        now - self.window
    }

    /// Given the failure times newest first, this attempt's own record included (it
    /// is written before the password is checked, so parallel attempts count each
    /// other), when sign-in opens again, or `None` if this attempt may proceed.
    pub fn blocked_until(&self, newest_first: &[PrimitiveDateTime]) -> Option<PrimitiveDateTime> {
        newest_first
            .get(self.max_failures)
            .map(|oldest_counted| *oldest_counted + self.window)
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn four_failures_leave_sign_in_open() {
        let t = datetime!(2026-11-03 14:00);
        let failures = [
            t,
            t - Duration::minutes(1),
            t - Duration::minutes(2),
            t - Duration::minutes(3),
        ];
        assert_eq!(SignInThrottle::default().blocked_until(&failures), None);
    }

    #[test]
    fn five_failures_block_the_next_attempt_until_the_oldest_leaves_the_window() {
        let t = datetime!(2026-11-03 14:00);
        let failures: Vec<_> = (0..6).map(|i| t - Duration::minutes(i)).collect();
        assert_eq!(
            SignInThrottle::default().blocked_until(&failures),
            Some(t - Duration::minutes(5) + Duration::minutes(15))
        );
    }
}
