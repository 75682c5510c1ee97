//! The fields a person types for a key: name, description and its own rate limit.

use crate::domain::key::ApiKey;
use crate::domain::names::{MAX_NAME_CHARS, parse_single_line};
use crate::domain::token::ManagementToken;
use crate::domain::validation::{ValidationError, is_forbidden_char};

const MAX_DESCRIPTION_CHARS: usize = 500;

/// A key's name, or none when the policy lets it be left empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyName(String);

impl KeyName {
    /// Parses a typed name: one line, at most 100 characters, in its NFKC form, with no
    /// invisible characters. Empty is `None` when the name is optional.
    pub fn parse(raw: &str, required: bool) -> Result<Option<Self>, ValidationError> {
        const FIELD: &str = "Name";
        match parse_single_line(raw, FIELD) {
            Err(ValidationError::Empty { .. }) if !required => Ok(None),
            Ok(name) if holds_a_secret(&name) => Err(holds_a_key(FIELD)),
            parsed => parsed.map(|name| Some(Self(name))),
        }
    }

    /// The name a duplicate gets when none is given: "<source name> (copy)", within the
    /// longest name a key may have.
    pub fn copy_of(source: &str) -> String {
        const SUFFIX: &str = " (copy)";
        let kept: String = source
            .chars()
            .take(MAX_NAME_CHARS - SUFFIX.chars().count())
            .collect();
        format!("{}{SUFFIX}", kept.trim_end())
    }

    /// The name given to the n-th unnamed key.
    pub fn numbered(n: u64) -> Self {
        Self(format!("Key {n}"))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A whole key or management token written into a name or a description would be
/// shown to every reader of the merchant and kept in history: refused, saying why.
fn holds_a_key(field: &'static str) -> ValidationError {
    ValidationError::Invalid {
        field,
        reason: "must not contain an API key or a management token; they are secrets and are never shown again",
    }
}

fn holds_a_secret(text: &str) -> bool {
    ApiKey::find_in(text).is_some() || ManagementToken::find_in(text).is_some()
}

/// A key's free-text description: up to 500 characters, line breaks allowed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyDescription(String);

impl KeyDescription {
    /// Parses a typed description.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        const FIELD: &str = "Description";
        let text = raw.trim();
        if text.chars().count() > MAX_DESCRIPTION_CHARS {
            return Err(ValidationError::TooLong {
                field: FIELD,
                max: MAX_DESCRIPTION_CHARS,
            });
        }
        if text
            .chars()
            .any(|c| !matches!(c, '\n' | '\r' | '\t') && is_forbidden_char(c))
        {
            return Err(ValidationError::ControlCharacters { field: FIELD });
        }
        if holds_a_secret(text) {
            return Err(holds_a_key(FIELD));
        }
        Ok(Self(text.to_owned()))
    }

    /// The description as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The most requests per minute a key's own limit may allow.
pub const MAX_RATE_LIMIT_PER_MINUTE: u32 = 1_000_000;

/// Parses the optional per-key limit typed at Generate: empty for none, or a whole
/// number of requests per minute.
pub fn parse_rate_limit(raw: &str) -> Result<Option<u32>, ValidationError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    raw.parse::<u32>()
        .ok()
        .filter(|limit| (1..=MAX_RATE_LIMIT_PER_MINUTE).contains(limit))
        .map(Some)
        .ok_or(ValidationError::Invalid {
            field: "Rate limit",
            reason: "give a whole number of requests per minute from 1 to 1000000, or leave it empty",
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copys_default_name_is_always_a_valid_name() {
        assert_eq!(KeyName::copy_of("Checkout"), "Checkout (copy)");
        let long = KeyName::copy_of(&"é".repeat(100));
        assert_eq!(long.chars().count(), MAX_NAME_CHARS);
        assert!(long.ends_with(" (copy)"));
        assert!(KeyName::parse(&long, true).is_ok(), "{long}");
    }
}
