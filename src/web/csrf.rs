//! CSRF protection for every change: a same-site request carrying this session's token,
//! in the `X-CSRF-Token` header (htmx) or the `csrf_token` form field (plain forms). A
//! visitor who is not signed in has no stored session: the sign-in form's token lives in
//! a signed cookie of its own.

use actix_session::SessionExt;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderMap};
use actix_web::middleware::Next;
use actix_web::web::{Bytes, Data};
use subtle::ConstantTimeEq;

use crate::web::error::WebError;
use crate::web::forms::MAX_FORM_BYTES;
use crate::web::session::TypedSession;
use crate::web::state::AppState;

/// The header htmx sends the token in.
pub const CSRF_HEADER: &str = "X-CSRF-Token";
/// The form field plain forms send the token in.
pub const CSRF_FIELD: &str = "csrf_token";

/// Middleware: refuses with 403, before any handler runs, every unsafe request to the
/// dashboard that comes from another site or lacks this session's token; then refuses
/// a body that is not a form (415) or larger than any form (413), which no dashboard
/// page sends, even where the handler would not read it.
pub async fn protect(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    if req.method().is_safe() || req.path().starts_with("/api/") {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    let refusal = match check(&mut req).await {
        Ok(()) if has_foreign_body(req.headers()) => WebError::UnsupportedMediaType,
        Ok(()) if declared_length(req.headers()) > MAX_FORM_BYTES => WebError::PayloadTooLarge,
        Ok(()) => return Ok(next.call(req).await?.map_into_left_body()),
        Err(_) if TypedSession::from_session(req.get_session()).is_store_unavailable() => {
            WebError::SessionsUnavailable
        }
        Err(Refusal::TooLarge) => WebError::PayloadTooLarge,
        Err(Refusal::TimedOut) => WebError::BodyTimeout,
        Err(Refusal::CookieNotKept) => {
            tracing::warn!(
                "refused a sign-in form sent without its cookie over plain HTTP: the browser keeps Secure cookies over HTTPS only (serve the dashboard over HTTPS, or see KEYWARD_INSECURE_COOKIES)"
            );
            WebError::CookieNotKept
        }
        Err(Refusal::Csrf(reason)) => {
            tracing::warn!(reason, "refused a change without a valid CSRF token");
            WebError::CsrfRejected(reason)
        }
    };
    let response = actix_web::ResponseError::error_response(&refusal);
    Ok(req.into_response(response).map_into_right_body())
}

/// Why a change was refused before its handler.
enum Refusal {
    /// No valid token, or another site.
    Csrf(&'static str),
    /// The form is larger than any the dashboard sends: its token cannot be read.
    TooLarge,
    /// The form did not arrive within its deadline.
    TimedOut,
    /// A visitor's form came without its cookie over plain HTTP, where the browser
    /// refused the `Secure` cookie it was given.
    CookieNotKept,
}

impl From<&'static str> for Refusal {
    fn from(reason: &'static str) -> Self {
        Refusal::Csrf(reason)
    }
}

async fn check(req: &mut ServiceRequest) -> Result<(), Refusal> {
    // The Host header as sent, not X-Forwarded-Host: a proxy must pass Host through.
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if is_cross_site(req.headers(), &host) {
        return Err("cross-site request".into());
    }
    // A signed-in session's own token; for a visitor, the one in the signed cookie.
    let session = TypedSession::from_session(req.get_session());
    let expected = if session.user_id().is_some() {
        session.expected_csrf_token()
    } else {
        let state = req.app_data::<Data<AppState>>();
        let token = state.and_then(|state| state.visitor_tokens.read(req.request()));
        if token.is_none()
            && state.is_some_and(|state| {
                state
                    .visitor_tokens
                    .dropped_over_http(req.request(), &state.proxies)
            })
        {
            return Err(Refusal::CookieNotKept);
        }
        token
    }
    .ok_or("no session or visitor token")?;
    let provided = match header_token(req.headers()) {
        Some(token) => token,
        None => form_token(req).await?.ok_or("no token in the request")?,
    };
    if bool::from(provided.as_bytes().ct_eq(expected.as_bytes())) {
        Ok(())
    } else {
        Err("wrong token".into())
    }
}

/// True when the browser says the request comes from another site, by
/// `Sec-Fetch-Site` or by an `Origin` whose host is not ours.
fn is_cross_site(headers: &HeaderMap, host: &str) -> bool {
    let fetch_site = headers
        .get("Sec-Fetch-Site")
        .and_then(|value| value.to_str().ok());
    if matches!(fetch_site, Some("cross-site" | "same-site")) {
        return true;
    }
    match headers.get(header::ORIGIN).map(|value| value.to_str()) {
        // Browsers send `Origin: null` for our own forms because of
        // `Referrer-Policy: no-referrer`: it says nothing, so Sec-Fetch-Site and the
        // token decide.
        None | Some(Ok("null")) => false,
        Some(Ok(origin)) => {
            let origin_host = origin.split_once("://").map(|(_, rest)| rest).unwrap_or("");
            !origin_host.eq_ignore_ascii_case(host)
        }
        Some(Err(_)) => true,
    }
}

fn header_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get(CSRF_HEADER)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/x-www-form-urlencoded"))
}

/// True when the request has a body type other than a urlencoded form (a body-less
/// htmx request sends none).
fn has_foreign_body(headers: &HeaderMap) -> bool {
    headers.contains_key(header::CONTENT_TYPE) && !is_form(headers)
}

/// The body's size as `Content-Length` declares it; 0 without one.
fn declared_length(headers: &HeaderMap) -> usize {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok())
        .unwrap_or(0)
}

/// Reads `csrf_token` from a urlencoded body and puts the body back for the handler.
async fn form_token(req: &mut ServiceRequest) -> Result<Option<String>, Refusal> {
    if !is_form(req.headers()) {
        return Ok(None);
    }
    let body = req.extract::<Bytes>().await.map_err(|err| {
        if crate::web::body::timed_out(&err) {
            Refusal::TimedOut
        } else if err.as_response_error().status_code() == StatusCode::PAYLOAD_TOO_LARGE {
            Refusal::TooLarge
        } else {
            Refusal::Csrf("unreadable form")
        }
    })?;
    if body.len() > MAX_FORM_BYTES {
        return Err(Refusal::TooLarge);
    }
    let token = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body)
        .ok()
        .and_then(|fields| {
            fields
                .into_iter()
                .find(|(name, _)| name == CSRF_FIELD)
                .map(|(_, value)| value)
        });
    req.set_payload(Payload::from(body));
    Ok(token)
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(
                header::HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        map
    }

    #[test]
    fn same_origin_and_headerless_requests_pass() {
        assert!(!is_cross_site(
            &headers(&[("origin", "null"), ("sec-fetch-site", "same-origin")]),
            "127.0.0.1:8080"
        ));
        assert!(!is_cross_site(&headers(&[]), "127.0.0.1:8080"));
        assert!(!is_cross_site(
            &headers(&[
                ("origin", "http://127.0.0.1:8080"),
                ("sec-fetch-site", "same-origin")
            ]),
            "127.0.0.1:8080"
        ));
    }

    #[test]
    fn other_origins_and_sites_are_cross_site() {
        assert!(is_cross_site(
            &headers(&[("origin", "https://evil.example")]),
            "127.0.0.1:8080"
        ));
        assert!(is_cross_site(
            &headers(&[("sec-fetch-site", "cross-site")]),
            "127.0.0.1:8080"
        ));
        assert!(is_cross_site(
            &headers(&[("sec-fetch-site", "same-site")]),
            "127.0.0.1:8080"
        ));
    }
}
