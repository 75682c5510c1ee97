//! `/api/v1/keys`: a merchant's keys, as the management API shows and changes them.

use actix_web::{HttpResponse, web};
use serde::Serialize;
use time::PrimitiveDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;

use super::ManageState;
use super::auth::Caller;
use super::error::ManageError;
use crate::db::keys::{self as db_keys, KeyRow};
use crate::domain::{KeyId, KeyStatus, TokenScope};

/// Registers the key routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/keys/{key_id}", web::get().to(get_key));
}

/// A time as the API writes it: RFC 3339 in UTC.
pub fn rfc3339(at: PrimitiveDateTime) -> String {
    at.assume_utc().format(&Rfc3339).unwrap_or_default()
}

/// One key version, never its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct Key {
    /// This version's ID.
    #[schema(format = Uuid)]
    pub id: String,
    /// The first version's ID, shared by every version of the key.
    #[schema(format = Uuid)]
    pub lineage_id: String,
    /// 1, then one more at each rotation.
    pub version: i32,
    /// The key's name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// The key's first and last characters, as the dashboard shows it.
    #[schema(example = "kw_live_C9o7…cwP4")]
    pub masked_key: String,
    /// What a person sees: `active`, `disabled`, `expired`, `rotated` (in its grace
    /// period), `retired` (grace ended), `revoked`.
    #[schema(example = "active")]
    pub status: String,
    /// The scopes the key carries.
    pub scopes: Vec<String>,
    /// Requests per minute the key may make; `null` for no limit.
    pub rate_limit_per_minute: Option<i32>,
    /// The lifetime a renewal gives, in days; `null` when the key has none.
    pub lifetime_days: Option<i32>,
    /// When it stops working; `null` for never.
    pub expires_at: Option<String>,
    /// For a rotated version, when its grace period ends.
    pub grace_ends_at: Option<String>,
    /// When it was generated.
    pub created_at: String,
    /// Who generated it.
    pub created_by: String,
    /// Its last accepted request.
    pub last_used_at: Option<String>,
}

impl Key {
    /// The resource for a stored version, as it reads at `now`.
    pub fn from_row(row: &KeyRow, now: PrimitiveDateTime) -> Self {
        Self {
            id: row.id.to_string(),
            lineage_id: row.lineage_id.to_string(),
            version: row.version,
            name: row.name.clone(),
            description: row.description.clone(),
            masked_key: row.masked_key.clone(),
            status: row.facts().display_status(now).label().to_ascii_lowercase(),
            scopes: row.scopes.names().into_iter().map(str::to_owned).collect(),
            rate_limit_per_minute: row.rate_limit_per_minute,
            lifetime_days: row.lifetime_days,
            expires_at: row.expires_at.map(rfc3339),
            grace_ends_at: row.grace_ends_at.map(rfc3339),
            created_at: rfc3339(row.created_at),
            created_by: row.created_by.clone(),
            last_used_at: row.last_used_at.map(rfc3339),
        }
    }
}

/// The merchant's key with this ID; another merchant's, or a deleted one, is not found.
pub async fn find_key(state: &ManageState, caller: &Caller, key_id: KeyId) -> Result<KeyRow, ManageError> {
    let merchant_id = caller.token.merchant_id.clone();
    state
        .db
        .run(move |conn| db_keys::find(conn, &merchant_id, &key_id).map_err(ManageError::from))
        .await?
        .filter(|row| row.status != KeyStatus::Deleted)
        .ok_or(ManageError::NotFound("key"))
}

/// Get a key.
#[utoipa::path(
    get,
    path = "/api/v1/keys/{key_id}",
    tag = "Keys",
    params(("key_id" = String, Path, format = Uuid, description = "The key version's ID")),
    responses(
        (status = 200, description = "The key", body = Key),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 404, response = super::openapi::NotFound),
        (status = 429, response = super::openapi::TooManyRequests),
    ),
    security(("management_token" = ["keys:read"]))
)]
pub async fn get_key(
    state: web::Data<ManageState>,
    caller: Caller,
    key_id: web::Path<KeyId>,
) -> Result<HttpResponse, ManageError> {
    caller.require(TokenScope::KeysRead)?;
    let row = find_key(&state, &caller, key_id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(Key::from_row(&row, state.clock.now())))
}
