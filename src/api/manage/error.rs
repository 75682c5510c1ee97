//! The management API's errors: a status, a stable code per rule and a message, in the
//! shape every Keyward API answers with: `{"error":{"code","message"}}` (and `field`
//! where one field is wrong).

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};

use crate::db::DbError;
use crate::domain::{KeyFormatError, Refusal, TokenScope, ValidationError};
use crate::error::Failure;
use crate::service::keys::KeyError;

/// Why a management request was refused. Nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum ManageError {
    /// No `Authorization: Bearer …` header.
    #[error("Send a management token in the header `Authorization: Bearer kw_mgmt_…`.")]
    MissingToken,
    /// An API key was sent where a management token belongs.
    #[error(
        "API keys cannot manage keys. Create a management token (kw_mgmt_…) under Settings → Management Tokens."
    )]
    ApiKeyNotAccepted,
    /// The token is not in the expected form (bad checksum included).
    #[error("This is not a Keyward management token: {}.", token_problem(*.0))]
    MalformedToken(KeyFormatError),
    /// A well-formed token that no token matches.
    #[error("This management token is not valid.")]
    InvalidToken,
    /// The token was revoked.
    #[error("This management token was revoked and can no longer be used.")]
    TokenRevoked,
    /// The token expired.
    #[error("This management token has expired. Create a new one under Settings → Management Tokens.")]
    TokenExpired,
    /// The token lacks the scope the endpoint needs.
    #[error("This management token does not have the scope `{0}`.")]
    MissingScope(TokenScope),
    /// No such resource for this merchant (it may belong to another).
    #[error("No such {0} for this merchant.")]
    NotFound(&'static str),
    /// A rule refused the change.
    #[error(transparent)]
    Refused(Refusal),
    /// A field is wrong.
    #[error("{message}")]
    Invalid {
        /// The field, as the OpenAPI document names it.
        field: Option<String>,
        /// What is wrong, for a person.
        message: String,
    },
    /// Another key or token has this name.
    #[error("{0}")]
    NameTaken(String),
    /// The same `Idempotency-Key` came with another request.
    #[error("This Idempotency-Key was used with a different request in the last 24 hours. Use a new key.")]
    IdempotencyKeyReused,
    /// The first request with this `Idempotency-Key` is still running.
    #[error("A request with this Idempotency-Key is still being processed. Retry in a moment.")]
    IdempotencyInProgress,
    /// The body did not arrive within the server's body deadline.
    #[error("The request body took too long to arrive; nothing was changed.")]
    BodyTimeout,
    /// The body is larger than 64 KB.
    #[error("The request body is larger than 64 KB.")]
    TooLarge,
    /// The body is not JSON.
    #[error("Send the request body as JSON with `Content-Type: application/json`.")]
    UnsupportedMediaType,
    /// Too many made-up tokens from this address this minute.
    #[error(
        "Too many requests with management tokens that do not exist came from this address. Retry in a minute."
    )]
    TooManyUnknownTokens,
    /// Too many requests with this token.
    #[error("This management token sent too many requests. Retry after {0} seconds.")]
    RateLimited(u64),
    /// The database is out of reach or locked.
    #[error("{}", unavailable_message(.0))]
    Unavailable(#[source] DbError),
    /// Anything else.
    #[error("The request could not be completed.")]
    Unexpected(#[source] anyhow::Error),
}

/// Why a management request got no answer from the database, and whether retrying it
/// blind is safe.
fn unavailable_message(err: &DbError) -> &'static str {
    match err {
        // A connection lost mid-work may have lost it after the commit.
        DbError::Interrupted | DbError::ConnectionLost(_) => {
            "Keyward lost touch with its database while working on this request, so a change may or may not have been made. Retry with the same Idempotency-Key, or read the resource first."
        }
        _ => "Keyward cannot reach its database right now. Retry in a few seconds.",
    }
}

/// What is wrong with a presented token, in a token's words (the format error's own
/// words are a key's).
fn token_problem(err: KeyFormatError) -> &'static str {
    match err {
        KeyFormatError::Prefix => "it does not start with kw_mgmt_",
        KeyFormatError::Length => "it does not have 54 characters",
        KeyFormatError::Alphabet => "it has characters other than letters and digits after kw_mgmt_",
        KeyFormatError::Checksum => "its checksum does not match (was it copied whole?)",
    }
}

impl ManageError {
    /// A field that is wrong, named as the API names it.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        ManageError::Invalid {
            field: Some(field.to_owned()),
            message: message.into(),
        }
    }

    /// The stable code of this error; a refusal's is its rule's.
    pub fn code(&self) -> &'static str {
        match self {
            ManageError::MissingToken => "missing_token",
            ManageError::ApiKeyNotAccepted => "api_key_not_accepted",
            ManageError::MalformedToken(_) => "malformed_token",
            ManageError::InvalidToken => "invalid_token",
            ManageError::TokenRevoked => "token_revoked",
            ManageError::TokenExpired => "token_expired",
            ManageError::MissingScope(_) => "insufficient_scope",
            ManageError::NotFound(_) => "not_found",
            ManageError::Refused(refusal) => refusal.code(),
            ManageError::Invalid { .. } => "invalid_field",
            ManageError::NameTaken(_) => "name_taken",
            ManageError::IdempotencyKeyReused => "idempotency_key_reused",
            ManageError::IdempotencyInProgress => "idempotency_in_progress",
            ManageError::TooLarge => "body_too_large",
            ManageError::BodyTimeout => "request_timeout",
            ManageError::UnsupportedMediaType => "unsupported_media_type",
            ManageError::RateLimited(_) | ManageError::TooManyUnknownTokens => "rate_limited",
            ManageError::Unavailable(_) => "unavailable",
            ManageError::Unexpected(_) => "internal_error",
        }
    }

    /// The JSON body: `{"error":{"code","message"}}`, and `field` where one is wrong.
    pub fn body(&self) -> serde_json::Value {
        let mut error = serde_json::json!({"code": self.code(), "message": self.to_string()});
        if let ManageError::Invalid {
            field: Some(field), ..
        } = self
        {
            error["field"] = field.as_str().into();
        }
        serde_json::json!({ "error": error })
    }
}

impl From<DbError> for ManageError {
    fn from(err: DbError) -> Self {
        if err.is_transient() {
            ManageError::Unavailable(err)
        } else {
            ManageError::Unexpected(err.into())
        }
    }
}

impl From<ValidationError> for ManageError {
    fn from(err: ValidationError) -> Self {
        ManageError::Invalid {
            field: field_of(&err).map(str::to_owned),
            message: err.to_string(),
        }
    }
}

/// The API's name for the field a validation error is about.
fn field_of(err: &ValidationError) -> Option<&'static str> {
    let label = match err {
        ValidationError::UnknownScope(_) => return Some("scopes"),
        ValidationError::Empty { field }
        | ValidationError::TooLong { field, .. }
        | ValidationError::ControlCharacters { field }
        | ValidationError::InvisibleCharacters { field }
        | ValidationError::TooEasyToGuess { field, .. }
        | ValidationError::IpEntry { field, .. }
        | ValidationError::Invalid { field, .. } => *field,
    };
    Some(match label {
        "Name" => "name",
        "Description" => "description",
        "Scopes" => "scopes",
        "Rate limit" => "rate_limit_per_minute",
        "Allowed IP addresses" => "allowed_ips",
        "Expires" | "Expiration" => "expires",
        "Grace period" => "grace",
        "Maximum active keys" => "max_active_keys",
        "Maximum key lifetime" => "max_lifetime_days",
        "Preset" => "preset",
        _ => return None,
    })
}

impl From<KeyError> for ManageError {
    fn from(err: KeyError) -> Self {
        match err {
            KeyError::NotFound => ManageError::NotFound("key"),
            KeyError::Invalid(err) => err.into(),
            KeyError::AlreadySubmitted => ManageError::IdempotencyInProgress,
            err @ KeyError::NameTaken(_) => ManageError::NameTaken(err.to_string()),
            KeyError::Refused(refusal) => ManageError::Refused(refusal),
            KeyError::NotPermitted => ManageError::Refused(Refusal::NotPermitted),
            KeyError::Db(err) => err.into(),
        }
    }
}

impl ResponseError for ManageError {
    fn status_code(&self) -> StatusCode {
        match self {
            ManageError::MissingToken
            | ManageError::ApiKeyNotAccepted
            | ManageError::MalformedToken(_)
            | ManageError::InvalidToken
            | ManageError::TokenRevoked
            | ManageError::TokenExpired => StatusCode::UNAUTHORIZED,
            ManageError::MissingScope(_) | ManageError::Refused(Refusal::NotPermitted) => {
                StatusCode::FORBIDDEN
            }
            ManageError::NotFound(_) => StatusCode::NOT_FOUND,
            ManageError::Refused(_) | ManageError::NameTaken(_) | ManageError::IdempotencyInProgress => {
                StatusCode::CONFLICT
            }
            ManageError::Invalid { .. } | ManageError::IdempotencyKeyReused => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ManageError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ManageError::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            ManageError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ManageError::RateLimited(_) | ManageError::TooManyUnknownTokens => StatusCode::TOO_MANY_REQUESTS,
            ManageError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ManageError::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        match self {
            ManageError::RateLimited(seconds) => {
                response.insert_header((header::RETRY_AFTER, HeaderValue::from(*seconds)));
            }
            ManageError::TooManyUnknownTokens => {
                response.insert_header((header::RETRY_AFTER, HeaderValue::from_static("60")));
            }
            ManageError::Unavailable(_) => {
                response.insert_header((header::RETRY_AFTER, HeaderValue::from_static("5")));
            }
            _ if self.status_code() == StatusCode::UNAUTHORIZED => {
                response.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
            }
            _ => {}
        }
        let mut body = self.body();
        if !self.status_code().is_server_error() {
            return response.json(body);
        }
        let failure = Failure::of(self);
        body["error"]["error_id"] = failure.id.clone().into();
        let mut response = response.json(body);
        response.extensions_mut().insert(failure);
        response
    }
}
