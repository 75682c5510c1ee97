use super::{ValidationError, is_forbidden_char};

const MAX_NAME_CHARS: usize = 100;

fn parse_single_line(raw: &str, field: &'static str) -> Result<String, ValidationError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(ValidationError::Empty { field });
    }
    if trimmed.chars().count() > MAX_NAME_CHARS {
        return Err(ValidationError::TooLong {
            field,
            max: MAX_NAME_CHARS,
        });
    }
    if trimmed.chars().any(is_forbidden_char) {
        return Err(ValidationError::ControlCharacters { field });
    }
    Ok(trimmed.to_owned())
}

/// A merchant's display name: one line, 1 to 100 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerchantName(String);

impl MerchantName {
    /// Parses a raw merchant name, trimming surrounding white space.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        parse_single_line(raw, "Merchant name").map(Self)
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A person's display name: one line, 1 to 100 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonName(String);

impl PersonName {
    /// Parses a raw person name, trimming surrounding white space.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        parse_single_line(raw, "Name").map(Self)
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed() {
        assert_eq!(PersonName::parse("  Ana Lima ").unwrap().as_str(), "Ana Lima");
    }

    #[test]
    fn empty_and_blank_names_are_refused() {
        assert!(matches!(
            PersonName::parse("   "),
            Err(ValidationError::Empty { .. })
        ));
    }

    #[test]
    fn a_hundred_characters_pass_and_a_hundred_and_one_do_not() {
        assert!(MerchantName::parse(&"é".repeat(100)).is_ok());
        assert!(matches!(
            MerchantName::parse(&"é".repeat(101)),
            Err(ValidationError::TooLong { max: 100, .. })
        ));
    }

    #[test]
    fn control_characters_and_bidi_overrides_are_refused() {
        for raw in ["a\nb", "a\tb", "a\u{0}b", "evil\u{202E}txt"] {
            assert!(
                matches!(
                    MerchantName::parse(raw),
                    Err(ValidationError::ControlCharacters { .. })
                ),
                "{raw:?} was accepted"
            );
        }
    }
}
