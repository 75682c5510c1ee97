//! The shared windows' clock: windows start on the minute, so every instance (and
//! Redis) names the same one.

/// A shared window's length.
pub const WINDOW_MS: i64 = 60_000;

/// Now, in unix milliseconds.
pub fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| i64::try_from(since.as_millis()).unwrap_or(i64::MAX))
}
