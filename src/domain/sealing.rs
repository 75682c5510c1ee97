//! Test keys' secrets kept sealed, so a merchant's Key Policy may let them be revealed
//! again (as Stripe does for sandbox keys). Live keys are never sealed: only their
//! digest is stored.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hmac::{Hmac, Mac};
use rand::TryRngCore;
use rand::rngs::OsRng;
use sha2::Sha256;

use super::environment::Environment;
use super::ids::KeyId;
use super::key::{ApiKey, KeyPepper};

/// What the sealing key is derived under: a label of its own, so it is never the same
/// as any digest the pepper makes.
const SEALING_LABEL: &[u8] = b"keyward: sealed test-key secrets v1";
/// Bytes of AES-GCM nonce.
const NONCE_BYTES: usize = 12;

/// The AES-256-GCM key test keys' secrets are sealed with, derived from the pepper (so
/// a copy of the database alone opens none of them).
pub struct SealingKey(Aes256Gcm);

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealingKey(<redacted>)")
    }
}

impl SealingKey {
    /// Derives the key: HMAC-SHA256 of a fixed label under the pepper.
    pub fn derive(pepper: &KeyPepper) -> Self {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(pepper.material()).expect("HMAC takes any key length");
        mac.update(SEALING_LABEL);
        let derived = mac.finalize().into_bytes();
        Self(Aes256Gcm::new(&derived))
    }

    /// A test key's secret sealed for the key version `id` (which it is bound to, so a
    /// sealed secret copied onto another row does not open); `None` for a live key,
    /// which is never sealed.
    pub fn seal(&self, key: &ApiKey, id: &KeyId) -> Option<String> {
        if key.environment() != Environment::Test {
            return None;
        }
        let mut nonce = [0u8; NONCE_BYTES];
        OsRng
            .try_fill_bytes(&mut nonce)
            .expect("the operating system's random source works");
        let sealed = self
            .0
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: key.expose().as_bytes(),
                    aad: id.as_str().as_bytes(),
                },
            )
            .expect("AES-GCM seals any message this short");
        Some(hex::encode([nonce.as_slice(), sealed.as_slice()].concat()))
    }

    /// Opens what [`SealingKey::seal`] made for `id`: the test key, or `None` when it
    /// was sealed for another row or under another pepper, or is not a test key.
    pub fn open(&self, sealed: &str, id: &KeyId) -> Option<ApiKey> {
        let bytes = hex::decode(sealed).ok()?;
        if bytes.len() <= NONCE_BYTES {
            return None;
        }
        let (nonce, sealed) = bytes.split_at(NONCE_BYTES);
        let plain = self
            .0
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: id.as_str().as_bytes(),
                },
            )
            .ok()?;
        let key = ApiKey::parse(std::str::from_utf8(&plain).ok()?).ok()?;
        (key.environment() == Environment::Test).then_some(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_test_key_opens_only_for_its_row_and_pepper() {
        let sealing = SealingKey::derive(&KeyPepper::new([7; 64]));
        let key = ApiKey::generate_in(Environment::Test);
        let id = KeyId::generate();
        let sealed = sealing.seal(&key, &id).unwrap();
        assert!(!sealed.contains(key.expose()) && !sealed.contains(&key.expose()[8..20]));
        assert_eq!(sealing.open(&sealed, &id), Some(key.clone()));
        assert_ne!(
            sealing.seal(&key, &id),
            Some(sealed.clone()),
            "a fresh nonce each time"
        );
        assert_eq!(sealing.open(&sealed, &KeyId::generate()), None);
        assert_eq!(
            SealingKey::derive(&KeyPepper::new([8; 64])).open(&sealed, &id),
            None
        );
        assert_eq!(sealing.open("00", &id), None);
        assert_eq!(sealing.open("not hex", &id), None);
    }

    #[test]
    fn live_keys_are_never_sealed() {
        let sealing = SealingKey::derive(&KeyPepper::new([7; 64]));
        assert_eq!(sealing.seal(&ApiKey::generate(), &KeyId::generate()), None);
    }
}
