//! The API's errors: a status, a stable code and a message, as JSON.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};

use crate::db::DbError;
use crate::domain::KeyFormatError;
use crate::error::Failure;

/// Why a request to the key-authenticated API was refused.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No `Authorization: ApiKey …` header.
    #[error("Send the API key in the header `Authorization: ApiKey <key>`.")]
    MissingKey,
    /// The header or the key is not in the expected form (bad checksum included), and
    /// which check of the key's format failed when the header itself was readable.
    #[error("{0}")]
    MalformedKey(&'static str, Option<KeyFormatError>),
    /// A well-formed key that no key matches.
    #[error("This API key is not valid.")]
    InvalidKey,
    /// The key is disabled.
    #[error("This API key is disabled. Enable it on the API Credentials page or use another key.")]
    KeyDisabled,
    /// The key was revoked.
    #[error("This API key was revoked and can no longer be used.")]
    KeyRevoked,
    /// The key expired, or its grace period after rotation ended.
    #[error("{0}")]
    KeyExpired(&'static str),
    /// The key lacks the scope asked for.
    #[error("This API key does not have the scope `{0}`.")]
    InsufficientScope(String),
    /// `X-Merchant-Id` sent more than once.
    #[error("Send X-Merchant-Id once: this request carries several values.")]
    DuplicateMerchantId,
    /// `X-Merchant-Id` names another merchant: the one it named.
    #[error("This API key does not belong to the merchant in X-Merchant-Id.")]
    MerchantMismatch(String),
    /// The request came from an address outside the key's allowlist. Carries the
    /// allowlist as text, so the request log can keep what the refusal rested on.
    #[error("This API key may not be used from {address}: the address is not allowed for this key.")]
    IpNotAllowed {
        /// The client address the request came from.
        address: std::net::IpAddr,
        /// The key's allowlist at the time ("203.0.113.0/24, 2001:db8::/32").
        allowlist: String,
    },
    /// Forward-auth asked for keys of another environment (a test key on live data).
    #[error("This is a {environment} key; this API takes {wanted} keys only.")]
    EnvironmentNotAllowed {
        /// The key's environment.
        environment: crate::domain::Environment,
        /// The environment the gateway asked for.
        wanted: String,
    },
    /// Too many requests with this key (its own limit).
    #[error("{message} Retry after {retry_after} seconds.")]
    RateLimited {
        /// What was exceeded.
        message: &'static str,
        /// Seconds until the next request may succeed.
        retry_after: u64,
        /// The key's limit per minute.
        limit: u32,
    },
    /// The database is out of reach or locked: nothing can be verified.
    #[error("Keys cannot be verified right now. Retry in a few seconds.")]
    Unavailable(#[source] DbError),
    /// Anything else.
    #[error("The request could not be completed.")]
    Unexpected(#[source] anyhow::Error),
}

impl ApiError {
    /// The stable error code of DESIGN.md §6.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::MissingKey => "missing_key",
            ApiError::MalformedKey(..) => "malformed_key",
            ApiError::InvalidKey => "invalid_key",
            ApiError::KeyDisabled => "key_disabled",
            ApiError::KeyRevoked => "key_revoked",
            ApiError::KeyExpired(_) => "key_expired",
            ApiError::InsufficientScope(_) => "insufficient_scope",
            ApiError::DuplicateMerchantId => "duplicate_merchant_id",
            ApiError::MerchantMismatch(_) => "merchant_mismatch",
            ApiError::IpNotAllowed { .. } => "ip_not_allowed",
            ApiError::EnvironmentNotAllowed { .. } => "environment_not_allowed",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Unexpected(_) => "internal_error",
        }
    }

    /// The fact a refusal rested on that the key's row does not keep, for the request
    /// log: the scope asked for, the merchant named, the limit, which format check
    /// failed. `None` for a refusal the key's row explains alone.
    pub fn detail(&self) -> Option<String> {
        match self {
            ApiError::InsufficientScope(scope) => Some(scope.clone()),
            ApiError::MerchantMismatch(named) => Some(named.clone()),
            ApiError::RateLimited { limit, .. } => Some(limit.to_string()),
            ApiError::IpNotAllowed { allowlist, .. } => Some(allowlist.clone()),
            ApiError::EnvironmentNotAllowed { wanted, .. } => Some(wanted.clone()),
            ApiError::MalformedKey(_, Some(format)) => Some(format.code().to_owned()),
            _ => None,
        }
    }
}

/// A method an API address does not serve, in the API's JSON error shape (the dashboard
/// answers the same status with a page).
pub fn method_not_allowed(method: &actix_web::http::Method) -> HttpResponse {
    HttpResponse::MethodNotAllowed().json(serde_json::json!({
        "error": {
            "code": "method_not_allowed",
            "message": format!("This address does not accept {method} requests; see the Allow header."),
        }
    }))
}

impl From<DbError> for ApiError {
    fn from(err: DbError) -> Self {
        if err.is_transient() {
            ApiError::Unavailable(err)
        } else {
            ApiError::Unexpected(err.into())
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::MissingKey
            | ApiError::MalformedKey(..)
            | ApiError::InvalidKey
            | ApiError::KeyDisabled
            | ApiError::KeyRevoked
            | ApiError::KeyExpired(_) => StatusCode::UNAUTHORIZED,
            ApiError::DuplicateMerchantId => StatusCode::BAD_REQUEST,
            ApiError::InsufficientScope(_)
            | ApiError::MerchantMismatch(_)
            | ApiError::IpNotAllowed { .. }
            | ApiError::EnvironmentNotAllowed { .. } => StatusCode::FORBIDDEN,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        match self {
            ApiError::RateLimited { retry_after, .. } => {
                response.insert_header((header::RETRY_AFTER, HeaderValue::from(*retry_after)));
            }
            ApiError::Unavailable(_) => {
                response.insert_header((header::RETRY_AFTER, HeaderValue::from_static("5")));
            }
            _ if self.status_code() == StatusCode::UNAUTHORIZED => {
                response.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("ApiKey")));
            }
            _ => {}
        }
        if !self.status_code().is_server_error() {
            return response.json(self.body(None));
        }
        // The request log writes the ID with the cause chain, which the client never sees.
        let failure = Failure::of(self);
        let mut response = response.json(self.body(Some(&failure.id)));
        response.extensions_mut().insert(failure);
        response
    }
}

/// The header a forward-auth refusal names its code in, for a gateway to pick up.
pub const ERROR_CODE_HEADER: &str = "x-keyward-error";
/// The header a forward-auth refusal carries its whole JSON body in, as ASCII.
pub const ERROR_BODY_HEADER: &str = "x-keyward-error-body";

impl ApiError {
    /// The JSON body: `{"error":{"code":…,"message":…}}`, with the error ID of a server
    /// failure.
    fn body(&self, error_id: Option<&str>) -> serde_json::Value {
        let mut error = serde_json::json!({"code": self.code(), "message": self.to_string()});
        if let Some(id) = error_id {
            error["error_id"] = id.into();
        }
        serde_json::json!({ "error": error })
    }

    /// The answer to a gateway's forward-auth request: the usual one, with the code and
    /// the body in headers too. A gateway drops the body of a refused auth request (nginx
    /// answers its own HTML page), but can pick headers up and answer the client with
    /// Keyward's JSON (deploy/nginx/keyward.conf).
    pub fn gateway_response(&self) -> HttpResponse {
        let mut response = self.error_response();
        let error_id = response
            .extensions()
            .get::<Failure>()
            .map(|failure| failure.id.clone());
        let body = ascii_json(&self.body(error_id.as_deref()));
        let headers = response.headers_mut();
        headers.insert(
            header::HeaderName::from_static(ERROR_CODE_HEADER),
            HeaderValue::from_static(self.code()),
        );
        if let Ok(value) = HeaderValue::from_str(&body) {
            headers.insert(header::HeaderName::from_static(ERROR_BODY_HEADER), value);
        }
        response
    }
}

/// `value` as JSON text of printable ASCII only (anything else as `\uXXXX`), so it
/// makes a valid header value whatever a message quotes.
fn ascii_json(value: &serde_json::Value) -> String {
    let mut out = String::new();
    for c in value.to_string().chars() {
        if c.is_ascii() && !c.is_ascii_control() {
            out.push(c);
        } else {
            for unit in c.encode_utf16(&mut [0; 2]) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gateway_refusal_carries_its_code_and_body_in_headers() {
        let response =
            ApiError::InsufficientScope("caf\u{e9}\"\u{7f}\u{1f600}".to_owned()).gateway_response();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            response.headers().get(ERROR_CODE_HEADER).unwrap(),
            "insufficient_scope"
        );
        let body = response
            .headers()
            .get(ERROR_BODY_HEADER)
            .unwrap()
            .to_str()
            .expect("printable ASCII");
        let parsed: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(parsed["error"]["code"], "insufficient_scope");
        assert_eq!(
            parsed["error"]["message"],
            "This API key does not have the scope `caf\u{e9}\"\u{7f}\u{1f600}`."
        );
    }

    #[test]
    fn a_gateway_refusal_keeps_the_usual_headers() {
        let response = ApiError::KeyRevoked.gateway_response();
        assert_eq!(
            response.headers().get(header::WWW_AUTHENTICATE).unwrap(),
            "ApiKey"
        );
        assert_eq!(response.headers().get(ERROR_CODE_HEADER).unwrap(), "key_revoked");
    }
}
