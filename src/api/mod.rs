//! The API that keys unlock: `whoami` for clients, `auth` for gateways' forward-auth.

pub mod cache;
pub mod error;
pub mod known;
pub mod limits;
pub mod manage;
pub mod verify;

use std::borrow::Cow;
use std::net::IpAddr;

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use time::PrimitiveDateTime;
use time::macros::format_description;

use self::error::ApiError;
use self::verify::{Requirements, Verified, Verifier};
use crate::usage::requests::{AGENT_CHARS, PATH_CHARS, Seen, loggable};

/// Registers the API's routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/api/v1/whoami").route(web::get().to(whoami)))
        .service(web::resource("/api/v1/auth").route(web::get().to(auth)))
        .configure(manage::routes);
}

/// The ID an answer carries in `X-Request-Id`. The request log middleware puts it in the
/// request's extensions before any handler runs, so a refused verification is kept in
/// the key's request log under the ID its caller was answered with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub std::sync::Arc<str>);

impl RequestId {
    /// A new random ID: 32 lowercase hex digits.
    pub fn new() -> Self {
        Self(uuid::Uuid::new_v4().simple().to_string().into())
    }

    /// The ID a request was given, if the request log middleware saw it.
    pub fn of(req: &HttpRequest) -> Option<Self> {
        req.extensions().get::<Self>().cloned()
    }

    /// The ID as it is sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for RequestId {
    fn default() -> Self {
        Self::new()
    }
}

/// Proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(pub Vec<IpAddr>);

impl TrustedProxies {
    /// The client's address: the peer, or behind trusted proxies the nearest address in
    /// `X-Forwarded-For` that is not one of them.
    pub fn client_address(&self, req: &HttpRequest) -> Option<IpAddr> {
        let peer = req.peer_addr()?.ip().to_canonical();
        if !self.0.contains(&peer) {
            return Some(peer);
        }
        // Walk from the nearest hop outwards; the first address that is not one of our
        // proxies is the client. Anything unreadable stops the walk: what lies beyond it
        // was written by the client and cannot be trusted.
        let entries: Vec<String> = req
            .headers()
            .get_all("X-Forwarded-For")
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(|entry| entry.trim().to_owned())
            .collect();
        let mut client = peer;
        for entry in entries.iter().rev() {
            let Ok(address) = entry.parse::<IpAddr>() else {
                break;
            };
            client = address.to_canonical();
            if !self.0.contains(&client) {
                break;
            }
        }
        Some(client)
    }

    /// True when the request comes straight from one of the trusted proxies.
    pub fn trusts_peer(&self, req: &HttpRequest) -> bool {
        req.peer_addr()
            .is_some_and(|peer| self.0.contains(&peer.ip().to_canonical()))
    }

    /// True when a trusted proxy says the client reached it over HTTPS (its nearest
    /// `X-Forwarded-Proto` is `https`); Keyward itself serves plain HTTP only.
    pub fn forwarded_https(&self, req: &HttpRequest) -> bool {
        self.trusts_peer(req)
            && req
                .headers()
                .get_all("X-Forwarded-Proto")
                .filter_map(|value| value.to_str().ok())
                .flat_map(|value| value.split(','))
                .next_back()
                .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"))
    }

    /// The client a trusted gateway's forward-auth request is made for. nginx's
    /// `auth_request` subrequest, Caddy's `forward_auth` and Traefik's ForwardAuth come
    /// from the gateway itself, which names the original client in `X-Forwarded-For`
    /// (all three) or `X-Real-IP` (nginx). `X-Forwarded-For` is read first because Caddy
    /// and Traefik write it and pass a client's own `X-Real-IP` on unchanged;
    /// `X-Real-IP` is read only when a trusted gateway sends no `X-Forwarded-For`, and
    /// only when it holds one address. From an untrusted peer neither is believed.
    pub fn gateway_client_address(&self, req: &HttpRequest) -> Option<IpAddr> {
        let peer = req.peer_addr()?.ip().to_canonical();
        if !self.0.contains(&peer) || req.headers().contains_key("X-Forwarded-For") {
            return self.client_address(req);
        }
        let mut real_ip = req.headers().get_all("X-Real-IP");
        let named = match (real_ip.next(), real_ip.next()) {
            (Some(value), None) => value
                .to_str()
                .ok()
                .and_then(|text| text.trim().parse::<IpAddr>().ok()),
            _ => None,
        };
        Some(named.map_or(peer, |address| address.to_canonical()))
    }
}

/// An HTTP-date (RFC 9110), as `Sunset` and the expiry header carry.
pub fn http_date(at: PrimitiveDateTime) -> String {
    at.format(format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    ))
    .unwrap_or_default()
}

/// Who is asking: a client calling the API itself, or a gateway asking on behalf of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    Client,
    Gateway,
}

/// The path the request log keeps: without its query string (which may carry other
/// secrets), percent-decoded, keys in it masked, at most [`PATH_CHARS`] characters.
/// Borrowed unless something had to change.
fn logged_path(raw: &str) -> Cow<'_, str> {
    let path = raw.split_once('?').map_or(raw, |(path, _)| path);
    match fully_decoded(path) {
        Cow::Borrowed(path) => loggable(path, PATH_CHARS),
        Cow::Owned(decoded) => Cow::Owned(loggable(&decoded, PATH_CHARS).into_owned()),
    }
}

/// A user agent as the request log keeps it: decoded as [`logged_path`] decodes a path,
/// so a key in it is masked however it was written.
fn logged_agent(raw: &str) -> Cow<'_, str> {
    match fully_decoded(raw) {
        Cow::Borrowed(agent) => loggable(agent, AGENT_CHARS),
        Cow::Owned(decoded) => Cow::Owned(loggable(&decoded, AGENT_CHARS).into_owned()),
    }
}

/// `text` percent-decoded until nothing is left to decode, so a key written
/// `kw%5Flive_…`, or `kw%255Flive_…` (encoded twice), reads as a key and is masked.
/// Text still encoded after [`DECODE_ROUNDS`] rounds is not kept at all: no client
/// encodes a path that often, and a key could hide in it.
fn fully_decoded(text: &str) -> Cow<'_, str> {
    if !text.contains('%') {
        return Cow::Borrowed(text);
    }
    let mut decoded = text.to_owned();
    for _ in 0..DECODE_ROUNDS {
        let next = percent_encoding::percent_decode_str(&decoded).decode_utf8_lossy();
        if next == decoded {
            return Cow::Owned(decoded);
        }
        decoded = next.into_owned();
    }
    let settled = percent_encoding::percent_decode_str(&decoded).decode_utf8_lossy() == decoded;
    Cow::Owned(if settled { decoded } else { TOO_ENCODED.to_owned() })
}

/// How many times [`fully_decoded`] decodes, at most.
const DECODE_ROUNDS: usize = 4;

/// What the request log keeps instead of a text encoded more than [`DECODE_ROUNDS`]
/// times.
const TOO_ENCODED: &str = "(encoded too many times to show)";

/// A header's value as text, trimmed; `None` when absent, empty or not text.
fn header_text<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
        .filter(|value| !value.is_empty())
}

/// Verifies the request's key. For a trusted gateway (forward-auth) the method and path
/// the request log keeps are the ones the gateway reports (`X-Forwarded-Method` and
/// `X-Forwarded-Uri`, as Traefik sends them, or nginx's `X-Original-Method` and
/// `X-Original-URI`), not the auth request's own.
async fn verified(
    req: &HttpRequest,
    verifier: &Verifier,
    requirements: Requirements<'_>,
    caller: Caller,
) -> Result<Verified, ApiError> {
    let client = match (req.app_data::<web::Data<TrustedProxies>>(), caller) {
        (Some(proxies), Caller::Client) => proxies.client_address(req),
        (Some(proxies), Caller::Gateway) => proxies.gateway_client_address(req),
        (None, _) => req.peer_addr().map(|addr| addr.ip()),
    }
    .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
    let request_id = RequestId::of(req);
    // Only a trusted gateway's word is taken for what its client asked: anyone else
    // could write any method and path into the key's log.
    let gateway = caller == Caller::Gateway
        && req
            .app_data::<web::Data<TrustedProxies>>()
            .is_some_and(|proxies| proxies.trusts_peer(req));
    let (method, path) = if gateway {
        (
            header_text(req, "X-Forwarded-Method").or_else(|| header_text(req, "X-Original-Method")),
            header_text(req, "X-Forwarded-Uri").or_else(|| header_text(req, "X-Original-URI")),
        )
    } else {
        (None, None)
    };
    let path = logged_path(path.unwrap_or(req.path()));
    let user_agent = logged_agent(header_text(req, "User-Agent").unwrap_or_default());
    let seen = Seen {
        client,
        request_id: request_id.as_ref().map_or("", RequestId::as_str),
        user_agent: &user_agent,
        method: &loggable(method.unwrap_or(req.method().as_str()), 16),
        path: &path,
    };
    let started = std::time::Instant::now();
    let outcome = verifier.verify(req.headers(), client, requirements, &seen).await;
    let code = outcome.as_ref().map_or_else(ApiError::code, |_| "accepted");
    verifier.metrics.verification(code, started.elapsed());
    outcome
}

fn with_key_headers(mut response: HttpResponse, verified: &Verified) -> HttpResponse {
    let headers = response.headers_mut();
    if let Some(sunset) = verified.sunset
        && let Ok(value) = HeaderValue::from_str(&http_date(sunset))
    {
        headers.insert(HeaderName::from_static("sunset"), value);
    }
    if let Some(expires) = verified.key.expires_at()
        && let Ok(value) = HeaderValue::from_str(&http_date(expires))
    {
        headers.insert(HeaderName::from_static("x-keyward-key-expires"), value);
    }
    response
}

/// The key a request was made with.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct WhoAmI<'a> {
    /// The key version's ID.
    #[schema(format = Uuid)]
    key_id: &'a str,
    /// The key's name.
    name: &'a str,
    /// The merchant the key belongs to.
    #[schema(format = Uuid)]
    merchant_id: &'a str,
    /// The scopes the key carries.
    #[schema(example = json!(["orders:read"]))]
    scopes: Vec<&'static str>,
    /// 1, then one more at each rotation.
    version: i32,
    /// When the key stops working; `null` for never.
    #[schema(format = DateTime)]
    expires_at: Option<String>,
    /// `live`, or `test` for a test key (`kw_test_…`): an API can refuse test keys on
    /// live data.
    #[schema(example = "live")]
    environment: &'static str,
}

/// Who am I.
///
/// The key's ID, name, merchant, scopes, version, expiry and environment.
#[utoipa::path(
    get,
    path = "/api/v1/whoami",
    tag = "Verification",
    params(
        ("X-Merchant-Id" = Option<String>, Header, format = Uuid, description = "When sent, the key must belong to this merchant"),
    ),
    responses(
        (status = 200, description = "The key is valid", body = WhoAmI, headers(
            ("Sunset" = String, description = "For a rotated key in its grace period: when the grace period ends (RFC 8594, an HTTP-date)"),
            ("X-Keyward-Key-Expires" = String, description = "For a key with an expiry: when it expires (an HTTP-date)"),
        )),
        (status = 400, response = manage::openapi::KeyMalformed),
        (status = 401, response = manage::openapi::KeyUnauthorized),
        (status = 403, response = manage::openapi::KeyForbidden),
        (status = 429, response = manage::openapi::KeyRateLimited),
    ),
    security(("api_key" = []))
)]
pub async fn whoami(req: HttpRequest, verifier: web::Data<Verifier>) -> Result<HttpResponse, ApiError> {
    let verified = verified(&req, &verifier, Requirements::default(), Caller::Client).await?;
    let key = &verified.key;
    let body = WhoAmI {
        key_id: &key.id,
        name: &key.name,
        merchant_id: key.merchant_id.as_str(),
        scopes: key.scopes.names(),
        version: key.version,
        expires_at: key.expires_at().map(|at| {
            at.assume_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default()
        }),
        environment: key.environment.as_str(),
    };
    Ok(with_key_headers(HttpResponse::Ok().json(body), &verified))
}

/// Forward-auth's query string.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct AuthQuery {
    scope: Vec<String>,
    environment: Vec<String>,
}

/// Forward-auth.
///
/// For gateways (nginx `auth_request`, Traefik ForwardAuth, Envoy ext_authz): 200 with
/// the key's merchant, ID and scopes in `X-Keyward-*` headers and an empty body, or the
/// same errors as `whoami`. Every `scope` named must be the key's, and with
/// `environment=live` a test key is refused (403 `environment_not_allowed`).
/// A refusal also names its code in `X-Keyward-Error` and carries its JSON body in
/// `X-Keyward-Error-Body`, so a gateway can answer its client with them.
#[utoipa::path(
    get,
    path = "/api/v1/auth",
    tag = "Verification",
    params(
        ("scope" = Option<Vec<String>>, Query, explode, description = "A scope the key must carry; repeat for several"),
        ("environment" = Option<String>, Query, description = "`live` or `test`: the key must be of this environment (a gateway in front of live data sends `live`, so test keys are refused there)"),
        ("X-Merchant-Id" = Option<String>, Header, format = Uuid, description = "When sent, the key must belong to this merchant"),
    ),
    responses(
        (status = 200, description = "The key is valid and carries every scope asked for", headers(
            ("X-Keyward-Merchant-Id" = String, description = "The key's merchant"),
            ("X-Keyward-Key-Id" = String, description = "The key version's ID"),
            ("X-Keyward-Scopes" = String, description = "The key's scopes, separated by spaces"),
            ("X-Keyward-Environment" = String, description = "`live`, or `test` for a test key: a gateway can refuse test keys on live data"),
            ("Sunset" = String, description = "For a rotated key in its grace period: when the grace period ends (RFC 8594, an HTTP-date)"),
            ("X-Keyward-Key-Expires" = String, description = "For a key with an expiry: when it expires (an HTTP-date)"),
        )),
        (status = 400, response = manage::openapi::KeyMalformed),
        (status = 401, response = manage::openapi::KeyUnauthorized),
        (status = 403, response = manage::openapi::KeyForbidden),
        (status = 429, response = manage::openapi::KeyRateLimited),
    ),
    security(("api_key" = []))
)]
pub async fn auth(req: HttpRequest, verifier: web::Data<Verifier>) -> Result<HttpResponse, ApiError> {
    // Every scope named is checked, so a request that adds some cannot widen what
    // passes; an empty one asks for nothing. A query that cannot be read names none,
    // and the key is still checked.
    let query: AuthQuery = serde_html_form::from_str(req.query_string()).unwrap_or_default();
    let scopes: Vec<&str> = query
        .scope
        .iter()
        .map(String::as_str)
        .filter(|scope| !scope.is_empty())
        .collect();
    let environments: Vec<&str> = query
        .environment
        .iter()
        .map(String::as_str)
        .filter(|environment| !environment.is_empty())
        .collect();
    let requirements = Requirements {
        scopes: &scopes,
        environments: &environments,
    };
    let verified = match verified(&req, &verifier, requirements, Caller::Gateway).await {
        Ok(verified) => verified,
        Err(err) => return Ok(err.gateway_response()),
    };
    let key = &verified.key;
    let response = HttpResponse::Ok()
        .insert_header(("X-Keyward-Merchant-Id", key.merchant_id.as_str()))
        .insert_header(("X-Keyward-Key-Id", &*key.id))
        .insert_header(("X-Keyward-Scopes", key.scopes.names().join(" ")))
        .insert_header(("X-Keyward-Environment", key.environment.as_str()))
        .finish();
    Ok(with_key_headers(response, &verified))
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;
    use time::macros::datetime;

    use super::*;

    #[test]
    fn a_key_in_a_logged_path_or_agent_is_masked_however_it_was_encoded() {
        let key = crate::domain::ApiKey::generate();
        let secret = &key.expose()["kw_live_".len()..];
        let mut encodings = vec![key.expose().to_owned(), key.expose().replace('_', "%5F")];
        for _ in 0..3 {
            let deeper = encodings.last().unwrap().replace('%', "%25");
            encodings.push(deeper);
        }
        for encoded in &encodings {
            let path = format!("/hooks/{encoded}?token=x");
            assert_eq!(
                logged_path(&path),
                format!("/hooks/{}", key.masked()),
                "{encoded}"
            );
            let agent = format!("client/1.0 ({encoded})");
            let agent = logged_agent(&agent);
            assert!(
                !agent.contains(secret) && agent.contains(&key.masked()),
                "{agent}"
            );
        }
        let too_deep = encodings.last().unwrap().replace('%', "%25");
        assert_eq!(logged_path(&format!("/hooks/{too_deep}")), TOO_ENCODED);
        assert_eq!(logged_path("/orders/100%25%20done"), "/orders/100% done");
    }

    #[test]
    fn http_dates_follow_rfc_9110() {
        assert_eq!(
            http_date(datetime!(1994-11-06 08:49:37)),
            "Sun, 06 Nov 1994 08:49:37 GMT"
        );
    }

    #[test]
    fn forwarded_addresses_count_only_behind_a_trusted_proxy() {
        let proxy: IpAddr = "127.0.0.1".parse().unwrap();
        let trusted = TrustedProxies(vec![proxy]);
        let behind = TestRequest::default()
            .peer_addr("127.0.0.1:5000".parse().unwrap())
            .insert_header(("X-Forwarded-For", "198.51.100.1, 203.0.113.9, 127.0.0.1"))
            .to_http_request();
        assert_eq!(
            trusted.client_address(&behind),
            Some("203.0.113.9".parse().unwrap())
        );
        assert_eq!(
            TrustedProxies::default().client_address(&behind),
            Some(proxy),
            "untrusted: the peer"
        );
        let direct = TestRequest::default()
            .peer_addr("192.0.2.5:5000".parse().unwrap())
            .insert_header(("X-Forwarded-For", "203.0.113.9"))
            .to_http_request();
        assert_eq!(
            trusted.client_address(&direct),
            Some("192.0.2.5".parse().unwrap()),
            "a spoofed header is ignored"
        );
    }

    #[test]
    fn a_trusted_gateway_names_the_client_by_x_forwarded_for_then_x_real_ip() {
        let trusted = TrustedProxies(vec!["127.0.0.1".parse().unwrap()]);
        let request = |peer: &str, headers: &[(&str, &str)]| {
            let mut request = TestRequest::default().peer_addr(peer.parse().unwrap());
            for header in headers {
                request = request.insert_header(*header);
            }
            request.to_http_request()
        };
        let nginx = request("127.0.0.1:5000", &[("X-Real-IP", "203.0.113.9")]);
        assert_eq!(
            trusted.gateway_client_address(&nginx),
            Some("203.0.113.9".parse().unwrap())
        );
        let both = request(
            "127.0.0.1:5000",
            &[("X-Real-IP", "198.51.100.1"), ("X-Forwarded-For", "203.0.113.9")],
        );
        assert_eq!(
            trusted.gateway_client_address(&both),
            Some("203.0.113.9".parse().unwrap())
        );
        let mapped = request("127.0.0.1:5000", &[("X-Real-IP", "::ffff:203.0.113.9")]);
        assert_eq!(
            trusted.gateway_client_address(&mapped),
            Some("203.0.113.9".parse().unwrap())
        );
        let unreadable = request("127.0.0.1:5000", &[("X-Real-IP", "203.0.113.9, 198.51.100.1")]);
        assert_eq!(
            trusted.gateway_client_address(&unreadable),
            Some("127.0.0.1".parse().unwrap())
        );
        let spoofed = request("192.0.2.5:5000", &[("X-Real-IP", "203.0.113.9")]);
        assert_eq!(
            trusted.gateway_client_address(&spoofed),
            Some("192.0.2.5".parse().unwrap())
        );
        assert_eq!(
            trusted.client_address(&nginx),
            Some("127.0.0.1".parse().unwrap()),
            "X-Real-IP is read for forward-auth only"
        );
    }
}
