use unicode_normalization::UnicodeNormalization;

use super::validation::{ValidationError, is_forbidden_char};

/// The longest name, in characters.
pub const MAX_NAME_CHARS: usize = 100;

/// Parses a one-line name of at most 100 characters, in its NFKC form: names that
/// look alike (`Ｐrod` and `Prod`, `ﬁle` and `file`) are then the same name. Invisible
/// characters (zero-width spaces and joiners, direction marks, the byte-order mark …)
/// are refused, so two names that read the same cannot both exist.
pub(crate) fn parse_single_line(raw: &str, field: &'static str) -> Result<String, ValidationError> {
    let normalized: String = raw.nfkc().collect();
    // Runs of spaces read as one on every page, so they are one in the name.
    let normalized = normalized
        .split(' ')
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let trimmed = normalized.trim();
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
    if trimmed.chars().any(is_invisible) {
        return Err(ValidationError::InvisibleCharacters { field });
    }
    Ok(trimmed.to_owned())
}

/// True for characters that show nothing, or nothing of their own: format characters
/// (zero-width space, joiners, word joiner, soft hyphen, byte-order mark), fillers
/// that render blank, variation selectors and tags.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{0600}'..='\u{0605}'
            | '\u{061C}'
            | '\u{06DD}'
            | '\u{070F}'
            | '\u{0890}'..='\u{0891}'
            | '\u{08E2}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{17B4}'
            | '\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{2800}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF0}'..='\u{FFFB}'
            | '\u{110BD}'
            | '\u{110CD}'
            | '\u{13430}'..='\u{1343F}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E0FFF}'
    )
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
    fn names_that_look_alike_normalize_to_one_form() {
        assert_eq!(PersonName::parse("Ｐｒｏｄ").unwrap().as_str(), "Prod");
        assert_eq!(PersonName::parse("\u{FB01}le").unwrap().as_str(), "file");
        assert_eq!(PersonName::parse("Cafe\u{301}").unwrap().as_str(), "Caf\u{E9}");
        assert_eq!(PersonName::parse("Prod   Key").unwrap().as_str(), "Prod Key");
    }

    #[test]
    fn invisible_characters_are_refused() {
        for raw in [
            "Pr\u{200B}od",
            "Prod\u{FEFF}",
            "a\u{2060}b",
            "so\u{00AD}ft",
            "x\u{E0041}",
        ] {
            assert!(
                matches!(
                    PersonName::parse(raw),
                    Err(ValidationError::InvisibleCharacters { .. })
                ),
                "{raw:?} was accepted"
            );
        }
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
