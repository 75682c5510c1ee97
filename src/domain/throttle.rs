//! Sign-in throttling: a short lock for an account after a few failed password checks,
//! and a much higher bar for an address, so that one account's failures never shut out
//! the other accounts signing in from the same address (an office, a NAT, a proxy).

use time::{Duration, PrimitiveDateTime};

/// The limits on failed password checks.
#[derive(Debug, Clone, Copy)]
pub struct SignInThrottle {
    /// Failures an account may have (since its last lock, within the window) before it
    /// is locked.
    pub account_failures: usize,
    /// How long a locked account stays locked; its right password included, so short.
    pub lock: Duration,
    /// Failures an address may have within the window, across accounts, before every
    /// sign-in from it waits.
    pub address_failures: usize,
    /// The sliding window failures are counted in.
    pub window: Duration,
}

impl Default for SignInThrottle {
    fn default() -> Self {
        Self {
            account_failures: 5,
            lock: Duration::minutes(5),
            address_failures: 50,
            window: Duration::minutes(15),
        }
    }
}

/// What is known at an attempt, the attempt's own record counted: it is written before
/// the password is checked, so parallel attempts count each other.
#[derive(Debug, Clone, Copy)]
pub struct AttemptRecord<'a> {
    /// When the account's latest lock ends (or ended).
    pub locked_until: Option<PrimitiveDateTime>,
    /// The account's failures since [`SignInThrottle::account_count_start`], newest first.
    pub account_failures: &'a [PrimitiveDateTime],
    /// The address's failures within the window, newest first.
    pub address_failures: &'a [PrimitiveDateTime],
}

/// Who is held back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    /// The account is locked.
    Account,
    /// The address has had too many failures.
    Address,
}

/// The throttle's answer to an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Check the password.
    Check {
        /// A wrong password now locks the account.
        locks_account: bool,
        /// A wrong password now brings the address to its limit.
        fills_address: bool,
    },
    /// Refuse without checking anything.
    Refuse {
        /// When an attempt may be made again.
        until: PrimitiveDateTime,
        /// Who is held back.
        held: Held,
    },
}

impl SignInThrottle {
    /// Where the window starts at `now`.
    pub fn window_start(&self, now: PrimitiveDateTime) -> PrimitiveDateTime {
        now - self.window
    }

    /// Where an account's failures are counted from: the window's start, or the end of
    /// its latest lock if later, so that each lock is followed by a fresh allowance.
    pub fn account_count_start(
        &self,
        now: PrimitiveDateTime,
        locked_until: Option<PrimitiveDateTime>,
    ) -> PrimitiveDateTime {
        let window_start = self.window_start(now);
        locked_until.map_or(window_start, |until| until.max(window_start))
    }

    /// Whether an attempt may check its password.
    pub fn judge(&self, now: PrimitiveDateTime, record: &AttemptRecord<'_>) -> Verdict {
        if let Some(until) = record.locked_until.filter(|until| *until > now) {
            return Verdict::Refuse {
                until,
                held: Held::Account,
            };
        }
        if let Some(oldest_counted) = record.address_failures.get(self.address_failures) {
            return Verdict::Refuse {
                until: *oldest_counted + self.window,
                held: Held::Address,
            };
        }
        // More attempts than the allowance: an attempt in flight is the one about to lock
        // the account.
        if record.account_failures.len() > self.account_failures {
            return Verdict::Refuse {
                until: now + self.lock,
                held: Held::Account,
            };
        }
        Verdict::Check {
            locks_account: record.account_failures.len() == self.account_failures,
            fills_address: record.address_failures.len() == self.address_failures,
        }
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    const NOW: PrimitiveDateTime = datetime!(2026-11-03 14:00);

    /// `count` failures a second apart, newest first, ending now.
    fn failures(count: i64) -> Vec<PrimitiveDateTime> {
        (0..count).map(|i| NOW - Duration::seconds(i)).collect()
    }

    fn judge(locked_until: Option<PrimitiveDateTime>, account: i64, address: i64) -> Verdict {
        SignInThrottle::default().judge(
            NOW,
            &AttemptRecord {
                locked_until,
                account_failures: &failures(account),
                address_failures: &failures(address),
            },
        )
    }

    #[test]
    fn the_first_four_failures_are_checked_and_the_fifth_locks_on_failure() {
        for count in 1..5 {
            assert_eq!(
                judge(None, count, count),
                Verdict::Check {
                    locks_account: false,
                    fills_address: false
                }
            );
        }
        assert_eq!(
            judge(None, 5, 5),
            Verdict::Check {
                locks_account: true,
                fills_address: false
            }
        );
    }

    #[test]
    fn a_locked_account_is_refused_until_the_lock_ends() {
        let until = NOW + Duration::minutes(3);
        assert_eq!(
            judge(Some(until), 1, 1),
            Verdict::Refuse {
                until,
                held: Held::Account
            }
        );
        assert!(matches!(judge(Some(NOW), 1, 1), Verdict::Check { .. }));
    }

    #[test]
    fn failures_are_counted_from_the_end_of_the_last_lock() {
        let throttle = SignInThrottle::default();
        let ended = NOW - Duration::minutes(2);
        assert_eq!(throttle.account_count_start(NOW, Some(ended)), ended);
        assert_eq!(
            throttle.account_count_start(NOW, Some(NOW - Duration::hours(1))),
            NOW - Duration::minutes(15)
        );
        assert_eq!(
            throttle.account_count_start(NOW, None),
            NOW - Duration::minutes(15)
        );
    }

    #[test]
    fn an_address_is_held_only_past_fifty_failures() {
        assert_eq!(
            judge(None, 1, 50),
            Verdict::Check {
                locks_account: false,
                fills_address: true
            }
        );
        assert_eq!(
            judge(None, 1, 51),
            Verdict::Refuse {
                until: NOW - Duration::seconds(50) + Duration::minutes(15),
                held: Held::Address
            }
        );
    }

    #[test]
    fn attempts_past_the_allowance_wait_for_the_lock_being_set() {
        assert_eq!(
            judge(None, 6, 6),
            Verdict::Refuse {
                until: NOW + Duration::minutes(5),
                held: Held::Account
            }
        );
    }
}
