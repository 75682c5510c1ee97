use std::fmt;
use std::sync::LazyLock;

use argon2::Argon2;
use argon2::password_hash::{self, PasswordHasher, PasswordVerifier, SaltString};
use rand::distr::Alphanumeric;
use rand::rngs::OsRng;
use rand::{Rng, TryRngCore};

use super::ValidationError;

const MIN_PASSWORD_CHARS: usize = 12;
const MAX_PASSWORD_CHARS: usize = 1024;
const GENERATED_PASSWORD_CHARS: usize = 24;

/// A password as typed. Its `Debug` never prints it.
#[derive(Clone)]
pub struct Password(String);

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

impl Password {
    /// Parses a new password being set: 12 to 1024 characters, kept exactly as typed.
    pub fn parse_new(raw: String) -> Result<Self, ValidationError> {
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

    #[test]
    fn a_hash_verifies_its_password_and_no_other() {
        let hash = Password::parse_new("correct horse battery".into())
            .unwrap()
            .hash();
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
    fn short_passwords_are_refused() {
        assert!(Password::parse_new("short".into()).is_err());
        assert!(Password::parse_new("twelve chars".into()).is_ok());
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
}
