//! A key as the management API shows it, and what the key endpoints share: finding the
//! caller's key, its address, the state names and the reading of optional fields.

use serde::{Deserialize, Serialize};
use time::PrimitiveDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;

use crate::api::manage::ManageState;
use crate::api::manage::auth::Caller;
use crate::api::manage::error::ManageError;
use crate::db::keys::{self as db_keys, KeyRow, Listed};
use crate::domain::{Environment, KeyId, KeyStatus};

/// Reads a field that may be left out (`None`: keep or take the default) or sent as
/// `null` (`Some(None)`: none).
pub(super) fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// An invalid expiry named by the field the request gave it in.
pub(super) fn naming_expiry(err: ManageError, field: &'static str) -> ManageError {
    match err {
        ManageError::Invalid {
            field: Some(named),
            message,
        } if named == "expires" => ManageError::Invalid {
            field: Some(field.to_owned()),
            message,
        },
        other => other,
    }
}

/// The address of a key version.
pub fn location(key_id: &KeyId) -> String {
    format!("/api/v1/keys/{key_id}")
}

/// A time as the API writes it: RFC 3339 in UTC.
pub fn rfc3339(at: PrimitiveDateTime) -> String {
    at.assume_utc().format(&Rfc3339).unwrap_or_default()
}

/// One key version, never its secret.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
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
    #[schema(value_type = KeyState, example = "active")]
    pub status: String,
    /// The scopes the key carries.
    pub scopes: Vec<String>,
    /// Requests per minute the key may make; `null` for no limit.
    pub rate_limit_per_minute: Option<i32>,
    /// The addresses and CIDR ranges the key may be used from; empty for any address.
    #[serde(default)]
    #[schema(example = json!(["203.0.113.0/24"]))]
    pub allowed_ips: Vec<String>,
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
    /// `live`, or `test` for a test key (`kw_test_…`); every version of a key has its
    /// first version's. Read as `live` from a server that predates test keys.
    #[serde(default)]
    pub environment: KeyEnvironment,
}

/// Where a key may be used, as the API names it: in a `Key`, on create and in the
/// list's `environment` filter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum KeyEnvironment {
    /// Live data (`kw_live_…`).
    #[default]
    Live,
    /// Testing only (`kw_test_…`).
    Test,
}

impl From<Environment> for KeyEnvironment {
    fn from(environment: Environment) -> Self {
        match environment {
            Environment::Live => KeyEnvironment::Live,
            Environment::Test => KeyEnvironment::Test,
        }
    }
}

/// Reads an `environment` field or parameter: `live` or `test`, named when it is
/// neither.
pub(super) fn environment_field(raw: &str) -> Result<Environment, ManageError> {
    raw.parse()
        .map_err(|_| ManageError::invalid("environment", "Choose live or test."))
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
            allowed_ips: row.allowed_ips.entries(),
            lifetime_days: row.lifetime_days,
            expires_at: row.expires_at.map(rfc3339),
            grace_ends_at: row.grace_ends_at.map(rfc3339),
            created_at: rfc3339(row.created_at),
            created_by: row.created_by.clone(),
            last_used_at: row.last_used_at.map(rfc3339),
            environment: row.environment.into(),
        }
    }
}

/// A key's state as the API names it, in a `Key` and in the list's `status` filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    /// Works.
    Active,
    /// Switched off; can be enabled again.
    Disabled,
    /// Past its expiry.
    Expired,
    /// Replaced by a newer version, still working in its grace period.
    Rotated,
    /// Replaced, its grace period over.
    Retired,
    /// Refused for good.
    Revoked,
}

impl KeyState {
    /// Every state, in the order the dashboard lists them.
    pub const ALL: [KeyState; 6] = [
        KeyState::Active,
        KeyState::Disabled,
        KeyState::Expired,
        KeyState::Rotated,
        KeyState::Retired,
        KeyState::Revoked,
    ];

    /// The name a `Key` and the filter use.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Active => "active",
            KeyState::Disabled => "disabled",
            KeyState::Expired => "expired",
            KeyState::Rotated => "rotated",
            KeyState::Retired => "retired",
            KeyState::Revoked => "revoked",
        }
    }

    /// Parses a filter's value.
    pub fn parse(raw: &str) -> Option<Self> {
        KeyState::ALL.into_iter().find(|state| state.as_str() == raw)
    }

    /// The keys a list in this state shows, as the dashboard's lists tell them apart.
    pub fn listed(self) -> Listed {
        match self {
            KeyState::Active => Listed::Active,
            KeyState::Disabled => Listed::Disabled,
            KeyState::Expired => Listed::Expired,
            KeyState::Rotated => Listed::InGrace,
            KeyState::Retired => Listed::Retired,
            KeyState::Revoked => Listed::Revoked,
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
