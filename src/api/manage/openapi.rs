//! The OpenAPI 3.1 document's shared parts: the error body, the error responses every
//! handler names, closed sets of names as schemas, the security schemes and the 503 every
//! operation may answer. The document itself (`super::ApiDoc`) is declared beside the
//! routes, so this module names no handler and the handlers may name it.

use serde::Serialize;
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{Modify, ToResponse, ToSchema};

/// A string schema that takes only `values`: the document lists a closed set of names
/// (scopes, grace periods, event types) from the code that defines them.
pub fn string_enum<V: Into<serde_json::Value>>(values: impl IntoIterator<Item = V>) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values))
        .build()
}

/// The error every Keyward API answers with.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable code, one per rule (`rotation_in_progress`, `active_key_limit`, …).
    #[schema(example = "rotation_in_progress")]
    pub code: String,
    /// What happened and what to do, for a person.
    pub message: String,
    /// The field that is wrong, for `invalid_field`.
    #[schema(nullable = false)]
    pub field: Option<String>,
    /// For a server error: the ID the server's log holds it under.
    #[schema(nullable = false)]
    pub error_id: Option<String>,
}

macro_rules! error_response {
    ($name:ident, $description:literal $(, $headers:tt)?) => {
        #[doc = $description]
        #[derive(ToResponse)]
        #[response(description = $description, content_type = "application/json" $(, headers $headers)?)]
        #[allow(dead_code)]
        pub struct $name(ErrorBody);
    };
}

error_response!(BadRequest, "The request could not be read");
error_response!(
    Unauthorized,
    "No management token, or one that is malformed, unknown, revoked or expired"
);
error_response!(Forbidden, "The token lacks the scope this endpoint needs");
error_response!(NotFound, "No such resource for this merchant");
error_response!(Conflict, "A rule refused the change; the code names the rule");
error_response!(TooLarge, "The body is larger than 64 KB");
error_response!(UnsupportedMediaType, "The body is not JSON");
error_response!(
    Unprocessable,
    "A field is invalid (named in `field`), or an unknown field was sent"
);
error_response!(
    TooManyRequests,
    "The token's request rate limit was reached; see Retry-After",
    ((
        "Retry-After" = u64,
        description = "Seconds to wait before the next request"
    ))
);
error_response!(
    Unavailable,
    "Keyward cannot reach its database right now; retry after a few seconds",
    ((
        "Retry-After" = u64,
        description = "Seconds to wait before retrying"
    ))
);
error_response!(
    KeyMalformed,
    "`X-Merchant-Id` was sent more than once (`duplicate_merchant_id`)"
);
error_response!(
    KeyUnauthorized,
    "No API key, or one that is malformed, unknown, disabled, revoked or expired (`missing_key`, `malformed_key`, `invalid_key`, `key_disabled`, `key_revoked`, `key_expired`)",
    (("WWW-Authenticate" = String, description = "`ApiKey`"))
);
error_response!(
    KeyForbidden,
    "The key lacks a scope asked for (`insufficient_scope`), or belongs to another merchant than `X-Merchant-Id` names (`merchant_mismatch`), or the request came from an address outside the key's allowlist (`ip_not_allowed`), or forward-auth asked for another environment (`environment_not_allowed`)"
);
error_response!(
    KeyRateLimited,
    "The key's own rate limit was reached (`rate_limited`); see Retry-After",
    ((
        "Retry-After" = u64,
        description = "Seconds to wait before the next request"
    ))
);

/// The security schemes the document's operations name.
pub struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "management_token",
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A management token: `Authorization: Bearer kw_mgmt_…`"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "An API key, sent as `Authorization: ApiKey kw_live_…` (the scheme name is case-insensitive)",
            ))),
        );
    }
}

/// Every operation may meet a database that is out of reach: each one documents the 503
/// it then answers with, without every handler repeating it.
pub struct ServiceUnavailable;

impl Modify for ServiceUnavailable {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let unavailable = RefOr::Ref(Ref::from_response_name("Unavailable"));
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                operation
                    .responses
                    .responses
                    .entry("503".to_owned())
                    .or_insert_with(|| unavailable.clone());
            }
        }
    }
}
