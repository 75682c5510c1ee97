//! New key versions: generate, duplicate and rotate. The key's plaintext is in the
//! first answer only; a retry with the same `Idempotency-Key` gets the key without it.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use time::PrimitiveDateTime;
use utoipa::ToSchema;

use super::resource::{Key, KeyEnvironment, environment_field, find_key, location, naming_expiry, present};
use crate::api::manage::ManageState;
use crate::api::manage::auth::Caller;
use crate::api::manage::body::Json;
use crate::api::manage::error::ManageError;
use crate::api::manage::idempotency::{self, Answer};
use crate::api::manage::openapi;
use crate::db::keys::{self as db_keys, KeyRow};
use crate::db::{DbConnection, key_policies};
use crate::domain::{ApiKey, GracePeriod, KeyId, KeyName, MerchantId, TokenScope};
use crate::service::keys::{self, GenerateRequest, Rotate};

/// What a replay says where the plaintext was.
pub const SECRET_NOT_SHOWN: &str = "The key was shown once, in the first response to this Idempotency-Key; it is never stored or shown again.";

/// A new key, or a duplicate's changes to its source's settings.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    /// Its name, unique among the merchant's live keys; required unless the key policy
    /// makes names optional ("Key N" then). A duplicate's defaults to "<source> (copy)".
    #[schema(max_length = 100, example = "Checkout production")]
    pub name: Option<String>,
    /// Free text.
    #[schema(max_length = 500)]
    pub description: Option<String>,
    /// The scopes it carries (`orders:read`, …).
    #[schema(example = json!(["orders:read"]))]
    pub scopes: Option<Vec<String>>,
    /// Days until it expires, renewable. Leave out both expiry fields for a key that
    /// never expires (where the key policy allows it).
    #[schema(minimum = 1, maximum = 3650)]
    pub expires_in_days: Option<u32>,
    /// Its last day (UTC): it stops working at the end of it.
    #[schema(format = Date, example = "2027-06-30")]
    pub expires_on: Option<String>,
    /// Requests per minute it may make; `null` for no limit.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 1000000)]
    pub rate_limit_per_minute: Option<Option<u32>>,
    /// `live` (when left out) or `test`. A duplicate is in its source's environment.
    #[schema(value_type = Option<KeyEnvironment>)]
    pub environment: Option<String>,
    /// The IPv4/IPv6 addresses and CIDR ranges it may be used from (at most 100);
    /// empty for any address. A duplicate's defaults to its source's.
    #[schema(max_items = 100, example = json!(["203.0.113.0/24", "2001:db8::/32"]))]
    pub allowed_ips: Option<Vec<String>>,
}

impl CreateKey {
    /// The field an invalid expiry is named by.
    fn expiry_field(&self) -> &'static str {
        if self.expires_on.is_some() {
            "expires_on"
        } else {
            "expires_in_days"
        }
    }

    /// The service's request; a duplicate takes what is left out from `source`.
    fn into_request(
        self,
        source: Option<&KeyRow>,
        request_id: Option<String>,
    ) -> Result<GenerateRequest, ManageError> {
        let (expires, expires_on) = match (self.expires_in_days, self.expires_on) {
            (Some(_), Some(_)) => {
                return Err(ManageError::invalid(
                    "expires_on",
                    "Give expires_in_days or expires_on, not both.",
                ));
            }
            (Some(days), None) => (days.to_string(), String::new()),
            (None, Some(day)) => ("custom".to_owned(), day),
            (None, None) => (
                source
                    .and_then(|source| source.lifetime_days)
                    .map_or_else(|| "never".to_owned(), |days| days.to_string()),
                String::new(),
            ),
        };
        let asked = self.environment.as_deref().map(environment_field).transpose()?;
        let environment = match (source, asked) {
            (Some(source), Some(asked)) if asked != source.environment => {
                return Err(ManageError::invalid(
                    "environment",
                    "A duplicate is in its source's environment: leave environment out, or create a key instead.",
                ));
            }
            (Some(source), _) => source.environment,
            (None, asked) => asked.unwrap_or_default(),
        };
        let rate_limit = self.rate_limit_per_minute.unwrap_or_else(|| {
            source
                .and_then(|source| source.rate_limit_per_minute)
                .and_then(|limit| u32::try_from(limit).ok())
        });
        Ok(GenerateRequest {
            name: self
                .name
                .or_else(|| source.map(|source| KeyName::copy_of(&source.name)))
                .unwrap_or_default(),
            description: self
                .description
                .or_else(|| source.map(|source| source.description.clone()))
                .unwrap_or_default(),
            scopes: self
                .scopes
                .or_else(|| {
                    source.map(|source| source.scopes.names().into_iter().map(str::to_owned).collect())
                })
                .unwrap_or_default(),
            expires,
            expires_on,
            duplicated_from: source.map(|source| source.id.clone()),
            request_id,
            rate_limit: rate_limit.map(|limit| limit.to_string()).unwrap_or_default(),
            environment,
            allowed_ips: self
                .allowed_ips
                .or_else(|| source.map(|source| source.allowed_ips.entries()))
                .unwrap_or_default(),
        })
    }
}

/// A key just made, with its plaintext the first time it is answered.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct CreatedKey {
    /// The key.
    pub key: Key,
    /// The whole key: in the first answer only. Store it now.
    #[schema(example = "kw_live_C9o7…")]
    pub secret: Option<String>,
    /// Why `secret` is `null`, when it is.
    pub secret_note: Option<String>,
}

impl CreatedKey {
    fn revealing(key: Key, secret: &ApiKey) -> Self {
        Self {
            key,
            secret: Some(secret.expose().to_owned()),
            secret_note: None,
        }
    }

    fn shown_before(key: Key) -> Self {
        Self {
            key,
            secret: None,
            secret_note: Some(SECRET_NOT_SHOWN.to_owned()),
        }
    }
}

/// A rotation's new version, with its plaintext the first time it is answered, and
/// the version it replaced.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct RotatedKey {
    /// The new version.
    pub key: Key,
    /// The whole new key: in the first answer only. Store it now.
    pub secret: Option<String>,
    /// Why `secret` is `null`, when it is.
    pub secret_note: Option<String>,
    /// The version it replaced, working until its grace period ends.
    pub previous: Key,
}

/// A key made by this request, or by an earlier attempt with its `Idempotency-Key`.
enum Made<T> {
    Now(ApiKey, T),
    Before(T),
}

/// The key an earlier attempt with this one-time value made and committed, if any.
fn made_before(
    conn: &mut DbConnection,
    merchant_id: &MerchantId,
    request_id: Option<&str>,
) -> Result<Option<KeyRow>, ManageError> {
    match request_id {
        Some(request_id) => Ok(db_keys::find_by_request_id(conn, merchant_id, request_id)?),
        None => Ok(None),
    }
}

/// Generates a key (from `source`'s settings for a duplicate).
async fn generate(
    state: &ManageState,
    caller: &Caller,
    body: CreateKey,
    source: Option<KeyRow>,
    request_id: Option<String>,
) -> Result<Answer, ManageError> {
    let expiry_field = body.expiry_field();
    let request = body.into_request(source.as_ref(), request_id)?;
    let merchant_id = caller.token.merchant_id.clone();
    let (actor, pepper, now) = (caller.actor.clone(), state.pepper.clone(), state.clock.now());
    let made = state
        .change_keys(move |conn| {
            if let Some(row) = made_before(conn, &merchant_id, request.request_id.as_deref())? {
                return Ok(Made::Before(row));
            }
            let generated = keys::generate(conn, &merchant_id, &request, &actor, &pepper, now)?;
            Ok(Made::Now(generated.key, generated.row))
        })
        .await
        .map_err(|err| naming_expiry(err, expiry_field))?;
    let (secret, row) = match made {
        Made::Now(secret, row) => (Some(secret), row),
        Made::Before(row) => (None, row),
    };
    let key = Key::from_row(&row, now);
    let replayed = CreatedKey::shown_before(key.clone());
    let first = match &secret {
        Some(secret) => CreatedKey::revealing(key, secret),
        None => CreatedKey::shown_before(key),
    };
    Answer::created(&first, &replayed, location(&row.id))
}

/// Create a key.
///
/// Generates a key under the merchant's key policy. The whole key is in this answer
/// only: a retry with the same `Idempotency-Key` answers with `secret: null`.
#[utoipa::path(
    post,
    path = "/api/v1/keys",
    tag = "Keys",
    params(idempotency::IdempotencyKeyHeader),
    request_body = CreateKey,
    responses(
        (status = 201, description = "The key, with its plaintext once", body = CreatedKey,
            headers(("Location" = String, description = "The key's address"))),
        (status = 401, response = openapi::Unauthorized),
        (status = 403, response = openapi::Forbidden),
        (status = 409, response = openapi::Conflict),
        (status = 413, response = openapi::TooLarge),
        (status = 415, response = openapi::UnsupportedMediaType),
        (status = 422, response = openapi::Unprocessable),
        (status = 429, response = openapi::TooManyRequests),
        (status = 503, response = openapi::Unavailable),
    ),
    security(("management_token" = ["keys:write"]))
)]
pub async fn create_key(
    state: web::Data<ManageState>,
    caller: Caller,
    req: HttpRequest,
    body: Json<CreateKey>,
) -> Result<HttpResponse, ManageError> {
    caller.require(TokenScope::KeysWrite)?;
    let Json { value, raw } = body;
    idempotency::once(&state, &caller, &req, &raw, |request_id| {
        generate(&state, &caller, value, None, request_id)
    })
    .await
}

/// Duplicate a key.
///
/// Generates a new key with the source's description, scopes, lifetime and rate limit;
/// the fields given replace the source's. Its name defaults to "<source name> (copy)".
#[utoipa::path(
    post,
    path = "/api/v1/keys/{key_id}/duplicate",
    tag = "Keys",
    params(
        ("key_id" = String, Path, format = Uuid, description = "The source key version's ID"),
        idempotency::IdempotencyKeyHeader,
    ),
    request_body = CreateKey,
    responses(
        (status = 201, description = "The new key, with its plaintext once", body = CreatedKey,
            headers(("Location" = String, description = "The new key's address"))),
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
pub async fn duplicate_key(
    state: web::Data<ManageState>,
    caller: Caller,
    req: HttpRequest,
    key_id: web::Path<KeyId>,
    body: Json<CreateKey>,
) -> Result<HttpResponse, ManageError> {
    caller.require(TokenScope::KeysWrite)?;
    let Json { value, raw } = body;
    idempotency::once(&state, &caller, &req, &raw, |request_id| async {
        let source = find_key(&state, &caller, key_id.into_inner()).await?;
        generate(&state, &caller, value, Some(source), request_id).await
    })
    .await
}

/// How long the old version keeps working after a rotation.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
pub enum Grace {
    /// It stops at once.
    #[serde(rename = "now")]
    Now,
    /// One hour.
    #[serde(rename = "1h")]
    OneHour,
    /// 24 hours.
    #[serde(rename = "24h")]
    OneDay,
    /// 3 days.
    #[serde(rename = "3d")]
    ThreeDays,
    /// 7 days.
    #[serde(rename = "7d")]
    SevenDays,
}

impl From<Grace> for GracePeriod {
    fn from(grace: Grace) -> Self {
        match grace {
            Grace::Now => GracePeriod::Now,
            Grace::OneHour => GracePeriod::OneHour,
            Grace::OneDay => GracePeriod::OneDay,
            Grace::ThreeDays => GracePeriod::ThreeDays,
            Grace::SevenDays => GracePeriod::SevenDays,
        }
    }
}

/// A rotation.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateKey {
    /// How long the old version keeps working (never past its own expiry); the key
    /// policy's default when left out.
    pub grace: Option<Grace>,
}

/// The version before `row` in its lineage: the one a rotation replaced.
fn replaced(conn: &mut DbConnection, row: &KeyRow) -> Result<KeyRow, ManageError> {
    db_keys::lineage(conn, &row.merchant_id, &row.lineage_id)?
        .into_iter()
        .find(|version| version.version == row.version - 1)
        .ok_or(ManageError::NotFound("key"))
}

async fn rotate(
    state: &ManageState,
    caller: &Caller,
    key_id: KeyId,
    body: RotateKey,
    request_id: Option<String>,
) -> Result<Answer, ManageError> {
    let old = find_key(state, caller, key_id).await?;
    let merchant_id = caller.token.merchant_id.clone();
    let (actor, pepper, now) = (caller.actor.clone(), state.pepper.clone(), state.clock.now());
    let (made, previous) = state
        .change_keys(move |conn| {
            if let Some(row) = made_before(conn, &merchant_id, request_id.as_deref())? {
                let previous = replaced(conn, &row)?;
                return Ok((Made::Before(row), previous));
            }
            let grace = match body.grace {
                Some(grace) => grace.into(),
                None => key_policies::get(conn, &merchant_id)?.default_grace,
            };
            let command = Rotate {
                key_id: &old.id,
                grace,
                request_id: request_id.as_deref(),
            };
            let generated = keys::rotate(conn, &merchant_id, &command, &actor, &pepper, now)?;
            let previous = replaced(conn, &generated.row)?;
            Ok((Made::Now(generated.key, generated.row), previous))
        })
        .await?;
    let (secret, row) = match made {
        Made::Now(secret, row) => (Some(secret), row),
        Made::Before(row) => (None, row),
    };
    rotated(&row, secret.as_ref(), &previous, now)
}

fn rotated(
    row: &KeyRow,
    secret: Option<&ApiKey>,
    previous: &KeyRow,
    now: PrimitiveDateTime,
) -> Result<Answer, ManageError> {
    let answer = |secret: Option<&ApiKey>| RotatedKey {
        key: Key::from_row(row, now),
        secret: secret.map(|secret| secret.expose().to_owned()),
        secret_note: secret.is_none().then(|| SECRET_NOT_SHOWN.to_owned()),
        previous: Key::from_row(previous, now),
    };
    Answer::created(&answer(secret), &answer(None), location(&row.id))
}

/// Rotate a key.
///
/// Makes the next version, with the same name, description, scopes, lifetime and rate
/// limit; the old version keeps working until its grace period ends. The whole new key
/// is in this answer only.
#[utoipa::path(
    post,
    path = "/api/v1/keys/{key_id}/rotate",
    tag = "Keys",
    params(
        ("key_id" = String, Path, format = Uuid, description = "The key version's ID"),
        idempotency::IdempotencyKeyHeader,
    ),
    request_body(content = Option<RotateKey>, description = "Optional: the grace period"),
    responses(
        (status = 201, description = "The new version, with its plaintext once", body = RotatedKey,
            headers(("Location" = String, description = "The new version's address"))),
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
pub async fn rotate_key(
    state: web::Data<ManageState>,
    caller: Caller,
    req: HttpRequest,
    key_id: web::Path<KeyId>,
    body: Json<RotateKey>,
) -> Result<HttpResponse, ManageError> {
    caller.require(TokenScope::KeysWrite)?;
    let Json { value, raw } = body;
    idempotency::once(&state, &caller, &req, &raw, |request_id| {
        rotate(&state, &caller, key_id.into_inner(), value, request_id)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_expiry_fields_are_refused() {
        let body = CreateKey {
            expires_in_days: Some(30),
            expires_on: Some("2030-01-01".to_owned()),
            ..CreateKey::default()
        };
        assert!(matches!(
            body.into_request(None, None),
            Err(ManageError::Invalid { field: Some(ref field), .. }) if field == "expires_on"
        ));
    }

    #[test]
    fn a_new_key_without_expiry_never_expires_and_has_no_limit() {
        let request = CreateKey::default()
            .into_request(None, Some("api:x".to_owned()))
            .unwrap();
        assert_eq!(
            (request.expires.as_str(), request.rate_limit.as_str()),
            ("never", "")
        );
        assert_eq!(request.request_id.as_deref(), Some("api:x"));
        let dated = CreateKey {
            expires_on: Some("2030-01-01".to_owned()),
            rate_limit_per_minute: Some(Some(60)),
            ..CreateKey::default()
        };
        let request = dated.into_request(None, None).unwrap();
        assert_eq!(
            (
                request.expires.as_str(),
                request.expires_on.as_str(),
                request.rate_limit.as_str()
            ),
            ("custom", "2030-01-01", "60")
        );
    }
}
