//! Tokens for visitors who are not signed in (the sign-in form), kept in a signed
//! cookie instead of a stored session.

use std::fmt;

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, CookieJar, Key, SameSite};

use crate::api::TrustedProxies;
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
    secure: bool,
}

impl fmt::Debug for VisitorTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("VisitorTokens(<redacted>)")
    }
}

impl VisitorTokens {
    /// Signs with a key of the secret's own for this purpose; `secure` marks the cookie
    /// `Secure` (off only with `KEYWARD_INSECURE_COOKIES`).
    pub fn new(secret: &Secret, secure: bool) -> Self {
        Self {
            key: Key::derive_from(&secret.derive("visitor-csrf-cookie")),
            secure,
        }
    }

    /// True when a form sent without the cookie most likely lost it in the browser, not
    /// by age: the cookie is `Secure`, the page was served over plain HTTP (`https`
    /// reported by a trusted proxy counts as HTTPS) and on a name other than loopback,
    /// where browsers keep no `Secure` cookie.
    pub fn dropped_over_http(&self, req: &HttpRequest, proxies: &TrustedProxies) -> bool {
        self.secure && !proxies.forwarded_https(req) && !is_loopback_host(host_of(req))
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
                .secure(self.secure)
                .http_only(true)
                .same_site(SameSite::Lax)
                .finish(),
        );
        let cookie = jar.get(VISITOR_CSRF_COOKIE).cloned();
        (token, cookie)
    }
}

/// The request's `Host` as sent, without its port.
fn host_of(req: &HttpRequest) -> &str {
    let host = req
        .headers()
        .get(actix_web::http::header::HOST)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    if let Some(bracketed) = host.strip_prefix('[') {
        return bracketed.split(']').next().unwrap_or_default();
    }
    host.rsplit_once(':').map_or(host, |(name, _)| name)
}

/// Names browsers treat as secure over plain HTTP, keeping `Secure` cookies there.
fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host == "localhost"
        || host.ends_with(".localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|address| address.is_loopback())
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn request(host: &str) -> HttpRequest {
        TestRequest::default()
            .insert_header(("Host", host))
            .peer_addr("127.0.0.1:40000".parse().unwrap())
            .to_http_request()
    }

    fn tokens(secure: bool) -> VisitorTokens {
        VisitorTokens::new(&Secret::from_bytes(vec![7; 64]).unwrap(), secure)
    }

    #[test]
    fn loopback_names_keep_secure_cookies_over_http() {
        let none = TrustedProxies::default();
        for host in [
            "localhost:8080",
            "127.0.0.1:8080",
            "[::1]:8080",
            "app.localhost",
            "127.0.0.2",
        ] {
            assert!(!tokens(true).dropped_over_http(&request(host), &none), "{host}");
        }
        for host in [
            "keyward.test:8080",
            "keys.example.com",
            "10.0.0.5:8080",
            "[fd00::1]:80",
        ] {
            assert!(tokens(true).dropped_over_http(&request(host), &none), "{host}");
        }
    }

    #[test]
    fn https_through_a_trusted_proxy_or_insecure_cookies_are_not_dropped() {
        let forwarded = TestRequest::default()
            .insert_header(("Host", "keys.example.com"))
            .insert_header(("X-Forwarded-Proto", "https"))
            .peer_addr("127.0.0.1:40000".parse().unwrap())
            .to_http_request();
        let trusted = TrustedProxies(vec!["127.0.0.1".parse().unwrap()]);
        assert!(!tokens(true).dropped_over_http(&forwarded, &trusted));
        assert!(
            tokens(true).dropped_over_http(&forwarded, &TrustedProxies::default()),
            "an untrusted peer's X-Forwarded-Proto is not believed"
        );
        assert!(!tokens(false).dropped_over_http(&request("keys.example.com"), &trusted));
    }
}
