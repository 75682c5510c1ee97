//! The one source of "now", so tests can move time forward.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use time::{Duration, OffsetDateTime, PrimitiveDateTime};

/// Wall-clock time in UTC, truncated to microseconds so SQLite and Postgres store the
/// same value. Clones share one offset: moving one moves them all.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    offset_micros: Arc<AtomicI64>,
}

impl Clock {
    /// The current UTC time, plus whatever the clock has been advanced by.
    pub fn now(&self) -> PrimitiveDateTime {
        let now =
            OffsetDateTime::now_utc() + Duration::microseconds(self.offset_micros.load(Ordering::Relaxed));
        let now = now
            .replace_nanosecond(now.microsecond() * 1_000)
            .expect("whole microseconds are always a valid nanosecond count");
        PrimitiveDateTime::new(now.date(), now.time())
    }

    /// Moves this clock and all its clones forward (or back, with a negative duration).
    pub fn advance(&self, by: Duration) {
        let micros = i64::try_from(by.whole_microseconds()).unwrap_or(i64::MAX);
        self.offset_micros.fetch_add(micros, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_has_no_sub_microsecond_part() {
        assert_eq!(Clock::default().now().nanosecond() % 1_000, 0);
    }

    #[test]
    fn advancing_a_clone_moves_the_original() {
        let clock = Clock::default();
        let before = clock.now();
        clock.clone().advance(Duration::hours(2));
        let moved = clock.now() - before;
        assert!(moved >= Duration::hours(2) && moved < Duration::hours(2) + Duration::seconds(5));
    }
}
