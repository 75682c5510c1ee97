use super::{ValidationError, is_forbidden_char};

const MAX_EMAIL_CHARS: usize = 254;

/// An email address, trimmed and lower-cased so that one person has one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// Parses a raw email address: one `@` with text on both sides, a dot in the
    /// domain, no white space or control characters.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        const FIELD: &str = "Email";
        let email = raw.trim().to_lowercase();
        if email.is_empty() {
            return Err(ValidationError::Empty { field: FIELD });
        }
        if email.chars().count() > MAX_EMAIL_CHARS {
            return Err(ValidationError::TooLong {
                field: FIELD,
                max: MAX_EMAIL_CHARS,
            });
        }
        if email.chars().any(is_forbidden_char) {
            return Err(ValidationError::ControlCharacters { field: FIELD });
        }
        let invalid = |reason| ValidationError::Invalid { field: FIELD, reason };
        if email.chars().any(char::is_whitespace) {
            return Err(invalid("it must not contain spaces"));
        }
        let (local, domain) = email
            .split_once('@')
            .ok_or_else(|| invalid("it must contain an @"))?;
        if local.is_empty() || domain.contains('@') {
            return Err(invalid("it must have one @ with a name before it"));
        }
        if !domain.contains('.') || domain.starts_with('.') || domain.ends_with('.') {
            return Err(invalid("the part after @ must be a domain such as example.com"));
        }
        Ok(Self(email))
    }

    /// The address as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_trimmed_and_lower_cased() {
        assert_eq!(
            Email::parse(" Ana@Example.COM ").unwrap().as_str(),
            "ana@example.com"
        );
    }

    #[test]
    fn malformed_addresses_are_refused() {
        for raw in [
            "",
            "ana",
            "@example.com",
            "ana@",
            "ana@example",
            "a b@example.com",
            "a@b@example.com",
            "ana@example.com.",
        ] {
            assert!(Email::parse(raw).is_err(), "{raw:?} was accepted");
        }
    }
}
