use super::validation::{ValidationError, is_forbidden_char};

const MAX_EMAIL_CHARS: usize = 254;
const MAX_DOMAIN_LABEL_CHARS: usize = 63;

/// The characters the HTML standard allows before the `@` of a valid email address
/// besides letters and digits.
const LOCAL_PART_SYMBOLS: &str = ".!#$%&'*+/=?^_`{|}~-";

/// An email address, trimmed and lower-cased so that one person has one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// Parses a raw email address by the rule the dashboard's email fields apply in the
    /// browser (the HTML standard's "valid email address"), so that the server, the
    /// command line and the form agree on what an email is: before the one `@`, letters,
    /// digits and `.!#$%&'*+/=?^_`{|}~-`; after it, a domain of at least two labels of
    /// letters, digits and inner hyphens.
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
        if !local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || LOCAL_PART_SYMBOLS.contains(c))
        {
            return Err(invalid(
                "the part before @ may hold only letters a to z, digits and . ! # $ % & ' * + / = ? ^ _ ` { | } ~ -",
            ));
        }
        let labels: Vec<&str> = domain.split('.').collect();
        if labels.len() < 2 || !labels.iter().all(|label| is_domain_label(label)) {
            return Err(invalid("the part after @ must be a domain such as example.com"));
        }
        Ok(Self(email))
    }

    /// Wraps an address read from the database, where only parsed addresses are stored.
    pub fn from_stored(email: String) -> Self {
        Self(email)
    }

    /// The address as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One label of a domain name: 1 to 63 letters, digits and hyphens, with no hyphen at
/// either end.
fn is_domain_label(label: &str) -> bool {
    (1..=MAX_DOMAIN_LABEL_CHARS).contains(&label.len())
        && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !label.starts_with('-')
        && !label.ends_with('-')
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
    fn addresses_the_html_standard_calls_valid_are_accepted() {
        for raw in [
            "ana@example.com",
            "ana.lima+keys@mail.example.co.uk",
            "o'neil@example.com",
            "a!#$%&'*+/=?^_`{|}~-@x-1.example",
            "1@2.io",
        ] {
            assert!(Email::parse(raw).is_ok(), "{raw:?} was refused");
        }
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
            "ana@.example.com",
            "ana@example..com",
            "ana@-example.com",
            "ana@example-.com",
            "ana@exa_mple.com",
            "<script>@example.com",
            "\"ana\"@example.com",
            "ana(x)@example.com",
            "josé@example.com",
            "ana@exämple.com",
            "ana@example.com>",
        ] {
            assert!(Email::parse(raw).is_err(), "{raw:?} was accepted");
        }
    }

    #[test]
    fn a_domain_label_may_not_pass_sixty_three_characters() {
        let long = format!("ana@{}.com", "a".repeat(64));
        assert!(Email::parse(&long).is_err());
        let longest = format!("ana@{}.com", "a".repeat(63));
        assert!(Email::parse(&longest).is_ok());
    }
}
