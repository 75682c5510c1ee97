//! The management API's JSON resources as the `key` commands print them with `--json`:
//! built from rows in database mode, read from the API's answers in remote mode, so both
//! modes print the same shapes.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::PrimitiveDateTime;

use crate::api::manage::keys::{self as api_keys, rfc3339};
use crate::db::key_events::{EventRow, EventType};
use crate::db::keys::KeyRow;

/// One key version, never its secret (the API's `Key`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Key {
    pub(crate) id: String,
    pub(crate) lineage_id: String,
    pub(crate) version: i32,
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) masked_key: String,
    pub(crate) status: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) rate_limit_per_minute: Option<i32>,
    pub(crate) lifetime_days: Option<i32>,
    pub(crate) expires_at: Option<String>,
    pub(crate) grace_ends_at: Option<String>,
    pub(crate) created_at: String,
    pub(crate) created_by: String,
    pub(crate) last_used_at: Option<String>,
}

impl Key {
    /// The resource for a stored version as it reads at `now`: the API's own mapping.
    pub(crate) fn from_row(row: &KeyRow, now: PrimitiveDateTime) -> Self {
        api_keys::Key::from_row(row, now).into()
    }
}

impl From<api_keys::Key> for Key {
    fn from(key: api_keys::Key) -> Self {
        let api_keys::Key {
            id,
            lineage_id,
            version,
            name,
            description,
            masked_key,
            status,
            scopes,
            rate_limit_per_minute,
            lifetime_days,
            expires_at,
            grace_ends_at,
            created_at,
            created_by,
            last_used_at,
        } = key;
        Self {
            id,
            lineage_id,
            version,
            name,
            description,
            masked_key,
            status,
            scopes,
            rate_limit_per_minute,
            lifetime_days,
            expires_at,
            grace_ends_at,
            created_at,
            created_by,
            last_used_at,
        }
    }
}

/// A key just generated or duplicated, with its plaintext the one time it is given
/// (the API's `CreatedKey`). No `Debug`: it holds a secret.
#[derive(Serialize, Deserialize)]
pub(crate) struct CreatedKey {
    pub(crate) key: Key,
    /// The whole key; `null` in an idempotent replay.
    pub(crate) secret: Option<String>,
    /// Why `secret` is `null`.
    pub(crate) secret_note: Option<String>,
}

/// A rotation: the new version with its plaintext, and the version it replaced (the
/// API's `RotatedKey`). No `Debug`: it holds a secret.
#[derive(Serialize, Deserialize)]
pub(crate) struct RotatedKey {
    pub(crate) key: Key,
    pub(crate) secret: Option<String>,
    pub(crate) secret_note: Option<String>,
    pub(crate) previous: Key,
}

/// A new key version with the secret it was given, the one time it is given.
pub(crate) trait NewSecret {
    /// The new version.
    fn key(&self) -> &Key;
    /// Its whole key; `None` when the answer that held it was lost.
    fn secret(&self) -> Option<&str>;
    /// Why there is no secret.
    fn secret_note(&self) -> Option<&str>;
}

impl NewSecret for CreatedKey {
    fn key(&self) -> &Key {
        &self.key
    }
    fn secret(&self) -> Option<&str> {
        self.secret.as_deref()
    }
    fn secret_note(&self) -> Option<&str> {
        self.secret_note.as_deref()
    }
}

impl NewSecret for RotatedKey {
    fn key(&self) -> &Key {
        &self.key
    }
    fn secret(&self) -> Option<&str> {
        self.secret.as_deref()
    }
    fn secret_note(&self) -> Option<&str> {
        self.secret_note.as_deref()
    }
}

/// A page of keys (the API's `KeyPage`); the commands print every key in one, with no
/// further cursor.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct KeyPage {
    pub(crate) data: Vec<Key>,
    pub(crate) next_cursor: Option<String>,
}

/// Who made a change, as the API names them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct EventActor {
    /// user, support, cli, system or token.
    #[serde(rename = "type")]
    pub(crate) kind: String,
    pub(crate) name: String,
    /// For a token, whom it acts for ("created by Ana Lima").
    pub(crate) detail: Option<String>,
}

/// One history event (the API's `Event`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Event {
    pub(crate) id: String,
    /// The stored event type ("revoked").
    #[serde(rename = "type")]
    pub(crate) event_type: String,
    /// What history calls it ("Revoked").
    pub(crate) label: String,
    pub(crate) key_id: Option<String>,
    pub(crate) actor: EventActor,
    pub(crate) client_address: Option<String>,
    pub(crate) user_agent: Option<String>,
    pub(crate) details: Value,
    pub(crate) created_at: String,
}

impl Event {
    /// The resource for a stored event, as the API reads it: a type Keyward no longer
    /// names reads as its stored text, as on the key page; details always an object.
    pub(crate) fn from_row(row: &EventRow) -> Self {
        let label = row.event_type.parse::<EventType>().map_or_else(
            |()| row.event_type.replace('_', " "),
            |event_type| event_type.label().to_owned(),
        );
        Self {
            id: row.id.to_string(),
            event_type: row.event_type.clone(),
            label,
            key_id: row.key_id.clone(),
            actor: EventActor {
                kind: row.actor_type.clone(),
                name: row.actor_name.clone(),
                detail: row.actor_detail.clone(),
            },
            client_address: row.client_address.clone(),
            user_agent: row.user_agent.clone(),
            details: serde_json::from_str(&row.details)
                .ok()
                .filter(Value::is_object)
                .unwrap_or_else(|| Value::Object(Default::default())),
            created_at: rfc3339(row.created_at),
        }
    }
}

/// A key's history, oldest first (the API's answer to `GET /keys/{id}/history`).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct EventList {
    pub(crate) data: Vec<Event>,
}
