//! Key history: append-only. Nothing here updates or deletes an event.

use diesel::prelude::*;
use time::PrimitiveDateTime;

use super::schema::key_events;
use super::{DbConnection, DbError};
use crate::domain::Actor;

/// Defines `EventType` with its stored text and the phrase history shows for it.
macro_rules! event_types {
    ($($(#[$doc:meta])* $variant:ident => $text:literal, $label:literal;)*) => {
        /// What happened, as stored in `event_type`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum EventType {
            $($(#[$doc])* $variant,)*
        }

        impl EventType {
            /// Every event type, in the order the audit log's filter lists them.
            pub const ALL: &'static [EventType] = &[$(EventType::$variant,)*];

            /// The stored text.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(EventType::$variant => $text,)*
                }
            }

            /// What history calls it ("Revoked", "Grace period ended").
            pub fn label(self) -> &'static str {
                match self {
                    $(EventType::$variant => $label,)*
                }
            }
        }
    };
}

event_types! {
    /// A key was generated.
    Generated => "generated", "Created";
    /// The new key's plaintext was shown, once, to the person who made it.
    Revealed => "revealed", "Key shown once";
    /// A new version replaced this one.
    Rotated => "rotated", "Rotated";
    /// The grace period of a rotated version ended (recorded by the sweep).
    GraceEnded => "grace_ended", "Grace period ended";
    /// Revoked.
    Revoked => "revoked", "Revoked";
    /// Disabled.
    Disabled => "disabled", "Disabled";
    /// Enabled.
    Enabled => "enabled", "Enabled";
    /// Name, description or rate limit changed.
    Edited => "edited", "Edited";
    /// Scopes changed.
    ScopesChanged => "scopes_changed", "Scopes changed";
    /// Expiry moved one lifetime ahead.
    Renewed => "renewed", "Renewed";
    /// The key reached its expiry (recorded by the sweep).
    Expired => "expired", "Expired";
    /// Deleted.
    Deleted => "deleted", "Deleted";
    /// Generated from another key's settings.
    DuplicatedFrom => "duplicated_from", "Duplicated";
    /// The key's first successful request.
    FirstUsed => "first_used", "First used";
    /// The merchant's key policy changed.
    PolicyChanged => "policy_changed", "Key policy changed";
    /// Support staff tried a change and were refused.
    ChangeRefused => "change_refused", "Change refused (support is read only)";
    /// A member joined the merchant.
    MemberAdded => "member_added", "Member added";
    /// A member's role changed.
    MemberRoleChanged => "member_role_changed", "Member role changed";
    /// A member was disabled in the merchant.
    MemberDisabled => "member_disabled", "Member disabled";
    /// A disabled member was enabled again.
    MemberEnabled => "member_enabled", "Member enabled";
    /// A member was removed from the merchant.
    MemberRemoved => "member_removed", "Member removed";
}

impl std::str::FromStr for EventType {
    type Err = ();

    fn from_str(raw: &str) -> Result<Self, ()> {
        EventType::ALL
            .iter()
            .copied()
            .find(|event| event.as_str() == raw)
            .ok_or(())
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

/// Records a change support staff attempted and were refused: on the merchant owning the
/// key the change named, else on the merchant being looked at. Returns false when
/// neither is known (nothing to record it on).
pub fn record_refusal(
    conn: &mut DbConnection,
    viewed_merchant: Option<&str>,
    key_id: Option<&str>,
    actor: &Actor,
    details: &serde_json::Value,
    now: PrimitiveDateTime,
) -> Result<bool, DbError> {
    let key_owner = match key_id {
        Some(key_id) => super::keys::merchant_of(conn, key_id)?.map(|merchant| (merchant, key_id)),
        None => None,
    };
    let (merchant_id, key_id) = match (&key_owner, viewed_merchant) {
        (Some((merchant, key_id)), _) => (merchant.as_str(), Some(*key_id)),
        (None, Some(merchant)) => (merchant, None),
        (None, None) => return Ok(false),
    };
    record(
        conn,
        merchant_id,
        key_id,
        EventType::ChangeRefused,
        actor,
        details,
        now,
    )?;
    Ok(true)
}
