//! Changes to one key: its fields (PATCH), its state (disable, enable, renew, revoke)
//! and its deletion. The call itself is the confirmation the dashboard asks for.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use utoipa::ToSchema;

use super::resource::{Key, find_key, naming_expiry, present};
use crate::api::manage::ManageState;
use crate::api::manage::auth::Caller;
use crate::api::manage::body::Json;
use crate::api::manage::error::ManageError;
use crate::api::manage::idempotency::{self, Answer};
use crate::api::manage::openapi;
use crate::db::DbConnection;
use crate::db::keys::KeyRow;
use crate::domain::{Actor, KeyId, MerchantId, TokenScope};
use crate::service::keys::{self, EditRequest, KeyError};

/// The fields to change; those left out keep their value.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateKey {
    /// A new name, unique among the merchant's live keys.
    #[schema(max_length = 100)]
    pub name: Option<String>,
    /// A new description.
    #[schema(max_length = 500)]
    pub description: Option<String>,
    /// The scopes it carries from now on, where the key policy lets scopes change.
    pub scopes: Option<Vec<String>>,
    /// Requests per minute it may make; `null` for no limit.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 1000000)]
    pub rate_limit_per_minute: Option<Option<u32>>,
    /// Its last day (UTC; it stops at the end of it, and can no longer be renewed), or
    /// `null` for never (where the key policy allows it).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, format = Date, example = "2027-06-30")]
    pub expires_on: Option<Option<String>>,
    /// The IPv4/IPv6 addresses and CIDR ranges it may be used from from now on (at most
    /// 100); empty for any address.
    #[schema(max_items = 100, example = json!(["203.0.113.0/24"]))]
    pub allowed_ips: Option<Vec<String>>,
}

impl UpdateKey {
    /// The service's request: what is left out keeps the key's value, read inside the
    /// change's transaction.
    fn into_request(self) -> EditRequest {
        EditRequest {
            name: self.name,
            description: self.description,
            scopes: self.scopes,
            rate_limit: self
                .rate_limit_per_minute
                .map(|limit| limit.map(|limit| limit.to_string()).unwrap_or_default()),
            expires_on: self.expires_on.map(Option::unwrap_or_default),
            allowed_ips: self.allowed_ips,
        }
    }
}

type KeyChange =
    fn(&mut DbConnection, &MerchantId, &KeyId, &Actor, time::PrimitiveDateTime) -> Result<KeyRow, KeyError>;

/// Makes `change` to the caller's key and answers with the key as it is now.
async fn change_key(
    state: &ManageState,
    caller: &Caller,
    key_id: KeyId,
    change: KeyChange,
) -> Result<Answer, ManageError> {
    let row = find_key(state, caller, key_id).await?;
    let merchant_id = caller.token.merchant_id.clone();
    let (actor, now) = (caller.actor.clone(), state.clock.now());
    let changed = state
        .change_keys(move |conn| Ok(change(conn, &merchant_id, &row.id, &actor, now)?))
        .await?;
    Answer::ok(&Key::from_row(&changed, now))
}

async fn update(
    state: &ManageState,
    caller: &Caller,
    key_id: KeyId,
    body: UpdateKey,
) -> Result<Answer, ManageError> {
    let row = find_key(state, caller, key_id).await?;
    let request = body.into_request();
    let merchant_id = caller.token.merchant_id.clone();
    let (actor, now) = (caller.actor.clone(), state.clock.now());
    let edited = state
        .change_keys(move |conn| Ok(keys::edit(conn, &merchant_id, &row.id, &request, &actor, now)?))
        .await
        .map_err(|err| naming_expiry(err, "expires_on"))?;
    Answer::ok(&Key::from_row(&edited, now))
}

/// Update a key.
///
/// Changes its name, description, scopes (where the key policy allows), rate limit or
/// expiry; fields left out keep their value. Each change is its own history event.
#[utoipa::path(
    patch,
    path = "/api/v1/keys/{key_id}",
    tag = "Keys",
    params(
        ("key_id" = String, Path, format = Uuid, description = "The key version's ID"),
        idempotency::IdempotencyKeyHeader,
    ),
    request_body = UpdateKey,
    responses(
        (status = 200, description = "The key as changed", body = Key),
        (status = 401, response = openapi::Unauthorized),
        (status = 403, response = openapi::Forbidden),
        (status = 404, response = openapi::NotFound),
        (status = 409, response = openapi::Conflict),
        (status = 413, response = openapi::TooLarge),
        (status = 415, response = openapi::UnsupportedMediaType),
        (status = 422, response = openapi::Unprocessable),
        (status = 429, response = openapi::TooManyRequests),
        (status = 503, response = openapi::Unavailable),
    ),
    security(("management_token" = ["keys:write"]))
)]
pub async fn update_key(
    state: web::Data<ManageState>,
    caller: Caller,
    req: HttpRequest,
    key_id: web::Path<KeyId>,
    body: Json<UpdateKey>,
) -> Result<HttpResponse, ManageError> {
    caller.require(TokenScope::KeysWrite)?;
    let Json { value, raw } = body;
    idempotency::once(&state, &caller, &req, &raw, |_| {
        update(&state, &caller, key_id.into_inner(), value)
    })
    .await
}

/// The body of an action that takes none: send nothing, or `{}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoFields {}

/// Answers a state change of the caller's key, once per `Idempotency-Key`.
async fn act(
    state: web::Data<ManageState>,
    caller: Caller,
    req: HttpRequest,
    key_id: web::Path<KeyId>,
    body: Json<NoFields>,
    change: KeyChange,
) -> Result<HttpResponse, ManageError> {
    caller.require(TokenScope::KeysWrite)?;
    idempotency::once(&state, &caller, &req, &body.raw, |_| {
        change_key(&state, &caller, key_id.into_inner(), change)
    })
    .await
}

fn revoke_confirmed(
    conn: &mut DbConnection,
    merchant_id: &MerchantId,
    key_id: &KeyId,
    actor: &Actor,
    now: time::PrimitiveDateTime,
) -> Result<KeyRow, KeyError> {
    // Calling revoke is the confirmation the dashboard asks to type, as on the CLI.
    keys::revoke(conn, merchant_id, key_id, "REVOKE", actor, now)
}

/// Declares a state change's endpoint: its OpenAPI description and its handler.
macro_rules! state_change {
    ($name:ident, $path:literal, $change:expr, $summary:literal, $description:literal) => {
        #[doc = $summary]
        #[doc = ""]
        #[doc = $description]
        #[utoipa::path(
                    post,
                    path = $path,
                    tag = "Keys",
                    params(
                        ("key_id" = String, Path, format = Uuid, description = "The key version's ID"),
                        idempotency::IdempotencyKeyHeader,
                    ),
                    request_body(content = Option<NoFields>, description = "Nothing: send no body, or `{}`"),
                    responses(
                        (status = 200, description = "The key as changed", body = Key),
                        (status = 401, response = openapi::Unauthorized),
                        (status = 403, response = openapi::Forbidden),
                        (status = 404, response = openapi::NotFound),
                        (status = 409, response = openapi::Conflict),
                        (status = 413, response = openapi::TooLarge),
                        (status = 415, response = openapi::UnsupportedMediaType),
                        (status = 422, response = openapi::Unprocessable),
                        (status = 429, response = openapi::TooManyRequests),
                        (status = 503, response = openapi::Unavailable),
                    ),
                    security(("management_token" = ["keys:write"]))
                )]
        pub async fn $name(
            state: web::Data<ManageState>,
            caller: Caller,
            req: HttpRequest,
            key_id: web::Path<KeyId>,
            body: Json<NoFields>,
        ) -> Result<HttpResponse, ManageError> {
            act(state, caller, req, key_id, body, $change).await
        }
    };
}

state_change!(
    disable_key,
    "/api/v1/keys/{key_id}/disable",
    keys::disable,
    "Disable a key.",
    "It is refused until enabled again."
);
state_change!(
    enable_key,
    "/api/v1/keys/{key_id}/enable",
    keys::enable,
    "Enable a disabled key.",
    "Within the key policy's limit of active keys."
);
state_change!(
    renew_key,
    "/api/v1/keys/{key_id}/renew",
    keys::renew,
    "Renew a key.",
    "A key generated with a lifetime expires one lifetime from now (capped by the key policy)."
);
state_change!(
    revoke_key,
    "/api/v1/keys/{key_id}/revoke",
    revoke_confirmed,
    "Revoke a key.",
    "For good: its next request is refused. Under a strict key policy an active key must be disabled first."
);

/// Delete a key.
///
/// Hidden from lists, kept for history. Under the default key policy only a key that no
/// longer works (disabled, revoked, expired) can be deleted.
#[utoipa::path(
    delete,
    path = "/api/v1/keys/{key_id}",
    tag = "Keys",
    params(("key_id" = String, Path, format = Uuid, description = "The key version's ID")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, response = openapi::Unauthorized),
        (status = 403, response = openapi::Forbidden),
        (status = 404, response = openapi::NotFound),
        (status = 409, response = openapi::Conflict),
        (status = 429, response = openapi::TooManyRequests),
        (status = 503, response = openapi::Unavailable),
    ),
    security(("management_token" = ["keys:write"]))
)]
pub async fn delete_key(
    state: web::Data<ManageState>,
    caller: Caller,
    key_id: web::Path<KeyId>,
) -> Result<HttpResponse, ManageError> {
    caller.require(TokenScope::KeysWrite)?;
    let row = find_key(&state, &caller, key_id.into_inner()).await?;
    let merchant_id = caller.token.merchant_id.clone();
    let (actor, now) = (caller.actor.clone(), state.clock.now());
    state
        .change_keys(move |conn| Ok(keys::delete(conn, &merchant_id, &row.id, true, &actor, now)?))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn left_out_fields_keep_their_value_and_null_clears() {
        let body: UpdateKey = crate::api::manage::body::parse(br#"{"rate_limit_per_minute":null}"#).unwrap();
        assert_eq!(body.rate_limit_per_minute, Some(None));
        assert_eq!(body.expires_on, None);
        let body: UpdateKey =
            crate::api::manage::body::parse(br#"{"expires_on":null,"rate_limit_per_minute":5}"#).unwrap();
        assert_eq!(
            (body.expires_on, body.rate_limit_per_minute),
            (Some(None), Some(Some(5)))
        );
    }
}
