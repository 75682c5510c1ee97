//! Key history: append-only. Nothing here updates or deletes an event.

use diesel::prelude::*;
use time::PrimitiveDateTime;

use super::schema::key_events;
use super::{DbConnection, DbError};
use crate::domain::Actor;

/// What happened, as stored in `event_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// A key was generated (and its plaintext revealed once).
    Generated,
    /// A new version replaced this one.
    Rotated,
    /// Revoked.
    Revoked,
    /// Disabled.
    Disabled,
    /// Enabled.
    Enabled,
    /// Name, description or scopes changed.
    Edited,
    /// Expiry moved one lifetime ahead.
    Renewed,
    /// Deleted.
    Deleted,
    /// The merchant's key policy changed.
    PolicyChanged,
}

impl EventType {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Generated => "generated",
            EventType::Rotated => "rotated",
            EventType::Revoked => "revoked",
            EventType::Disabled => "disabled",
            EventType::Enabled => "enabled",
            EventType::Edited => "edited",
            EventType::Renewed => "renewed",
            EventType::Deleted => "deleted",
            EventType::PolicyChanged => "policy_changed",
        }
    }
}

/// One history event as stored.
#[derive(Debug, Clone, Queryable)]
pub struct EventRow {
    /// UUID.
    pub id: String,
    /// The merchant.
    pub merchant_id: String,
    /// The key, for key events.
    pub key_id: Option<String>,
    /// What happened.
    pub event_type: String,
    /// user, support, cli or system.
    pub actor_type: String,
    /// The user's ID.
    pub actor_id: Option<String>,
    /// The actor's name.
    pub actor_name: String,
    /// JSON details (before/after values, versions…); never a key or its digest.
    pub details: String,
    /// Client address.
    pub client_address: Option<String>,
    /// Client user agent.
    pub user_agent: Option<String>,
    /// When.
    pub created_at: PrimitiveDateTime,
}

/// Appends an event; call it in the transaction that makes the change.
pub fn record(
    conn: &mut DbConnection,
    merchant_id: &str,
    key_id: Option<&str>,
    event: EventType,
    actor: &Actor,
    details: &serde_json::Value,
    now: PrimitiveDateTime,
) -> Result<(), DbError> {
    diesel::insert_into(key_events::table)
        .values((
            key_events::id.eq(uuid::Uuid::new_v4().to_string()),
            key_events::merchant_id.eq(merchant_id),
            key_events::key_id.eq(key_id),
            key_events::event_type.eq(event.as_str()),
            key_events::actor_type.eq(actor.kind.as_str()),
            key_events::actor_id.eq(actor.id.as_deref()),
            key_events::actor_name.eq(&actor.name),
            key_events::details.eq(details.to_string()),
            key_events::client_address.eq(actor.address.as_deref()),
            key_events::user_agent.eq(actor.user_agent.as_deref()),
            key_events::created_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// A key's events, oldest first.
pub fn for_key(conn: &mut DbConnection, merchant_id: &str, key_id: &str) -> Result<Vec<EventRow>, DbError> {
    Ok(key_events::table
        .filter(key_events::merchant_id.eq(merchant_id))
        .filter(key_events::key_id.eq(key_id))
        .order(key_events::created_at.asc())
        .load(conn)?)
}
