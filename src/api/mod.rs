//! The API that keys unlock: `whoami` for clients, `auth` for gateways' forward-auth.

pub mod cache;
pub mod error;
pub mod known;
pub mod limits;
pub mod manage;
pub mod verify;

use std::net::IpAddr;

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use time::PrimitiveDateTime;
use time::macros::format_description;

use self::error::ApiError;
use self::verify::{Requirements, Verified, Verifier};

/// Registers the API's routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/api/v1/whoami").route(web::get().to(whoami)))
        .service(web::resource("/api/v1/auth").route(web::get().to(auth)))
        .configure(manage::routes);
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
}

/// An HTTP-date (RFC 9110), as `Sunset` and the expiry header carry.
pub fn http_date(at: PrimitiveDateTime) -> String {
    at.format(format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    ))
    .unwrap_or_default()
}

async fn verified(req: &HttpRequest, verifier: &Verifier, scopes: &[&str]) -> Result<Verified, ApiError> {
    let client = match req.app_data::<web::Data<TrustedProxies>>() {
        Some(proxies) => proxies.client_address(req),
        None => req.peer_addr().map(|addr| addr.ip()),
    }
    .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
    verifier
        .verify(req.headers(), client, Requirements { scopes })
        .await
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
}

/// Who am I.
///
/// The key's ID, name, merchant, scopes, version and expiry.
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
    let verified = verified(&req, &verifier, &[]).await?;
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
    };
    Ok(with_key_headers(HttpResponse::Ok().json(body), &verified))
}

/// Forward-auth's query string.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct AuthQuery {
    scope: Vec<String>,
}

/// Forward-auth.
///
/// For gateways (nginx `auth_request`, Traefik ForwardAuth, Envoy ext_authz): 200 with
/// the key's merchant, ID and scopes in `X-Keyward-*` headers and an empty body, or the
/// same errors as `whoami`. Every `scope` named must be the key's.
#[utoipa::path(
    get,
    path = "/api/v1/auth",
    tag = "Verification",
    params(
        ("scope" = Option<Vec<String>>, Query, explode, description = "A scope the key must carry; repeat for several"),
        ("X-Merchant-Id" = Option<String>, Header, format = Uuid, description = "When sent, the key must belong to this merchant"),
    ),
    responses(
        (status = 200, description = "The key is valid and carries every scope asked for", headers(
            ("X-Keyward-Merchant-Id" = String, description = "The key's merchant"),
            ("X-Keyward-Key-Id" = String, description = "The key version's ID"),
            ("X-Keyward-Scopes" = String, description = "The key's scopes, separated by spaces"),
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
    let verified = verified(&req, &verifier, &scopes).await?;
    let key = &verified.key;
    let response = HttpResponse::Ok()
        .insert_header(("X-Keyward-Merchant-Id", key.merchant_id.as_str()))
        .insert_header(("X-Keyward-Key-Id", &*key.id))
        .insert_header(("X-Keyward-Scopes", key.scopes.names().join(" ")))
        .finish();
    Ok(with_key_headers(response, &verified))
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;
    use time::macros::datetime;

    use super::*;

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
}
