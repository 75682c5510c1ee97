//! History events as the management API shows them: a key's history and the Audit Log
//! answer with the same `Event`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::keys::resource::rfc3339;
use crate::db::key_events::{EventRow, EventType};

/// One history event.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Event {
    /// The event's ID.
    #[schema(format = Uuid)]
    pub id: String,
    /// What happened, as stored (`generated`, `rotated`, `revoked`, …).
    #[serde(rename = "type")]
    #[schema(example = "revoked")]
    pub event_type: String,
    /// What history calls it ("Revoked").
    #[schema(example = "Revoked")]
    pub label: String,
    /// The key it concerns; `null` for a merchant's event (a policy change…).
    #[schema(format = Uuid)]
    pub key_id: Option<String>,
    /// Who did it.
    pub actor: EventActor,
    /// The client's address, where known.
    pub client_address: Option<String>,
    /// The client's user agent, where known.
    pub user_agent: Option<String>,
    /// What changed (before and after values, versions, …); never a key.
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    /// When.
    pub created_at: String,
}

/// Who made a change.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EventActor {
    /// `user`, `support`, `cli`, `system` or `token`.
    #[serde(rename = "type")]
    #[schema(example = "token")]
    pub actor_type: String,
    /// A member's `user_id`, a token's ID (filter the Audit Log by it with
    /// `actor_id=token:<ID>`); `null` for the command line and Keyward itself.
    #[schema(format = Uuid)]
    pub id: Option<String>,
    /// Their name; a token's is "token <name>".
    #[schema(example = "token deploy-pipeline")]
    pub name: String,
    /// For a token, whom it acts for ("created by Ana Lima").
    pub detail: Option<String>,
}

impl Event {
    /// The resource for a stored event.
    pub fn from_row(row: &EventRow) -> Self {
        let label = row.event_type.parse::<EventType>().map_or_else(
            |()| row.event_type.replace('_', " "),
            |event_type| event_type.label().to_owned(),
        );
        let details = serde_json::from_str(&row.details)
            .ok()
            .filter(serde_json::Value::is_object)
            .unwrap_or_else(|| serde_json::json!({}));
        Self {
            id: row.id.to_string(),
            event_type: row.event_type.clone(),
            label,
            key_id: row.key_id.clone(),
            actor: EventActor {
                actor_type: row.actor_type.clone(),
                id: row.actor_id.clone(),
                name: row.actor_name.clone(),
                detail: row.actor_detail.clone(),
            },
            client_address: row.client_address.clone(),
            user_agent: row.user_agent.clone(),
            details,
            created_at: rfc3339(row.created_at),
        }
    }
}
