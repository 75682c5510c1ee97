//! The API key format: `kw_live_` (or `kw_test_` for a test key) + 40 base62
//! characters of secret + 6 base62 characters of CRC32 checksum over everything before
//! them.

use std::fmt;

use hmac::{Hmac, Mac};
use rand::distr::Alphanumeric;
use rand::rngs::OsRng;
use rand::{Rng, TryRngCore};
use sha2::Sha256;

use super::environment::Environment;

/// The prefix of every live key. It must never change: secret scanners and integrations
/// recognise keys by it, and keys already issued carry it. Test keys carry
/// `kw_test_`, of the same length ([`Environment::key_prefix`]).
pub const KEY_PREFIX: &str = "kw_live_";
/// Characters of secret: 40 base62 characters carry about 238 random bits.
pub const SECRET_CHARS: usize = 40;
/// Characters of checksum: 62^6 covers every CRC32 value.
pub const CHECKSUM_CHARS: usize = 6;
/// Length of a whole key.
pub const KEY_CHARS: usize = KEY_PREFIX.len() + SECRET_CHARS + CHECKSUM_CHARS;
/// Characters a masked key shows after the prefix and at the end.
pub const MASK_SHOWS: usize = 4;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Why a string is not a Keyward key. Checked before any hashing or query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyFormatError {
    /// It starts with neither `kw_live_` nor `kw_test_`.
    #[error("the key does not start with kw_live_ or kw_test_")]
    Prefix,
    /// It is not 54 characters long.
    #[error("the key does not have {KEY_CHARS} characters")]
    Length,
    /// It has characters other than letters and digits after the prefix.
    #[error("the key has characters other than letters and digits")]
    Alphabet,
    /// Its checksum does not match: mistyped, truncated or made up.
    #[error("the key's checksum does not match")]
    Checksum,
}

impl KeyFormatError {
    /// The check that failed, as the request log keeps it.
    pub fn code(self) -> &'static str {
        match self {
            KeyFormatError::Prefix => "prefix",
            KeyFormatError::Length => "length",
            KeyFormatError::Alphabet => "alphabet",
            KeyFormatError::Checksum => "checksum",
        }
    }
}

/// A whole API key. Its `Debug` and `Display` never print the secret; only
/// [`ApiKey::expose`] does, for the one time it is shown.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey({})", self.masked())
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

pub(super) fn checksum(body: &str) -> String {
    let mut value = crc32fast::hash(body.as_bytes());
    let mut digits = [b'0'; CHECKSUM_CHARS];
    for digit in digits.iter_mut().rev() {
        *digit = BASE62[(value % 62) as usize];
        value /= 62;
    }
    String::from_utf8(digits.to_vec()).expect("base62 digits are ASCII")
}

/// A new secret in the shape keys and management tokens share: `prefix`, 40 base62
/// characters from the operating system's random source, and their checksum.
pub(super) fn generate_secret(prefix: &str) -> String {
    let secret: String = OsRng
        .unwrap_err()
        .sample_iter(Alphanumeric)
        .take(SECRET_CHARS)
        .map(char::from)
        .collect();
    let body = format!("{prefix}{secret}");
    let checksum = checksum(&body);
    body + checksum.as_str()
}

/// Checks a presented secret of that shape: prefix, length, alphabet, then checksum.
pub(super) fn check_secret(prefix: &str, raw: &str) -> Result<(), KeyFormatError> {
    let rest = raw.strip_prefix(prefix).ok_or(KeyFormatError::Prefix)?;
    if raw.len() != prefix.len() + SECRET_CHARS + CHECKSUM_CHARS {
        return Err(KeyFormatError::Length);
    }
    if !rest.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(KeyFormatError::Alphabet);
    }
    let (body, given) = raw.split_at(prefix.len() + SECRET_CHARS);
    if checksum(body) != given {
        return Err(KeyFormatError::Checksum);
    }
    Ok(())
}

/// The first whole secret of that shape written anywhere in `text`.
pub(super) fn find_secret<'a>(prefix: &str, text: &'a str) -> Option<&'a str> {
    let length = prefix.len() + SECRET_CHARS + CHECKSUM_CHARS;
    text.match_indices(prefix).find_map(|(at, _)| {
        text.get(at..at + length)
            .filter(|candidate| check_secret(prefix, candidate).is_ok())
    })
}

/// The masked form of a secret of that shape: the prefix, the four characters after it
/// and its last four.
pub(super) fn mask_secret(prefix: &str, raw: &str) -> String {
    let head = &raw[prefix.len()..prefix.len() + MASK_SHOWS];
    let tail = &raw[raw.len() - MASK_SHOWS..];
    format!("{prefix}{head}…{tail}")
}

impl ApiKey {
    /// A new live key with a secret from the operating system's random source.
    pub fn generate() -> Self {
        Self::generate_in(Environment::Live)
    }

    /// A new key of `environment`, with a secret from the operating system's random
    /// source.
    pub fn generate_in(environment: Environment) -> Self {
        Self(generate_secret(environment.key_prefix()))
    }

    /// Parses a key as presented: prefix (live or test), length, alphabet, then checksum.
    pub fn parse(raw: &str) -> Result<Self, KeyFormatError> {
        let environment = Environment::ALL
            .into_iter()
            .find(|environment| raw.starts_with(environment.key_prefix()))
            .ok_or(KeyFormatError::Prefix)?;
        check_secret(environment.key_prefix(), raw)?;
        Ok(Self(raw.to_owned()))
    }

    /// The environment the key's prefix names.
    pub fn environment(&self) -> Environment {
        if self.0.starts_with(Environment::Test.key_prefix()) {
            Environment::Test
        } else {
            Environment::Live
        }
    }

    /// The first whole key of either environment written anywhere in `text` (in quotes,
    /// after `ApiKey `, in a sentence), so that a key pasted with something around it is
    /// still recognised and kept off pages, addresses and names.
    pub fn find_in(text: &str) -> Option<Self> {
        Environment::ALL
            .into_iter()
            .filter_map(|environment| find_secret(environment.key_prefix(), text))
            // Both are slices of `text`: the one that starts first comes first in it.
            .min_by_key(|found| found.as_ptr() as usize)
            .map(|found| Self(found.to_owned()))
    }

    /// `text` with every whole key in it replaced by its masked form.
    pub fn mask_in(text: &str) -> String {
        let mut masked = text.to_owned();
        while let Some(key) = Self::find_in(&masked) {
            masked = masked.replace(key.expose(), &key.masked());
        }
        masked
    }

    /// The whole key, for the one time it is shown (and for the CLI's output).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The form shown after the reveal: the prefix, the 4 characters after it and the
    /// key's last 4 (the end of its checksum), so it matches both ends of the key a
    /// merchant holds. Keys stored before this form kept theirs: the secret's last 4.
    pub fn masked(&self) -> String {
        mask_secret(self.environment().key_prefix(), &self.0)
    }

    /// A presented value masked as [`ApiKey::masked`] when it has a key's prefix and
    /// length, whether or not its checksum holds (a mistyped key is still recognisable
    /// by its ends); empty for anything else, which is never echoed.
    pub fn mask_presented(raw: &str) -> String {
        let prefix = Environment::ALL
            .iter()
            .map(|environment| environment.key_prefix())
            .find(|prefix| raw.starts_with(prefix));
        match prefix {
            Some(prefix) if raw.len() == KEY_CHARS && raw.is_ascii() => mask_secret(prefix, raw),
            _ => String::new(),
        }
    }

    /// The stored digest: HMAC-SHA256 with the server's pepper.
    pub fn digest(&self, pepper: &KeyPepper) -> KeyDigest {
        pepper.digest(&self.0)
    }
}

/// What is stored of a key instead of the key: its peppered HMAC-SHA256, as 64
/// lower-case hex characters. Only [`ApiKey::digest`] makes one from a key; a stored
/// one is checked for its form when read.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyDigest(String);

/// A stored digest that is not 64 lower-case hex characters.
#[derive(Debug, Clone, thiserror::Error)]
#[error("a stored key digest is not 64 lower-case hex characters")]
pub struct MalformedDigest;

impl KeyDigest {
    /// The hex text, as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for KeyDigest {
    type Error = MalformedDigest;

    fn try_from(raw: String) -> Result<Self, MalformedDigest> {
        let well_formed = raw.len() == 64 && raw.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if well_formed {
            Ok(Self(raw))
        } else {
            Err(MalformedDigest)
        }
    }
}

/// The HMAC key for key digests, derived from the server secret so that a copy of the
/// database alone cannot check guesses.
#[derive(Clone)]
pub struct KeyPepper([u8; 64]);

impl fmt::Debug for KeyPepper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyPepper(<redacted>)")
    }
}

impl KeyPepper {
    /// Wraps derived key material.
    pub fn new(bytes: [u8; 64]) -> Self {
        Self(bytes)
    }

    /// The key material, for keys derived from it under a label of their own.
    pub(super) fn material(&self) -> &[u8] {
        &self.0
    }

    /// The peppered HMAC-SHA256 of a whole secret (a key or a management token).
    pub(super) fn digest(&self, secret: &str) -> KeyDigest {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(secret.as_bytes());
        KeyDigest(hex::encode(mac.finalize().into_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn the_prefix_is_pinned() {
        assert_eq!(KEY_PREFIX, "kw_live_");
        assert_eq!(KEY_CHARS, 54);
    }

    #[test]
    fn ten_thousand_keys_are_unique_and_valid() {
        let keys: HashSet<String> = (0..10_000)
            .map(|_| {
                let key = ApiKey::generate();
                assert_eq!(ApiKey::parse(key.expose()), Ok(key.clone()));
                key.expose().to_owned()
            })
            .collect();
        assert_eq!(keys.len(), 10_000);
    }

    #[test]
    fn changing_any_single_character_fails_the_check() {
        let key = ApiKey::generate();
        let raw = key.expose();
        for (i, original) in raw.char_indices() {
            for replacement in ['0', 'a', 'Z', '_'] {
                if replacement == original {
                    continue;
                }
                let mut changed = raw.to_owned();
                changed.replace_range(i..i + 1, &replacement.to_string());
                assert!(ApiKey::parse(&changed).is_err(), "{changed} was accepted");
            }
        }
    }

    #[test]
    fn malformed_keys_say_what_is_wrong() {
        let key = ApiKey::generate();
        let raw = key.expose();
        // The prefix is under the checksum: a live key relabelled as a test key is no key.
        assert_eq!(
            ApiKey::parse(&raw.replace("kw_live_", "kw_test_")),
            Err(KeyFormatError::Checksum)
        );
        assert_eq!(
            ApiKey::parse(&raw.replace("kw_live_", "kw_prod_")),
            Err(KeyFormatError::Prefix)
        );
        assert_eq!(ApiKey::parse(&raw[..50]), Err(KeyFormatError::Length));
        assert_eq!(ApiKey::parse(&format!("{raw}x")), Err(KeyFormatError::Length));
        let mut odd = raw.to_owned();
        odd.replace_range(10..11, "-");
        assert_eq!(ApiKey::parse(&odd), Err(KeyFormatError::Alphabet));
        assert_eq!(ApiKey::parse(""), Err(KeyFormatError::Prefix));
        assert_eq!(ApiKey::parse("kw_live_é"), Err(KeyFormatError::Length));
    }

    #[test]
    fn debug_and_display_never_print_the_secret() {
        let key = ApiKey::generate();
        for shown in [format!("{key:?}"), format!("{key}")] {
            assert!(!shown.contains(key.expose()), "{shown}");
            assert!(!shown.contains(&key.expose()[12..40]), "{shown}");
        }
    }

    #[test]
    fn the_mask_shows_the_prefix_and_the_real_four_characters_at_each_end() {
        let raw = {
            let body = format!("{KEY_PREFIX}AbCd{}WxYz", "0".repeat(32));
            let sum = checksum(&body);
            body + sum.as_str()
        };
        let key = ApiKey::parse(&raw).unwrap();
        assert_eq!(key.masked(), format!("kw_live_AbCd…{}", &raw[50..]));
        assert!(key.masked().ends_with(&raw[raw.len() - 4..]), "the key's own end");
        assert!(!key.masked().contains("WxYz"), "not the secret's end");
    }

    #[test]
    fn a_key_is_found_and_masked_whatever_surrounds_it() {
        let key = ApiKey::generate();
        for around in [
            "{}",
            "`{}`",
            "\"{}\".",
            "ApiKey {}",
            "Authorization: ApiKey {},",
            "x{}\u{200B}",
        ] {
            let text = around.replace("{}", key.expose());
            assert_eq!(ApiKey::find_in(&text).as_ref(), Some(&key), "{text:?}");
            let masked = ApiKey::mask_in(&text);
            assert!(
                !masked.contains(key.expose()) && masked.contains(&key.masked()),
                "{masked:?}"
            );
        }
        // A look-alike with a wrong checksum, or cut short, is not a key.
        let mut wrong = key.expose().to_owned();
        wrong.replace_range(KEY_CHARS - 1.., if wrong.ends_with('A') { "B" } else { "A" });
        assert_eq!(ApiKey::find_in(&wrong), None);
        assert_eq!(ApiKey::find_in(&key.expose()[..KEY_CHARS - 1]), None);
        assert_eq!(ApiKey::mask_in("no key é here"), "no key é here");
    }

    #[test]
    fn test_keys_share_the_scheme_and_say_which_environment_they_are_in() {
        let test = ApiKey::generate_in(Environment::Test);
        let raw = test.expose();
        assert!(raw.starts_with("kw_test_") && raw.len() == KEY_CHARS, "{raw}");
        assert_eq!(ApiKey::parse(raw), Ok(test.clone()));
        assert_eq!(test.environment(), Environment::Test);
        assert_eq!(ApiKey::generate().environment(), Environment::Live);
        assert!(test.masked().starts_with("kw_test_") && test.masked().ends_with(&raw[50..]));
        let mut changed = raw.to_owned();
        changed.replace_range(20..21, if &raw[20..21] == "A" { "B" } else { "A" });
        assert_eq!(ApiKey::parse(&changed), Err(KeyFormatError::Checksum));
    }

    #[test]
    fn the_first_key_of_either_environment_is_found_and_both_are_masked() {
        let live = ApiKey::generate();
        let test = ApiKey::generate_in(Environment::Test);
        let text = format!("first {} then {}", test.expose(), live.expose());
        assert_eq!(ApiKey::find_in(&text), Some(test.clone()));
        let masked = ApiKey::mask_in(&text);
        assert_eq!(masked, format!("first {} then {}", test.masked(), live.masked()));
    }

    #[test]
    fn digests_depend_on_the_pepper() {
        let key = ApiKey::generate();
        let a = key.digest(&KeyPepper::new([1; 64]));
        assert_eq!(a.as_str().len(), 64);
        assert_eq!(a, key.digest(&KeyPepper::new([1; 64])));
        assert_ne!(a, key.digest(&KeyPepper::new([2; 64])));
    }
}
