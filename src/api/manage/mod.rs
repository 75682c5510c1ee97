//! The management API: what the dashboard does to a merchant's keys, for automation,
//! under `/api/v1/`, authenticated by management tokens (`Authorization: Bearer
//! kw_mgmt_…`) and answered in JSON. Every change goes through the same service calls,
//! and so the same rules, as the dashboard and the CLI.

pub mod audit;
pub mod auth;
pub mod body;
pub mod error;
pub mod events;
pub mod idempotency;
pub mod keys;
pub mod members;
pub mod openapi;
pub mod policy;
pub mod requests;

use std::sync::Arc;
use std::time::Duration;

use actix_web::{HttpResponse, web};
use utoipa::OpenApi;

use super::TrustedProxies;
use super::cache::KeyCache;
use super::limits::{KeyRateLimiter, UnknownKeyBudget};
use crate::clock::Clock;
use crate::db::{Db, DbConnection};
use crate::domain::KeyPepper;
use error::ManageError;
use openapi::{Security, ServiceUnavailable};

/// Requests a token may send per minute unless the operator says otherwise.
pub const DEFAULT_TOKEN_REQUESTS_PER_MINUTE: u32 = 300;

/// Everything the management API's handlers share.
#[derive(Debug)]
pub struct ManageState {
    /// The database.
    pub db: Db,
    /// Now.
    pub clock: Clock,
    /// The digest key of keys and tokens.
    pub pepper: KeyPepper,
    /// The verification cache, cleared after every key change.
    pub key_cache: Arc<KeyCache>,
    /// Proxies whose `X-Forwarded-For` names the client.
    pub proxies: TrustedProxies,
    /// Each token's requests per minute.
    pub limits: KeyRateLimiter,
    /// Made-up tokens answered per client address and minute before that address is
    /// answered 429 for made-up ones (real tokens are never held back by it).
    pub unknown: UnknownKeyBudget,
    /// How many requests per minute each token may send.
    pub requests_per_minute: u32,
    /// How long a request body may take to arrive.
    pub body_timeout: Duration,
}

impl ManageState {
    /// Runs a key change on a blocking thread and, once it has committed, clears the
    /// verification cache in the same task, as the dashboard does.
    pub async fn change_keys<T, F>(&self, change: F) -> Result<T, ManageError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, ManageError> + Send + 'static,
        T: Send + 'static,
    {
        let cache = self.key_cache.clone();
        self.db
            .run(move |conn| {
                let changed = change(conn)?;
                cache.clear();
                Ok(changed)
            })
            .await
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
        keys::read::list_keys,
        keys::create::create_key,
        keys::read::get_key,
        keys::change::update_key,
        keys::change::delete_key,
        keys::create::rotate_key,
        keys::create::duplicate_key,
        keys::change::disable_key,
        keys::change::enable_key,
        keys::change::renew_key,
        keys::change::revoke_key,
        keys::reveal::reveal_key,
        keys::read::key_usage,
        keys::read::key_history,
        keys::requests::key_requests,
        audit::list_events,
        policy::get_policy,
        policy::put_policy,
        members::list_members,
        requests::get_request,
        crate::api::whoami,
        crate::api::auth,
        document,
    ),
    components(
        schemas(openapi::ErrorBody, openapi::ErrorDetail, keys::Key),
        schemas(
            keys::KeyState,
            keys::KeyEnvironment,
            keys::RevealedKey,
            keys::KeyPage,
            keys::CreateKey,
            keys::CreatedKey,
            keys::UpdateKey,
            keys::NoFields,
            keys::RotateKey,
            keys::Grace,
            keys::RotatedKey,
            keys::Usage,
            keys::HourlyUsage,
            keys::EventList,
            keys::RequestPage,
            keys::LoggedRequest,
            events::Event,
            events::EventActor,
            audit::EventPage,
            policy::Policy,
            members::Member,
            members::MemberList,
            requests::ExplainedRequest,
            requests::Explanation,
            crate::api::WhoAmI,
        ),
        responses(
            openapi::BadRequest,
            openapi::Unauthorized,
            openapi::Forbidden,
            openapi::NotFound,
            openapi::Conflict,
            openapi::TooLarge,
            openapi::UnsupportedMediaType,
            openapi::Unprocessable,
            openapi::TooManyRequests,
            openapi::Unavailable,
            openapi::KeyMalformed,
            openapi::KeyUnauthorized,
            openapi::KeyForbidden,
            openapi::KeyRateLimited,
        )
    ),
    modifiers(&Security, &ServiceUnavailable),
    tags(
        (name = "Keys", description = "A merchant's API keys"),
        (name = "Audit Log", description = "Every change to the merchant's keys, policy, members and tokens"),
        (name = "Key Policy", description = "The rules the merchant's keys follow"),
        (name = "Members", description = "Who belongs to the merchant"),
        (name = "Request Log", description = "Why a request with one of the merchant's keys was refused"),
        (name = "Verification", description = "The API that keys unlock: who a key is, and forward-auth for gateways"),
        (name = "OpenAPI", description = "This document"),
    )
)]
pub struct ApiDoc;

/// Registers the management API's routes under `/api/v1/` (after `whoami` and `auth`).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1")
            .app_data(
                web::PathConfig::default().error_handler(|_, _| ManageError::NotFound("resource").into()),
            )
            .app_data(web::QueryConfig::default().error_handler(|err, _| {
                let message = err.to_string();
                ManageError::Invalid {
                    field: body::named_field(&message),
                    message: format!("The query string could not be read: {message}"),
                }
                .into()
            }))
            .service(web::resource("/openapi.json").route(web::get().to(document)))
            .configure(keys::routes)
            .configure(audit::routes)
            .configure(policy::routes)
            .configure(members::routes)
            .configure(requests::routes)
            .default_service(web::route().to(not_found)),
    );
}

/// This document.
///
/// The OpenAPI 3.1 document of the management API and of the key-authenticated API,
/// generated from the handlers themselves; no token needed.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "OpenAPI",
    responses((status = 200, description = "The OpenAPI document", body = Object, content_type = "application/json")),
    security(())
)]
async fn document() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}

async fn not_found() -> Result<HttpResponse, ManageError> {
    Err(ManageError::NotFound("resource"))
}
