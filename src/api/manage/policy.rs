//! `/api/v1/key-policy`: the merchant's Key Policy, read and replaced whole, through the
//! same service and checks as the dashboard's Key Policy page.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa::openapi::schema::Object;

use super::ManageState;
use super::auth::Caller;
use super::body::Json;
use super::error::ManageError;
use crate::db::key_policies;
use crate::domain::{GracePeriod, KeyPolicy, TokenScope};
use crate::service::policy;

/// Registers the Key Policy routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/key-policy")
            .route(web::get().to(get_policy))
            .route(web::put().to(put_policy)),
    );
}

/// The rules the merchant's keys follow. A change applies to the next action; existing
/// keys are left as they are.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Active keys allowed at once (keys in a grace period do not count).
    #[schema(minimum = 1, maximum = 100, example = 5)]
    pub max_active_keys: u32,
    /// The grace period a rotation gets when it names none.
    #[schema(schema_with = grace_periods)]
    pub default_grace: &'static str,
    /// A key must be named; otherwise an unnamed key is called "Key N".
    pub name_required: bool,
    /// An active key must be disabled before it can be revoked.
    pub revoke_only_disabled: bool,
    /// Only a key that no longer works (disabled, revoked, expired) can be deleted.
    pub delete_only_inactive: bool,
    /// Scopes can be changed after the key is generated.
    pub scopes_editable: bool,
    /// Keys must expire within this many days; `null` for no limit.
    #[schema(minimum = 1, maximum = 3650)]
    pub max_lifetime_days: Option<u32>,
    /// A test key may be revealed again (`POST /api/v1/keys/{key_id}/reveal`, or Reveal
    /// on its card); live keys never are. False when left out of a `PUT`.
    #[serde(default)]
    pub test_keys_revealable: bool,
}

fn grace_periods() -> Object {
    super::openapi::string_enum(GracePeriod::ALL.map(GracePeriod::as_str))
}

impl From<&KeyPolicy> for Policy {
    fn from(policy: &KeyPolicy) -> Self {
        Self {
            max_active_keys: policy.max_active_keys,
            default_grace: policy.default_grace.as_str(),
            name_required: policy.name_required,
            revoke_only_disabled: policy.revoke_only_disabled,
            delete_only_inactive: policy.delete_only_inactive,
            scopes_editable: policy.scopes_editable,
            max_lifetime_days: policy.max_lifetime_days,
            test_keys_revealable: policy.test_keys_revealable,
        }
    }
}

/// `PUT /key-policy`'s body as sent: every field present, each value read by
/// `TryFrom` so that a value of the wrong type is refused naming its field, as a value
/// out of range is.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyBody {
    max_active_keys: Value,
    default_grace: Value,
    name_required: Value,
    revoke_only_disabled: Value,
    delete_only_inactive: Value,
    scopes_editable: Value,
    max_lifetime_days: Value,
    #[serde(default)]
    test_keys_revealable: Value,
}

fn whole_number(value: &Value, field: &str, range: &str) -> Result<u32, ManageError> {
    value
        .as_u64()
        .and_then(|number| u32::try_from(number).ok())
        .ok_or_else(|| ManageError::invalid(field, format!("{field} must be a whole number {range}.")))
}

fn flag(value: &Value, field: &str) -> Result<bool, ManageError> {
    value
        .as_bool()
        .ok_or_else(|| ManageError::invalid(field, format!("{field} must be true or false.")))
}

impl TryFrom<&PolicyBody> for KeyPolicy {
    type Error = ManageError;

    fn try_from(body: &PolicyBody) -> Result<Self, ManageError> {
        let default_grace = body
            .default_grace
            .as_str()
            .ok_or(())
            .and_then(|raw| GracePeriod::parse(raw).map_err(|_| ()))
            .map_err(|()| {
                ManageError::invalid("default_grace", "default_grace must be now, 1h, 24h, 3d or 7d.")
            })?;
        let max_lifetime_days = match &body.max_lifetime_days {
            Value::Null => None,
            days => Some(whole_number(
                days,
                "max_lifetime_days",
                "from 1 to 3650, or null for none",
            )?),
        };
        Ok(KeyPolicy {
            max_active_keys: whole_number(&body.max_active_keys, "max_active_keys", "from 1 to 100")?,
            default_grace,
            name_required: flag(&body.name_required, "name_required")?,
            revoke_only_disabled: flag(&body.revoke_only_disabled, "revoke_only_disabled")?,
            delete_only_inactive: flag(&body.delete_only_inactive, "delete_only_inactive")?,
            scopes_editable: flag(&body.scopes_editable, "scopes_editable")?,
            max_lifetime_days,
            // Left out, the setting is off, as in every preset.
            test_keys_revealable: match &body.test_keys_revealable {
                Value::Null => false,
                value => flag(value, "test_keys_revealable")?,
            },
        }
        .validate()?)
    }
}

/// Get the Key Policy.
#[utoipa::path(
    get,
    path = "/api/v1/key-policy",
    tag = "Key Policy",
    responses(
        (status = 200, description = "The merchant's Key Policy", body = Policy),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 429, response = super::openapi::TooManyRequests),
    ),
    security(("management_token" = ["policy:read"]))
)]
pub async fn get_policy(state: web::Data<ManageState>, caller: Caller) -> Result<HttpResponse, ManageError> {
    caller.require(TokenScope::PolicyRead)?;
    let merchant_id = caller.token.merchant_id.clone();
    let policy = state
        .db
        .run(move |conn| key_policies::get(conn, &merchant_id))
        .await?;
    Ok(HttpResponse::Ok().json(Policy::from(&policy)))
}

/// Replace the Key Policy.
///
/// Every field is required. The change applies to the next action; existing keys are
/// left as they are. The Audit Log records it by the token.
#[utoipa::path(
    put,
    path = "/api/v1/key-policy",
    tag = "Key Policy",
    request_body = Policy,
    responses(
        (status = 200, description = "The Key Policy as saved", body = Policy),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 413, response = super::openapi::TooLarge),
        (status = 415, response = super::openapi::UnsupportedMediaType),
        (status = 422, response = super::openapi::Unprocessable),
        (status = 429, response = super::openapi::TooManyRequests),
    ),
    security(("management_token" = ["policy:write"]))
)]
pub async fn put_policy(
    state: web::Data<ManageState>,
    caller: Caller,
    body: Json<PolicyBody>,
) -> Result<HttpResponse, ManageError> {
    caller.require(TokenScope::PolicyWrite)?;
    let policy = KeyPolicy::try_from(&body.value)?;
    let merchant_id = caller.token.merchant_id.clone();
    let (actor, now) = (caller.actor, state.clock.now());
    state
        .db
        .run(move |conn| {
            policy::set_policy(conn, &merchant_id, &policy, &actor, now).map_err(ManageError::from)
        })
        .await?;
    Ok(HttpResponse::Ok().json(Policy::from(&policy)))
}
