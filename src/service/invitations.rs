//! Invitations, each step as one transaction: an admin invites an email, the account
//! with that email accepts or declines after signing in, an admin cancels, the sweep
//! records expiries.
//!
//! Inviting answers the same whatever exists behind the email: no account, a member of
//! other merchants, support staff. An email without an account gets one, with the
//! one-time password the admin is given in every case; the account joins only by
//! accepting. Support staff see no invitations and can accept none.

use serde_json::json;
use time::{Duration, PrimitiveDateTime};

use super::authority::{self, Denied};
use super::members::member_json;
use crate::db::invitations::{self, Invitation, NewInvitation};
use crate::db::key_events::{self, EventType};
use crate::db::users::{self, Access, NewUser};
use crate::db::{DbConnection, DbError, keys, memberships, write_transaction};
use crate::domain::{Actor, Email, InvitationId, MerchantId, PasswordHash, Permission, PersonName, Role};

/// How long an invitation can be accepted.
pub const LIFETIME: Duration = Duration::days(7);

/// Expiries recorded per sweep; the next sweep takes the rest.
const EXPIRIES_PER_SWEEP: i64 = 500;

/// Why an invitation step did not happen. Nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum InvitationError {
    /// No such invitation, or not one this user may see.
    #[error("no such invitation")]
    NotFound,
    /// The email belongs to a member of this merchant already.
    #[error("{0} is already a member of this merchant.")]
    AlreadyMember(String),
    /// This merchant's invitation to the email is still pending.
    #[error("{0} already has a pending invitation. Cancel it to send a new one.")]
    AlreadyInvited(String),
    /// The invitation can no longer be accepted.
    #[error("This invitation to {0} has expired. Ask one of its admins for a new one.")]
    Expired(String),
    /// The invitee is a member of that merchant already (added meanwhile).
    #[error("You are already a member of {0}.")]
    AlreadyJoined(String),
    /// The actor may no longer manage the merchant's members (removed, demoted or
    /// disabled since the request began).
    #[error("You no longer have permission to make this change.")]
    NotPermitted,
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<Denied> for InvitationError {
    fn from(denied: Denied) -> Self {
        match denied {
            Denied::NotPermitted => InvitationError::NotPermitted,
            Denied::Db(err) => InvitationError::Db(err),
        }
    }
}

/// The account made when the invited email has none: its name and the hash of the
/// one-time password, made before the transaction because hashing is slow.
#[derive(Debug)]
pub struct NewAccount {
    /// Display name.
    pub name: PersonName,
    /// The hashed one-time password.
    pub password_hash: PasswordHash,
}

fn invitation_json(invitation_id: &str, email: &str) -> serde_json::Value {
    json!({ "id": invitation_id, "email": email })
}

/// Invites `email` to the merchant with `role`, for [`LIFETIME`]. An email with no
/// account gets one from `new_account`, which must choose its own password at first
/// sign-in; any other email's `new_account` is dropped. A member of this merchant, or a
/// pending invitation to the email, is refused (the admin sees both already); an expired
/// one is replaced.
pub fn invite(
    conn: &mut DbConnection,
    merchant_id: &MerchantId,
    email: &Email,
    role: Role,
    new_account: NewAccount,
    actor: &Actor,
    now: PrimitiveDateTime,
) -> Result<Invitation, InvitationError> {
    write_transaction(conn, |conn| {
        authority::lock_for(conn, merchant_id, actor, Permission::Admin)?;
        let account = users::find_by_email(conn, email)?;
        if let Some(user) = &account
            && memberships::member(conn, merchant_id, &user.id)?.is_some()
        {
            return Err(InvitationError::AlreadyMember(user.email.clone()));
        }
        if let Some(previous) = invitations::of_merchant_for(conn, merchant_id, email)? {
            if !previous.is_expired(now) {
                return Err(InvitationError::AlreadyInvited(previous.email));
            }
            record_expiry(conn, &previous)?;
            invitations::delete(conn, &previous.id)?;
        }
        if account.is_none() {
            create_account(conn, email, &new_account, now)?;
        }
        let id = invitations::insert(
            conn,
            NewInvitation {
                merchant_id,
                email,
                role,
                invited_by: &actor.name,
                expires_at: now + LIFETIME,
            },
            now,
        )?;
        let details = json!({ "invitation": invitation_json(&id, email.as_str()), "role": role.as_str() });
        key_events::record(
            conn,
            merchant_id,
            None,
            EventType::InvitationSent,
            actor,
            &details,
            now,
        )?;
        invitations::find(conn, &id)?.ok_or(InvitationError::NotFound)
    })
}

/// Makes the account an invitation's email lacks, in a savepoint: when another request
/// made one meanwhile, that one is the invitee and nothing else changes.
fn create_account(
    conn: &mut DbConnection,
    email: &Email,
    account: &NewAccount,
    now: PrimitiveDateTime,
) -> Result<(), DbError> {
    let created = users::create(
        conn,
        NewUser {
            email,
            name: &account.name,
            password_hash: &account.password_hash,
            access: Access::Invitee,
            password_change_required: true,
        },
        now,
    );
    match created {
        Ok(_) | Err(DbError::UniqueViolation(_)) => Ok(()),
        Err(other) => Err(other),
    }
}

/// The invitation `invitation_id` under its merchant's lock, if it is addressed to the
/// active, non-support account `user_id`; anyone else's is not found.
fn load_for_invitee(
    conn: &mut DbConnection,
    invitation_id: &InvitationId,
    user_id: &str,
) -> Result<(Invitation, users::User), InvitationError> {
    let merchant_id = invitations::find(conn, invitation_id)?
        .ok_or(InvitationError::NotFound)?
        .merchant_id;
    keys::lock_merchant(conn, &merchant_id)?;
    // Read again under the lock: a cancel or another click may have taken it meanwhile.
    let invitation = invitations::find(conn, invitation_id)?.ok_or(InvitationError::NotFound)?;
    let user = users::find(conn, user_id)?
        .filter(|user| user.is_active() && !user.is_support && user.email == invitation.email)
        .ok_or(InvitationError::NotFound)?;
    Ok((invitation, user))
}

/// The account `user_id` accepts the invitation addressed to its email and joins the
/// merchant with the invitation's role.
pub fn accept(
    conn: &mut DbConnection,
    invitation_id: &InvitationId,
    user_id: &str,
    actor: &Actor,
    now: PrimitiveDateTime,
) -> Result<Invitation, InvitationError> {
    write_transaction(conn, |conn| {
        let (invitation, user) = load_for_invitee(conn, invitation_id, user_id)?;
        if invitation.is_expired(now) {
            return Err(InvitationError::Expired(invitation.merchant_name));
        }
        let merchant_id = &invitation.merchant_id;
        if memberships::member(conn, merchant_id, &user.id)?.is_some() {
            return Err(InvitationError::AlreadyJoined(invitation.merchant_name));
        }
        memberships::add(conn, &user.id, merchant_id, invitation.role, now)?;
        invitations::delete(conn, &invitation.id)?;
        let member = memberships::member(conn, merchant_id, &user.id)?.ok_or(InvitationError::NotFound)?;
        let details = json!({
            "invitation": invitation_json(&invitation.id, &invitation.email),
            "member": member_json(&member),
            "role": invitation.role.as_str(),
        });
        key_events::record(
            conn,
            merchant_id,
            None,
            EventType::InvitationAccepted,
            actor,
            &details,
            now,
        )?;
        Ok(invitation)
    })
}

/// The account `user_id` declines the invitation addressed to its email (expired or
/// not). History names the invitee by the invited email alone: the merchant learns
/// nothing more of an account that did not join.
pub fn decline(
    conn: &mut DbConnection,
    invitation_id: &InvitationId,
    user_id: &str,
    now: PrimitiveDateTime,
) -> Result<Invitation, InvitationError> {
    write_transaction(conn, |conn| {
        let (invitation, user) = load_for_invitee(conn, invitation_id, user_id)?;
        invitations::delete(conn, &invitation.id)?;
        let details = json!({
            "invitation": invitation_json(&invitation.id, &invitation.email),
            "role": invitation.role.as_str(),
        });
        key_events::record(
            conn,
            &invitation.merchant_id,
            None,
            EventType::InvitationDeclined,
            &Actor::invitee(&user.id, &invitation.email),
            &details,
            now,
        )?;
        Ok(invitation)
    })
}

/// An admin of the merchant cancels its invitation (pending or expired); another
/// merchant's is not found.
pub fn cancel(
    conn: &mut DbConnection,
    merchant_id: &MerchantId,
    invitation_id: &InvitationId,
    actor: &Actor,
    now: PrimitiveDateTime,
) -> Result<Invitation, InvitationError> {
    write_transaction(conn, |conn| {
        authority::lock_for(conn, merchant_id, actor, Permission::Admin)?;
        let invitation = invitations::find(conn, invitation_id)?
            .filter(|invitation| &invitation.merchant_id == merchant_id)
            .ok_or(InvitationError::NotFound)?;
        invitations::delete(conn, &invitation.id)?;
        let details = json!({
            "invitation": invitation_json(&invitation.id, &invitation.email),
            "role": invitation.role.as_str(),
        });
        key_events::record(
            conn,
            merchant_id,
            None,
            EventType::InvitationCancelled,
            actor,
            &details,
            now,
        )?;
        Ok(invitation)
    })
}

/// Records the "expired" event of every invitation that reached its expiry unanswered,
/// each once, at the time it expired (the invitation is marked in the event's
/// transaction, so instances sweeping at once never both record it). Returns how many
/// were recorded.
pub fn record_expiries(conn: &mut DbConnection, now: PrimitiveDateTime) -> Result<usize, DbError> {
    let mut recorded = 0;
    for invitation in invitations::expiries_to_record(conn, now, EXPIRIES_PER_SWEEP)? {
        recorded += usize::from(write_transaction(conn, |conn| record_expiry(conn, &invitation))?);
    }
    Ok(recorded)
}

/// Marks and records an invitation's expiry; false when it was recorded already.
fn record_expiry(conn: &mut DbConnection, invitation: &Invitation) -> Result<bool, DbError> {
    if !invitations::mark_expiry_recorded(conn, &invitation.id)? {
        return Ok(false);
    }
    let details = json!({
        "invitation": invitation_json(&invitation.id, &invitation.email),
        "role": invitation.role.as_str(),
    });
    key_events::record(
        conn,
        &invitation.merchant_id,
        None,
        EventType::InvitationExpired,
        &Actor::system(),
        &details,
        invitation.expires_at,
    )?;
    Ok(true)
}
