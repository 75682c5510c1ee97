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

    /// Given failure times newest first (at least the newest `max_failures` within the
    /// window), when sign-in opens again, or `None` if it is open now.
    pub fn blocked_until(&self, newest_first: &[PrimitiveDateTime]) -> Option<PrimitiveDateTime> {
        newest_first
            .get(self.max_failures.checked_sub(1)?)
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
    fn the_fifth_failure_blocks_until_the_oldest_leaves_the_window() {
        let t = datetime!(2026-11-03 14:00);
        let failures: Vec<_> = (0..5).map(|i| t - Duration::minutes(i)).collect();
        assert_eq!(
            SignInThrottle::default().blocked_until(&failures),
            Some(t - Duration::minutes(4) + Duration::minutes(15))
        );
    }
}
