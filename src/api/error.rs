//! The API's errors: a status, a stable code and a message, as JSON.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};

use crate::db::DbError;
use crate::error::Failure;

/// Why a request to the key-authenticated API was refused.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No `Authorization: ApiKey …` header.
    #[error("Send the API key in the header `Authorization: ApiKey <key>`.")]
    MissingKey,
    /// The header or the key is not in the expected form (bad checksum included).
    #[error("{0}")]
    MalformedKey(&'static str),
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
    /// `X-Merchant-Id` names another merchant.
    #[error("This API key does not belong to the merchant in X-Merchant-Id.")]
    MerchantMismatch,
    /// Too many requests with this key (its own limit).
    #[error("{message} Retry after {retry_after} seconds.")]
    RateLimited {
        /// What was exceeded.
        message: &'static str,
        /// Seconds until the next request may succeed.
        retry_after: u64,
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
            ApiError::MalformedKey(_) => "malformed_key",
            ApiError::InvalidKey => "invalid_key",
            ApiError::KeyDisabled => "key_disabled",
            ApiError::KeyRevoked => "key_revoked",
            ApiError::KeyExpired(_) => "key_expired",
            ApiError::InsufficientScope(_) => "insufficient_scope",
            ApiError::DuplicateMerchantId => "duplicate_merchant_id",
            ApiError::MerchantMismatch => "merchant_mismatch",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Unexpected(_) => "internal_error",
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
            | ApiError::MalformedKey(_)
            | ApiError::InvalidKey
            | ApiError::KeyDisabled
            | ApiError::KeyRevoked
            | ApiError::KeyExpired(_) => StatusCode::UNAUTHORIZED,
            ApiError::DuplicateMerchantId => StatusCode::BAD_REQUEST,
            ApiError::InsufficientScope(_) | ApiError::MerchantMismatch => StatusCode::FORBIDDEN,
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
        let mut error = serde_json::json!({"code": self.code(), "message": self.to_string()});
        if !self.status_code().is_server_error() {
            return response.json(serde_json::json!({ "error": error }));
        }
        // The request log writes the ID with the cause chain, which the client never sees.
        let failure = Failure::of(self);
        error["error_id"] = failure.id.clone().into();
        let mut response = response.json(serde_json::json!({ "error": error }));
        response.extensions_mut().insert(failure);
        response
    }
}
