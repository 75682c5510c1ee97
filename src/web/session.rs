//! The session as Keyward uses it: who is signed in, in which merchant, and the CSRF
//! token, over actix-session's untyped map. Only signing in writes to an empty
//! session, so a visitor who is not signed in never gets a stored one.

use std::future::{Ready, ready};

use actix_session::{Session, SessionExt};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};

use crate::domain::{MerchantId, random_token};

const USER_ID: &str = "user_id";
const MERCHANT_ID: &str = "merchant_id";
const CSRF_TOKEN: &str = "csrf_token";
const FLASH: &str = "flash";
/// Put in place of the state when the store could not be read; never stored.
pub(crate) const STORE_UNAVAILABLE: &str = "__store_unavailable";
const FORM_NONCES: &str = "form_nonces";

/// Forms that may be open at once (tabs, modals) before the oldest stops working.
const MAX_OPEN_FORMS: usize = 20;

/// Length of a CSRF token, in letters and digits (about 238 bits).
pub(crate) const CSRF_TOKEN_CHARS: usize = 40;

/// The request's session, typed.
#[derive(Clone)]
pub struct TypedSession(Session);

impl TypedSession {
    /// Wraps the session of a request.
    pub fn of(req: &HttpRequest) -> Self {
        Self(req.get_session())
    }

    /// Wraps an untyped session (as middleware gets it).
    pub fn from_session(session: Session) -> Self {
        Self(session)
    }

    fn get_string(&self, key: &str) -> Option<String> {
        self.0.get::<String>(key).ok().flatten()
    }

    fn set_string(&self, key: &str, value: &str) {
        // Serialising a string to JSON cannot fail.
        let _ = self.0.insert(key, value);
    }

    /// True when the session could not be loaded because the database is out of reach:
    /// nobody can be known to be signed in, and nothing may be changed.
    pub fn is_store_unavailable(&self) -> bool {
        self.0.contains_key(STORE_UNAVAILABLE)
    }

    /// Fails with 503 when the session could not be loaded.
    pub fn require_store(&self) -> Result<(), crate::web::error::WebError> {
        if self.is_store_unavailable() {
            Err(crate::web::error::WebError::SessionsUnavailable)
        } else {
            Ok(())
        }
    }

    /// The signed-in user's ID, if anyone is signed in.
    pub fn user_id(&self) -> Option<String> {
        self.get_string(USER_ID)
    }

    /// The merchant the user is working in.
    pub fn merchant_id(&self) -> Option<MerchantId> {
        self.get_string(MERCHANT_ID)
            .and_then(|raw| MerchantId::parse(&raw).ok())
    }

    /// Switches the merchant the user is working in.
    pub fn set_merchant_id(&self, merchant_id: &MerchantId) {
        self.set_string(MERCHANT_ID, merchant_id.as_str());
    }

    /// Signs a user in: a new session key (so a key planted before sign-in is worth
    /// nothing), a new CSRF token, and nothing carried over from before.
    pub fn sign_in(&self, user_id: &str, merchant_id: Option<&MerchantId>) {
        self.0.clear();
        self.0.renew();
        self.set_string(USER_ID, user_id);
        if let Some(merchant_id) = merchant_id {
            self.set_string(MERCHANT_ID, merchant_id.as_str());
        }
        self.set_string(CSRF_TOKEN, &random_token(CSRF_TOKEN_CHARS));
    }

    /// Signs out: the stored session is deleted, so a replayed cookie finds nothing.
    pub fn sign_out(&self) {
        self.0.purge();
    }

    /// The CSRF token to put in this signed-in session's forms (made at sign-in).
    pub fn csrf_token(&self) -> String {
        self.expected_csrf_token().unwrap_or_default()
    }

    /// Leaves a message for the next page this session shows.
    pub fn set_flash(&self, message: &str) {
        self.set_string(FLASH, message);
    }

    /// The message left for this page, once.
    pub fn take_flash(&self) -> Option<String> {
        let flash = self.get_string(FLASH)?;
        self.0.remove(FLASH);
        Some(flash)
    }

    /// A one-time value for a form whose submission must not run twice (a refresh or
    /// the back button would otherwise generate another key).
    pub fn issue_form_nonce(&self) -> String {
        let nonce = random_token(24);
        let mut nonces: Vec<String> = self.0.get(FORM_NONCES).ok().flatten().unwrap_or_default();
        nonces.push(nonce.clone());
        if nonces.len() > MAX_OPEN_FORMS {
            nonces.remove(0);
        }
        let _ = self.0.insert(FORM_NONCES, nonces);
        nonce
    }

    /// Uses up a form's one-time value; false when it was never issued or used already.
    pub fn consume_form_nonce(&self, nonce: &str) -> bool {
        let mut nonces: Vec<String> = self.0.get(FORM_NONCES).ok().flatten().unwrap_or_default();
        let Some(position) = nonces.iter().position(|issued| issued == nonce) else {
            return false;
        };
        nonces.remove(position);
        let _ = self.0.insert(FORM_NONCES, nonces);
        true
    }

    /// The token a change must carry, if this session has one.
    pub fn expected_csrf_token(&self) -> Option<String> {
        self.get_string(CSRF_TOKEN)
    }
}

impl FromRequest for TypedSession {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Self::of(req)))
    }
}
