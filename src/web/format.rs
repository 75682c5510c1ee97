//! Times as pages show them.

use time::macros::format_description;
use time::{Duration, PrimitiveDateTime};

/// `3 Nov 2026 14:02 UTC`.
pub fn datetime(at: PrimitiveDateTime) -> String {
    let text = at
        .format(format_description!(
            "[day padding:none] [month repr:short] [year] [hour]:[minute]"
        ))
        .unwrap_or_default();
    format!("{text} UTC")
}

/// `3 Nov 2026`.
pub fn date(at: PrimitiveDateTime) -> String {
    at.format(format_description!(
        "[day padding:none] [month repr:short] [year]"
    ))
    .unwrap_or_default()
}

/// What is left until `end`: `2d 5h`, `5h 12m`, `12m`, or `less than a minute`.
pub fn remaining(now: PrimitiveDateTime, end: PrimitiveDateTime) -> String {
    let left = end - now;
    if left < Duration::minutes(1) {
        return "less than a minute".to_owned();
    }
    let (days, hours, minutes) = (
        left.whole_days(),
        left.whole_hours() % 24,
        left.whole_minutes() % 60,
    );
    match (days, hours) {
        (0, 0) => format!("{minutes}m"),
        (0, _) => format!("{hours}h {minutes}m"),
        _ => format!("{days}d {hours}h"),
    }
}

/// How long ago `then` was: `just now`, `5 minutes ago`, `3 hours ago`, `2 days ago`.
pub fn ago(now: PrimitiveDateTime, then: PrimitiveDateTime) -> String {
    let elapsed = now - then;
    let plural = |n: i64, unit: &str| {
        if n == 1 {
            format!("1 {unit} ago")
        } else {
            format!("{n} {unit}s ago")
        }
    };
    if elapsed < Duration::minutes(1) {
        "just now".to_owned()
    } else if elapsed < Duration::hours(1) {
        plural(elapsed.whole_minutes(), "minute")
    } else if elapsed < Duration::days(1) {
        plural(elapsed.whole_hours(), "hour")
    } else {
        plural(elapsed.whole_days(), "day")
    }
}

/// `2026-11-03T14:02:00Z`, for `<time datetime>`.
pub fn iso(at: PrimitiveDateTime) -> String {
    at.assume_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn times_read_like_the_design() {
        assert_eq!(datetime(datetime!(2026-11-03 14:02)), "3 Nov 2026 14:02 UTC");
        assert_eq!(date(datetime!(2026-11-03 14:02)), "3 Nov 2026");
    }

    #[test]
    fn ages_read_naturally() {
        let now = datetime!(2026-11-03 12:00);
        assert_eq!(ago(now, now - Duration::seconds(20)), "just now");
        assert_eq!(ago(now, now - Duration::minutes(1)), "1 minute ago");
        assert_eq!(ago(now, now - Duration::minutes(42)), "42 minutes ago");
        assert_eq!(ago(now, now - Duration::hours(3)), "3 hours ago");
        assert_eq!(ago(now, now - Duration::days(9)), "9 days ago");
        assert_eq!(iso(now), "2026-11-03T12:00:00Z");
    }

    #[test]
    fn remaining_time_reads_like_violet() {
        let now = datetime!(2026-11-03 12:00);
        assert_eq!(
            remaining(
                now,
                now + Duration::days(2) + Duration::hours(5) + Duration::minutes(9)
            ),
            "2d 5h"
        );
        assert_eq!(
            remaining(now, now + Duration::hours(5) + Duration::minutes(12)),
            "5h 12m"
        );
        assert_eq!(remaining(now, now + Duration::minutes(12)), "12m");
        assert_eq!(remaining(now, now + Duration::seconds(30)), "less than a minute");
    }
}
