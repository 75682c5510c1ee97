//! `POST /api/v1/keys/{key_id}/reveal`: a test key shown again, under the same rule as
//! Reveal on its card.

use actix_web::http::header::{CACHE_CONTROL, CacheControl, CacheDirective};
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::change::NoFields;
use super::resource::{Key, find_key};
use crate::api::manage::ManageState;
use crate::api::manage::auth::Caller;
use crate::api::manage::body::Json;
use crate::api::manage::error::ManageError;
use crate::api::manage::openapi;
use crate::domain::{KeyId, TokenScope};
use crate::service::keys;

/// A test key and its whole secret.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct RevealedKey {
    /// The key.
    pub key: Key,
    /// The whole test key.
    #[schema(example = "kw_test_C9o7…")]
    pub secret: String,
}

/// Reveal a test key again.
///
/// Where the merchant's Key Policy lets test keys be revealed again
/// (`test_keys_revealable`), the whole test key; recorded in the key's history. A live
/// key never is (409 `live_key_not_revealable`), nor a test key while the policy does not
/// allow it (409 `reveal_not_allowed`). Answered with `Cache-Control: no-store`.
#[utoipa::path(
    post,
    path = "/api/v1/keys/{key_id}/reveal",
    tag = "Keys",
    params(("key_id" = String, Path, format = Uuid, description = "The key version's ID")),
    request_body(content = Option<NoFields>, description = "Nothing: send no body, or `{}`"),
    responses(
        (status = 200, description = "The test key, whole", body = RevealedKey),
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
pub async fn reveal_key(
    state: web::Data<ManageState>,
    caller: Caller,
    key_id: web::Path<KeyId>,
    _body: Json<NoFields>,
) -> Result<HttpResponse, ManageError> {
    caller.require(TokenScope::KeysWrite)?;
    let row = find_key(&state, &caller, key_id.into_inner()).await?;
    let merchant_id = caller.token.merchant_id.clone();
    let (actor, pepper, now) = (caller.actor.clone(), state.pepper.clone(), state.clock.now());
    let revealed = state
        .db
        .run(move |conn| keys::reveal(conn, &merchant_id, &row.id, &actor, &pepper, now))
        .await
        .map_err(ManageError::from)?;
    let body = RevealedKey {
        key: Key::from_row(&revealed.row, now),
        secret: revealed.key.expose().to_owned(),
    };
    Ok(HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, CacheControl(vec![CacheDirective::NoStore])))
        .json(body))
}
