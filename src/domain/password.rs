use std::fmt;
use std::sync::LazyLock;

use argon2::Argon2;
use argon2::password_hash::{self, PasswordHasher, PasswordVerifier, SaltString};
use rand::distr::Alphanumeric;
use rand::rngs::OsRng;
use rand::{Rng, TryRngCore};

use super::email::Email;
use super::validation::ValidationError;

const MIN_PASSWORD_CHARS: usize = 12;
const MAX_PASSWORD_CHARS: usize = 1024;
const GENERATED_PASSWORD_CHARS: usize = 24;
/// The lowest zxcvbn score a new password may have: 3 means an estimated 10^8 guesses
/// or more, the estimator's own bar for "safe against an online attack".
const MIN_STRENGTH: zxcvbn::Score = zxcvbn::Score::Three;

/// A password as typed. Its `Debug` never prints it.
#[derive(Clone)]
pub struct Password(String);

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

impl Password {
    /// Parses a new password being set for the account with `email`: 12 to 1024
    /// characters, not the email itself, and not easy to guess by the zxcvbn estimator
    /// (common passwords, words, names, dates, keyboard rows, repeats, the email's
    /// parts); kept exactly as typed. The refusal says which rule it broke.
    pub fn parse_new(raw: String, email: &Email) -> Result<Self, ValidationError> {
        const FIELD: &str = "Password";
        let chars = raw.chars().count();
        if chars < MIN_PASSWORD_CHARS {
            return Err(ValidationError::Invalid {
                field: FIELD,
                reason: "it must be at least 12 characters long",
            });
        }
        if chars > MAX_PASSWORD_CHARS {
            return Err(ValidationError::TooLong {
                field: FIELD,
                max: MAX_PASSWORD_CHARS,
            });
        }
        if raw.trim().eq_ignore_ascii_case(email.as_str()) {
            return Err(ValidationError::Invalid {
                field: FIELD,
                reason: "it must not be your email address",
            });
        }
        let local_part = email.as_str().split('@').next().unwrap_or_default();
        let estimate = zxcvbn::zxcvbn(&raw, &[email.as_str(), local_part]);
        if estimate.score() < MIN_STRENGTH {
            return Err(ValidationError::TooEasyToGuess {
                field: FIELD,
                reason: weakness(estimate.feedback()),
            });
        }
        Ok(Self(raw))
    }

    /// Wraps a password typed at sign-in, where no rule applies but a cap on its size.
    pub fn attempt(raw: String) -> Self {
        Self(raw.chars().take(MAX_PASSWORD_CHARS).collect())
    }

    /// The password's text, for hashing and for showing once when it was generated.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Hashes the password with argon2id and a fresh salt. CPU-bound: call it off the
    /// async executor.
    pub fn hash(&self) -> PasswordHash {
        let mut salt = [0u8; 16];
        OsRng
            .try_fill_bytes(&mut salt)
            .expect("the operating system's random source failed");
        let salt = SaltString::encode_b64(&salt).expect("16 bytes always encode as a salt");
        let phc = Argon2::default()
            .hash_password(self.0.as_bytes(), &salt)
            .expect("argon2 with default parameters never fails on a 16-byte salt");
        PasswordHash(phc.to_string())
    }
}

/// Why the estimator finds a password weak, and what would help, as sentences:
/// "This is a top-100 common password. Add another word or two. Uncommon words are better."
fn weakness(feedback: Option<&zxcvbn::feedback::Feedback>) -> String {
    let sentences: Vec<String> = feedback
        .map(|feedback| {
            feedback
                .warning()
                .map(|warning| warning.to_string())
                .into_iter()
                .chain(feedback.suggestions().iter().map(ToString::to_string))
                .collect()
        })
        .unwrap_or_default();
    if sentences.is_empty() {
        "Add another word or two. Uncommon words are better.".to_owned()
    } else {
        sentences.join(" ")
    }
}

/// An argon2id hash in PHC string form, as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

/// A hash of a password nobody knows, checked against when the email is unknown so
/// that a sign-in takes as long whether or not the account exists.
static DUMMY_HASH: LazyLock<PasswordHash> = LazyLock::new(|| Password(random_token(32)).hash());

/// Computes the dummy hash now, so the first sign-in with an unknown email does not
/// take twice as long as the others.
pub fn prepare_password_checks() {
    LazyLock::force(&DUMMY_HASH);
}

impl PasswordHash {
    /// Wraps a hash read from the database.
    pub fn from_stored(phc: String) -> Self {
        Self(phc)
    }

    /// The PHC string, for storing.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Checks `password` against this hash, or against a dummy hash when there is no
    /// account, so that both cases cost the same. CPU-bound: call it off the executor.
    pub fn verify(hash: Option<&PasswordHash>, password: &Password) -> bool {
        let matched = Self::matches(hash.unwrap_or(&DUMMY_HASH), password);
        hash.is_some() && matched
    }

    fn matches(&self, password: &Password) -> bool {
        password_hash::PasswordHash::new(&self.0)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(password.0.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false)
    }
}

/// A random password of 24 letters and digits from the OS random source.
pub fn generate_password() -> Password {
    Password(random_token(GENERATED_PASSWORD_CHARS))
}

/// `len` random letters and digits from the OS random source.
pub fn random_token(len: usize) -> String {
    OsRng
        .unwrap_err()
        .sample_iter(Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email() -> Email {
        Email::parse("ana.lima@example.com").unwrap()
    }

    #[test]
    fn a_hash_verifies_its_password_and_no_other() {
        let hash = Password::attempt("correct horse battery".into()).hash();
        assert!(PasswordHash::verify(
            Some(&hash),
            &Password::attempt("correct horse battery".into())
        ));
        assert!(!PasswordHash::verify(
            Some(&hash),
            &Password::attempt("correct horse batterY".into())
        ));
    }

    #[test]
    fn no_account_never_verifies() {
        assert!(!PasswordHash::verify(None, &Password::attempt(String::new())));
    }

    #[test]
    fn short_passwords_are_refused_for_their_length() {
        let err = Password::parse_new("Zq8#vT!m2".into(), &email()).unwrap_err();
        assert!(err.to_string().contains("at least 12 characters"), "{err}");
        assert!(Password::parse_new("Zq8#vT!m2xLp".into(), &email()).is_ok());
    }

    #[test]
    fn common_and_patterned_passwords_are_refused_saying_why() {
        for (weak, why) in [
            ("password1234", "This is a very common password."),
            ("zxcvbnm,./asdfg", "Straight rows of keys are easy to guess."),
            ("aaaaaaaaaaaaaaaa", "Repeats like \"aaa\" are easy to guess."),
            (
                "abcdefghijklmnop",
                "Sequences like abc or 6543 are easy to guess.",
            ),
        ] {
            let err = Password::parse_new(weak.into(), &email()).unwrap_err();
            let message = err.to_string();
            assert!(
                message.starts_with("Password is too easy to guess. "),
                "{weak}: {message}"
            );
            assert!(message.contains(why), "{weak}: {message}");
        }
    }

    #[test]
    fn the_email_or_its_name_part_is_refused() {
        let err = Password::parse_new(" Ana.Lima@Example.com".into(), &email()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Password is not valid: it must not be your email address"
        );
        assert!(Password::parse_new("ana.lima2026!".into(), &email()).is_err());
    }

    #[test]
    fn debug_never_prints_the_secret() {
        let password = Password::attempt("hunter2hunter2".into());
        assert!(!format!("{password:?}").contains("hunter2"));
        assert!(!format!("{:?}", password.hash()).contains("argon2"));
    }

    #[test]
    fn generated_passwords_are_long_and_distinct() {
        let (a, b) = (generate_password(), generate_password());
        assert_eq!(a.expose().len(), 24);
        assert_ne!(a.expose(), b.expose());
    }

    /// The first admin's password and the one-time passwords are generated: each must
    /// be one its owner could have chosen.
    #[test]
    fn generated_passwords_pass_the_rules_for_a_new_password() {
        for _ in 0..200 {
            let generated = generate_password();
            let parsed = Password::parse_new(generated.expose().to_owned(), &email());
            assert!(parsed.is_ok(), "{}: {parsed:?}", generated.expose());
        }
    }
}
