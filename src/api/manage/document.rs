//! The OpenAPI 3.1 document, generated from the handlers' annotations and the types they
//! answer with, served at `GET /api/v1/openapi.json`.

use actix_web::HttpResponse;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{Modify, OpenApi};

use super::openapi::{
    BadRequest, Conflict, ErrorBody, ErrorDetail, Forbidden, KeyForbidden, KeyMalformed, KeyRateLimited,
    KeyUnauthorized, NotFound, TooLarge, TooManyRequests, Unauthorized, Unavailable, Unprocessable,
    UnsupportedMediaType,
};

struct Security;

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
struct ServiceUnavailable;

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

/// The management API's document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Keyward API",
        description = "Manage a merchant's API keys with a management token, and verify API keys."
    ),
    paths(
        super::keys::get_key,
        super::audit::list_events,
        super::policy::get_policy,
        super::policy::put_policy,
        super::members::list_members,
        crate::api::whoami,
        crate::api::auth,
        document,
    ),
    components(
        schemas(
            ErrorBody,
            ErrorDetail,
            super::keys::Key,
            super::events::Event,
            super::events::EventActor,
            super::audit::EventPage,
            super::policy::Policy,
            super::members::Member,
            super::members::MemberList,
            crate::api::WhoAmI,
        ),
        responses(
            BadRequest,
            Unauthorized,
            Forbidden,
            NotFound,
            Conflict,
            TooLarge,
            UnsupportedMediaType,
            Unprocessable,
            TooManyRequests,
            Unavailable,
            KeyMalformed,
            KeyUnauthorized,
            KeyForbidden,
            KeyRateLimited,
        )
    ),
    modifiers(&Security, &ServiceUnavailable),
    tags(
        (name = "Keys", description = "A merchant's API keys"),
        (name = "Audit Log", description = "Every change to the merchant's keys, policy, members and tokens"),
        (name = "Key Policy", description = "The rules the merchant's keys follow"),
        (name = "Members", description = "Who belongs to the merchant"),
        (name = "Verification", description = "The API that keys unlock: who a key is, and forward-auth for gateways"),
        (name = "OpenAPI", description = "This document"),
    )
)]
pub struct ApiDoc;

/// This document.
///
/// The OpenAPI 3.1 document of the management API and of the key-authenticated API; no
/// token needed.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "OpenAPI",
    responses((status = 200, description = "The OpenAPI document", body = Object, content_type = "application/json")),
    security(())
)]
pub async fn document() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
