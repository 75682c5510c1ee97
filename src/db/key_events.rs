//! Key history: append-only. Nothing here updates or deletes an event.

use diesel::prelude::*;
use time::PrimitiveDateTime;

use super::schema::key_events;
use super::{DbConnection, DbError};
use crate::domain::{Actor, ActorKind, EventId, KeyId, MerchantId, TokenId, UserId};

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
    /// Name or description changed.
    Edited => "edited", "Edited";
    /// Scopes changed.
    ScopesChanged => "scopes_changed", "Scopes changed";
    /// The key's own rate limit changed.
    RateLimitChanged => "rate_limit_changed", "Rate limit changed";
    /// The addresses the key may be used from changed.
    AllowedIpsChanged => "allowed_ips_changed", "Allowed IP addresses changed";
    /// The key's expiry was set to another day, or removed.
    ExpiryChanged => "expiry_changed", "Expiry changed";
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
    /// A member joined the merchant at an admin's word alone (history from before
    /// invitations; members now join by accepting one).
    MemberAdded => "member_added", "Member added";
    /// A member's role changed.
    MemberRoleChanged => "member_role_changed", "Member role changed";
    /// A member was disabled in the merchant.
    MemberDisabled => "member_disabled", "Member disabled";
    /// A disabled member was enabled again.
    MemberEnabled => "member_enabled", "Member enabled";
    /// A member was removed from the merchant.
    MemberRemoved => "member_removed", "Member removed";
    /// A member's account was locked for a short time after repeated failed password
    /// checks (recorded in each merchant the account belongs to).
    SignInLocked => "sign_in_locked", "Sign-in locked";
    /// A signed-in member typed a wrong current password to choose a new one.
    PasswordCheckFailed => "password_check_failed", "Password change refused (wrong current password)";
    /// An admin invited an email to join the merchant.
    InvitationSent => "invitation_sent", "Invitation sent";
    /// The account with the invited email accepted and joined the merchant.
    InvitationAccepted => "invitation_accepted", "Invitation accepted";
    /// The account with the invited email declined.
    InvitationDeclined => "invitation_declined", "Invitation declined";
    /// An admin cancelled an invitation.
    InvitationCancelled => "invitation_cancelled", "Invitation cancelled";
    /// An invitation reached its expiry unanswered (recorded by the sweep).
    InvitationExpired => "invitation_expired", "Invitation expired";
    /// An admin created a management token.
    TokenCreated => "token_created", "Management token created";
    /// An admin revoked a management token.
    TokenRevoked => "token_revoked", "Management token revoked";
}

impl EventType {
    /// True for changes other instances are told of: key and policy changes (their
    /// verification caches are dropped) and membership changes. Lapses are worked out from the
    /// cached times, and a first use, a refusal, an account's lock or an invitation not
    /// accepted changes nothing they hold.
    pub fn is_announced(self) -> bool {
        !matches!(
            self,
            EventType::GraceEnded
                | EventType::Expired
                | EventType::FirstUsed
                | EventType::ChangeRefused
                | EventType::SignInLocked
                | EventType::PasswordCheckFailed
                | EventType::InvitationSent
                | EventType::InvitationDeclined
                | EventType::InvitationCancelled
                | EventType::InvitationExpired
                | EventType::TokenCreated
        )
    }
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
    /// The event.
    #[diesel(deserialize_as = String)]
    pub id: EventId,
    /// The merchant.
    #[diesel(deserialize_as = String)]
    pub merchant_id: MerchantId,
    /// The key, for key events.
    pub key_id: Option<String>,
    /// What happened.
    pub event_type: String,
    /// user, support, cli, system or token.
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
    /// Whom a management token acted for ("created by Ana Lima").
    pub actor_detail: Option<String>,
}

/// Appends an event; call it in the transaction that makes the change. A change that
/// can alter verification also tells the other instances, when the transaction commits.
pub fn record(
    conn: &mut DbConnection,
    merchant_id: &MerchantId,
    key_id: Option<&KeyId>,
    event: EventType,
    actor: &Actor,
    details: &serde_json::Value,
    now: PrimitiveDateTime,
) -> Result<(), DbError> {
    diesel::insert_into(key_events::table)
        .values((
            // Time-ordered IDs keep the events of one transaction (same time) in the
            // order they were recorded.
            key_events::id.eq(uuid::Uuid::now_v7().to_string()),
            key_events::merchant_id.eq(merchant_id.as_str()),
            key_events::key_id.eq(key_id.map(KeyId::as_str)),
            key_events::event_type.eq(event.as_str()),
            key_events::actor_type.eq(actor.kind.as_str()),
            key_events::actor_id.eq(actor.id.as_deref()),
            key_events::actor_name.eq(&actor.name),
            key_events::details.eq(details.to_string()),
            key_events::client_address.eq(actor.address.as_deref()),
            key_events::user_agent.eq(actor.user_agent.as_deref()),
            key_events::created_at.eq(now),
            key_events::actor_detail.eq(actor.detail.as_deref()),
        ))
        .execute(conn)?;
    if event.is_announced() {
        super::changes::notify(conn, merchant_id)?;
    }
    Ok(())
}

/// A key's events, oldest first.
pub fn for_key(
    conn: &mut DbConnection,
    merchant_id: &MerchantId,
    key_id: &KeyId,
) -> Result<Vec<EventRow>, DbError> {
    Ok(key_events::table
        .filter(key_events::merchant_id.eq(merchant_id.as_str()))
        .filter(key_events::key_id.eq(key_id.as_str()))
        .order((key_events::created_at.asc(), key_events::id.asc()))
        .load(conn)?)
}

/// Records a change support staff attempted and were refused: on the merchant owning the
/// key the change named, else on the merchant being looked at. Returns false when
/// neither is known (nothing to record it on).
pub fn record_refusal(
    conn: &mut DbConnection,
    viewed_merchant: Option<&MerchantId>,
    key_id: Option<&KeyId>,
    actor: &Actor,
    details: &serde_json::Value,
    now: PrimitiveDateTime,
) -> Result<bool, DbError> {
    let key_owner = match key_id {
        Some(key_id) => super::keys::merchant_of(conn, key_id)?.map(|merchant| (merchant, key_id)),
        None => None,
    };
    let (merchant_id, key_id) = match (&key_owner, viewed_merchant) {
        (Some((merchant, key_id)), _) => (merchant, Some(*key_id)),
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

/// Which of a merchant's events the audit log shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Events of this key only.
    pub key_id: Option<KeyId>,
    /// Events by this actor only.
    pub actor: Option<ActorFilter>,
    /// Events of this type only.
    pub event_type: Option<EventType>,
    /// Events at or after this time.
    pub since: Option<PrimitiveDateTime>,
    /// Events before this time.
    pub before: Option<PrimitiveDateTime>,
}

/// An actor to filter by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActorFilter {
    /// A user or support engineer, by ID.
    User(UserId),
    /// The command line or Keyward itself, which have no ID.
    Kind(ActorKind),
    /// A management token, by ID.
    Token(TokenId),
}

type Backend = <DbConnection as diesel::Connection>::Backend;

fn filtered<'a>(merchant_id: &'a MerchantId, filter: &'a AuditFilter) -> key_events::BoxedQuery<'a, Backend> {
    let mut query = key_events::table
        .filter(key_events::merchant_id.eq(merchant_id.as_str()))
        .into_boxed();
    if let Some(key_id) = &filter.key_id {
        query = query.filter(key_events::key_id.eq(key_id.as_str()));
    }
    match &filter.actor {
        Some(ActorFilter::User(id)) => query = query.filter(key_events::actor_id.eq(id.as_str())),
        Some(ActorFilter::Kind(kind)) => query = query.filter(key_events::actor_type.eq(kind.as_str())),
        Some(ActorFilter::Token(id)) => {
            query = query
                .filter(key_events::actor_type.eq(ActorKind::Token.as_str()))
                .filter(key_events::actor_id.eq(id.as_str()));
        }
        None => {}
    }
    if let Some(event_type) = filter.event_type {
        query = query.filter(key_events::event_type.eq(event_type.as_str()));
    }
    if let Some(since) = filter.since {
        query = query.filter(key_events::created_at.ge(since));
    }
    if let Some(before) = filter.before {
        query = query.filter(key_events::created_at.lt(before));
    }
    query
}

/// One page of a merchant's events matching `filter`, newest first.
pub fn page(
    conn: &mut DbConnection,
    merchant_id: &MerchantId,
    filter: &AuditFilter,
    offset: i64,
    limit: i64,
) -> Result<Vec<EventRow>, DbError> {
    Ok(filtered(merchant_id, filter)
        .order((key_events::created_at.desc(), key_events::id.desc()))
        .offset(offset)
        .limit(limit)
        .load(conn)?)
}

/// Where a page of events ends: the last event's time and ID, in the order pages are
/// read (newest first, then by ID).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventPosition {
    /// The event's time.
    pub created_at: PrimitiveDateTime,
    /// The event's ID.
    pub id: EventId,
}

/// Up to `limit` of a merchant's events matching `filter`, newest first, starting after
/// `after` (from the newest when `None`). A keyset rather than an offset: events recorded
/// while a client reads page after page neither repeat nor skip an event.
pub fn page_after(
    conn: &mut DbConnection,
    merchant_id: &MerchantId,
    filter: &AuditFilter,
    after: Option<&EventPosition>,
    limit: i64,
) -> Result<Vec<EventRow>, DbError> {
    let mut query = filtered(merchant_id, filter);
    if let Some(after) = after {
        query = query.filter(
            key_events::created_at
                .lt(after.created_at)
                .or(key_events::created_at
                    .eq(after.created_at)
                    .and(key_events::id.lt(after.id.as_str()))),
        );
    }
    Ok(query
        .order((key_events::created_at.desc(), key_events::id.desc()))
        .limit(limit)
        .load(conn)?)
}

/// How many of a merchant's events match `filter`.
pub fn count(
    conn: &mut DbConnection,
    merchant_id: &MerchantId,
    filter: &AuditFilter,
) -> Result<i64, DbError> {
    Ok(filtered(merchant_id, filter).count().get_result(conn)?)
}

/// Everyone who has acted in this merchant, as (kind, ID, name), by name.
pub fn actors(
    conn: &mut DbConnection,
    merchant_id: &MerchantId,
) -> Result<Vec<(String, Option<String>, String)>, DbError> {
    Ok(key_events::table
        .filter(key_events::merchant_id.eq(merchant_id.as_str()))
        .select((
            key_events::actor_type,
            key_events::actor_id,
            key_events::actor_name,
        ))
        .distinct()
        .order((key_events::actor_name.asc(), key_events::actor_type.asc()))
        .load(conn)?)
}

/// One event of this merchant by ID; another merchant's event is not found.
pub fn find(
    conn: &mut DbConnection,
    merchant_id: &MerchantId,
    event_id: &str,
) -> Result<Option<EventRow>, DbError> {
    Ok(key_events::table
        .filter(key_events::merchant_id.eq(merchant_id.as_str()))
        .filter(key_events::id.eq(event_id))
        .get_result(conn)
        .optional()?)
}
