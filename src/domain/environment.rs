//! Test and live keys. A key belongs to one environment for its whole lineage: its
//! prefix says which, so secret scanners and the APIs behind Keyward tell them apart,
//! and each environment has its own list, count and active-key limit.

use std::fmt;
use std::str::FromStr;

/// Where a key may be used: on live data, or only for testing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Environment {
    /// Live data: `kw_live_…`, every key made before test keys existed.
    #[default]
    Live,
    /// Testing only: `kw_test_…`.
    Test,
}

impl Environment {
    /// Both environments, in the order the switch offers them.
    pub const ALL: [Environment; 2] = [Environment::Live, Environment::Test];

    /// The environment as stored, in addresses, on the command line and in the APIs.
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Live => "live",
            Environment::Test => "test",
        }
    }

    /// The environment as a page names it.
    pub fn label(self) -> &'static str {
        match self {
            Environment::Live => "Live",
            Environment::Test => "Test",
        }
    }

    /// The prefix of this environment's keys. Neither may ever change: scanners and
    /// integrations recognise keys by them, and keys already issued carry them.
    pub fn key_prefix(self) -> &'static str {
        match self {
            Environment::Live => "kw_live_",
            Environment::Test => "kw_test_",
        }
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text was neither `live` nor `test`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown environment `{0}` (expected live or test)")]
pub struct UnknownEnvironment(pub String);

impl FromStr for Environment {
    type Err = UnknownEnvironment;

    fn from_str(raw: &str) -> Result<Self, UnknownEnvironment> {
        Environment::ALL
            .into_iter()
            .find(|environment| environment.as_str() == raw)
            .ok_or_else(|| UnknownEnvironment(raw.to_owned()))
    }
}

impl TryFrom<String> for Environment {
    type Error = UnknownEnvironment;

    fn try_from(raw: String) -> Result<Self, UnknownEnvironment> {
        raw.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prefixes_are_pinned_and_the_same_length() {
        assert_eq!(Environment::Live.key_prefix(), "kw_live_");
        assert_eq!(Environment::Test.key_prefix(), "kw_test_");
        assert_eq!(Environment::default(), Environment::Live);
    }

    #[test]
    fn only_the_stored_names_parse() {
        for environment in Environment::ALL {
            assert_eq!(environment.as_str().parse(), Ok(environment));
        }
        for wrong in ["", "Live", "TEST", "prod", " live"] {
            assert!(wrong.parse::<Environment>().is_err(), "{wrong:?}");
        }
    }
}
