//! The OpenAPI 3.1 document's shared parts: the error body, the error responses every
//! handler names, the security scheme. The document itself (`super::ApiDoc`) is
//! declared beside the routes, so this module names no handler and the handlers may
//! name it.

use serde::Serialize;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, ToResponse, ToSchema};

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
    ($name:ident, $description:literal) => {
        #[doc = $description]
        #[derive(ToResponse)]
        #[response(description = $description, content_type = "application/json")]
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
    "The token's request rate limit was reached; see Retry-After"
);
error_response!(
    Unavailable,
    "Keyward cannot reach its database right now; retry after Retry-After seconds"
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
    }
}
