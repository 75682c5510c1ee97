//! `/api/v1/requests/{request_id}`: a refused request from the merchant's request log,
//! found by the `X-Request-Id` its caller was answered with, and why it was refused, in
//! the words the dashboard's Request Log uses.

use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::ManageState;
use super::auth::Caller;
use super::error::ManageError;
use super::keys::rfc3339;
use super::openapi;
use crate::db::DbError;
use crate::db::key_requests::{self, RequestRow};
use crate::domain::TokenScope;
use crate::domain::diagnosis::{self, Diagnosis};
use crate::service::diagnosis as explain;

/// Registers the request route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/requests/{request_id}").route(web::get().to(get_request)));
}

/// Why a request was answered as it was.
#[derive(Debug, Serialize, ToSchema)]
pub struct Explanation {
    /// `accepted`, or the error code the request was answered with.
    pub code: String,
    /// The rule that decided it, in words, with the fact it rested on.
    pub summary: String,
    /// The facts behind it: the key's state, versions, scopes, allowed addresses, limit.
    pub facts: Vec<String>,
    /// What to do next.
    pub next_step: String,
}

impl From<Diagnosis> for Explanation {
    fn from(diagnosis: Diagnosis) -> Self {
        Self {
            code: diagnosis.code,
            summary: diagnosis.summary,
            facts: diagnosis.facts,
            next_step: diagnosis.next_step,
        }
    }
}

/// A request from the request log, explained.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExplainedRequest {
    /// The `X-Request-Id` the request was answered with.
    pub request_id: String,
    /// The key version presented, or `null` when the key matched none.
    #[schema(format = Uuid)]
    pub key_id: Option<String>,
    /// The key as presented, masked; empty when it was not shaped like a key.
    pub presented_key: String,
    /// `accepted`, or the error code the request was answered with.
    pub outcome: String,
    /// When the request came.
    #[schema(format = DateTime)]
    pub at: String,
    /// The client address verification used.
    pub client_address: String,
    /// The client's User-Agent.
    pub user_agent: String,
    /// The method (for forward-auth, the one the gateway reported).
    pub method: String,
    /// The path (for forward-auth, the one the gateway reported), keys in it masked.
    pub path: String,
    /// The fact the refusal rested on that the key does not keep: the scope asked for,
    /// the allowlist at the time, the merchant named, the limit per minute, or which part
    /// of the key format failed.
    pub detail: String,
    /// Why, and what to do next.
    pub explanation: Explanation,
}

impl ExplainedRequest {
    fn new(row: RequestRow, diagnosis: Diagnosis) -> Self {
        Self {
            request_id: row.request_id,
            key_id: row.key_id,
            presented_key: row.presented_key,
            outcome: row.outcome,
            at: rfc3339(row.last_at),
            client_address: row.client_address,
            user_agent: row.user_agent,
            method: row.method,
            path: row.path,
            detail: row.detail,
            explanation: diagnosis.into(),
        }
    }
}

/// Explain a refused request.
///
/// A request refused with one of the merchant's keys (or naming the merchant in
/// `X-Merchant-Id`), found by the `X-Request-Id` its answer carried, with the rule that
/// refused it, the facts behind it and what to do next. Requests are kept for
/// `KEYWARD_REQUEST_LOG_DAYS` (7 by default); another merchant's request is not found.
#[utoipa::path(
    get,
    path = "/api/v1/requests/{request_id}",
    tag = "Request Log",
    params(("request_id" = String, Path, description = "The X-Request-Id the answer carried")),
    responses(
        (status = 200, description = "The request, explained", body = ExplainedRequest),
        (status = 401, response = openapi::Unauthorized),
        (status = 403, response = openapi::Forbidden),
        (status = 404, response = openapi::NotFound),
        (status = 429, response = openapi::TooManyRequests),
        (status = 503, response = openapi::Unavailable),
    ),
    security(("management_token" = ["keys:read"]))
)]
pub async fn get_request(
    state: web::Data<ManageState>,
    caller: Caller,
    request_id: web::Path<String>,
) -> Result<HttpResponse, ManageError> {
    caller.require(TokenScope::KeysRead)?;
    let request_id = diagnosis::request_id(&request_id).ok_or(ManageError::NotFound("request"))?;
    let merchant_id = caller.token.merchant_id.clone();
    let now = state.clock.now();
    let found = state
        .db
        .run(move |conn| -> Result<_, DbError> {
            let Some(row) = key_requests::find_by_request_id(conn, &merchant_id, &request_id)? else {
                return Ok(None);
            };
            let diagnosis = explain::explain(conn, &row, now)?;
            Ok(Some((row, diagnosis)))
        })
        .await?;
    let (row, diagnosis) = found.ok_or(ManageError::NotFound("request"))?;
    Ok(HttpResponse::Ok().json(ExplainedRequest::new(row, diagnosis)))
}
