//! Tokens for visitors who are not signed in (the sign-in form), kept in a signed
//! cookie instead of a stored session.

use std::fmt;

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, CookieJar, Key, SameSite};

use crate::config::Secret;
use crate::domain::random_token;
use crate::web::session::CSRF_TOKEN_CHARS;

/// The cookie holding the token of a visitor who is not signed in.
pub const VISITOR_CSRF_COOKIE: &str = "keyward_csrf";

/// Tokens for visitors who are not signed in (the sign-in form): a random token in a
/// cookie signed with a key derived from the server secret, so it costs no stored row,
/// cannot be made up, and every instance sharing the secret accepts it.
#[derive(Clone)]
pub struct VisitorTokens {
    key: Key,
}

impl fmt::Debug for VisitorTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("VisitorTokens(<redacted>)")
    }
}

impl VisitorTokens {
    /// Signs with a key of the secret's own for this purpose.
    pub fn new(secret: &Secret) -> Self {
        Self {
            key: Key::derive_from(&secret.derive("visitor-csrf-cookie")),
        }
    }

    /// The token the request's cookie carries, when its signature holds.
    pub fn read(&self, req: &HttpRequest) -> Option<String> {
        let cookie = req.cookie(VISITOR_CSRF_COOKIE)?;
        CookieJar::new()
            .signed(&self.key)
            .verify(cookie)
            .map(|cookie| cookie.value().to_owned())
    }

    /// The token for a form shown to a visitor: the one the browser already holds, so
    /// that forms open in several tabs all work, or a new one with the cookie to set.
    pub fn issue(&self, req: &HttpRequest) -> (String, Option<Cookie<'static>>) {
        if let Some(token) = self.read(req) {
            return (token, None);
        }
        let token = random_token(CSRF_TOKEN_CHARS);
        let mut jar = CookieJar::new();
        jar.signed_mut(&self.key).add(
            Cookie::build(VISITOR_CSRF_COOKIE, token.clone())
                .path("/")
                .secure(true)
                .http_only(true)
                .same_site(SameSite::Lax)
                .finish(),
        );
        let cookie = jar.get(VISITOR_CSRF_COOKIE).cloned();
        (token, cookie)
    }
}
