//! Every member change as one transaction: lock the merchant, read the member, check
//! that the merchant keeps an active admin, write the change and its history event
//! together.

use serde_json::json;
use time::PrimitiveDateTime;

use super::authority::{self, Denied};
use crate::db::key_events::{self, EventType};
use crate::db::memberships::{self, Member};
use crate::db::users::{self, Access, NewUser, User};
use crate::db::{DbConnection, DbError, write_transaction};
use crate::domain::{Actor, MerchantId, Permission, Role, UserId, ValidationError};

/// Why a member change did not happen. Nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum MemberError {
    /// No such member of this merchant (they may belong to another).
    #[error("no such member")]
    NotFound,
    /// A field is wrong.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The change would leave the merchant without an active admin.
    #[error(
        "{name} is this merchant's last active admin and cannot be {change}. Make another member an admin first."
    )]
    LastAdmin {
        /// The member's name.
        name: String,
        /// What was refused: "demoted", "disabled", "removed".
        change: &'static str,
    },
    /// The actor may no longer change members (removed, demoted or disabled since the
    /// request began).
    #[error("You no longer have permission to make this change.")]
    NotPermitted,
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<Denied> for MemberError {
    fn from(denied: Denied) -> Self {
        match denied {
            Denied::NotPermitted => MemberError::NotPermitted,
            Denied::Db(err) => MemberError::Db(err),
        }
    }
}

/// Creates an account that belongs to the merchant from the start, for the operator's
/// `keyward user create --merchant` (no invitation: the operator vouches for the person),
/// and records "member added" in the same transaction, as every member change is.
pub fn create_member(
    conn: &mut DbConnection,
    new_user: NewUser<'_>,
    actor: &Actor,
    now: PrimitiveDateTime,
) -> Result<User, DbError> {
    write_transaction(conn, |conn| {
        let access = new_user.access;
        let user = users::create(conn, new_user, now)?;
        if let Access::Member { merchant_id, role } = access {
            let member = memberships::member(conn, merchant_id, &user.id)?
                .ok_or(DbError::Query(diesel::result::Error::NotFound))?;
            let details = json!({ "member": member_json(&member), "role": role.as_str() });
            key_events::record(
                conn,
                merchant_id,
                None,
                EventType::MemberAdded,
                actor,
                &details,
                now,
            )?;
        }
        Ok(user)
    })
}

/// A member as history records them.
pub(crate) fn member_json(member: &Member) -> serde_json::Value {
    json!({ "id": member.user_id, "email": member.email, "name": member.name })
}

/// Locks the merchant, then reads the member: every check after this sees the
/// merchant's members as they will be when the change commits.
fn load(
    conn: &mut DbConnection,
    merchant_id: &MerchantId,
    user_id: &UserId,
    actor: &Actor,
) -> Result<Member, MemberError> {
    authority::lock_for(conn, merchant_id, actor, Permission::Admin)?;
    memberships::member(conn, merchant_id, user_id)?.ok_or(MemberError::NotFound)
}

/// Refuses a change that would take away the merchant's last active admin.
fn keep_an_admin(
    conn: &mut DbConnection,
    merchant_id: &MerchantId,
    member: &Member,
    change: &'static str,
) -> Result<(), MemberError> {
    if member.is_active_admin() && memberships::count_active_admins(conn, merchant_id)? <= 1 {
        return Err(MemberError::LastAdmin {
            name: member.name.clone(),
            change,
        });
    }
    Ok(())
}

/// Gives a member another role; the merchant's last active admin keeps theirs.
pub fn change_role(
    conn: &mut DbConnection,
    merchant_id: &MerchantId,
    user_id: &UserId,
    role: Role,
    actor: &Actor,
    now: PrimitiveDateTime,
) -> Result<Member, MemberError> {
    write_transaction(conn, |conn| {
        let member = load(conn, merchant_id, user_id, actor)?;
        if member.role == role {
            return Ok(member);
        }
        if !role.is_admin() {
            keep_an_admin(conn, merchant_id, &member, "demoted")?;
        }
        memberships::set_role(conn, &member.user_id, merchant_id, role)?;
        let details = json!({
            "member": member_json(&member),
            "before": { "role": member.role.as_str() },
            "after": { "role": role.as_str() },
        });
        key_events::record(
            conn,
            merchant_id,
            None,
            EventType::MemberRoleChanged,
            actor,
            &details,
            now,
        )?;
        Ok(Member { role, ..member })
    })
}

/// Disables a member in this merchant (`disabled`) or enables them again; their other
/// merchants are untouched. The merchant's last active admin cannot be disabled.
pub fn set_disabled(
    conn: &mut DbConnection,
    merchant_id: &MerchantId,
    user_id: &UserId,
    disabled: bool,
    actor: &Actor,
    now: PrimitiveDateTime,
) -> Result<Member, MemberError> {
    write_transaction(conn, |conn| {
        let member = load(conn, merchant_id, user_id, actor)?;
        if member.disabled_at.is_some() == disabled {
            return Ok(member);
        }
        if disabled {
            keep_an_admin(conn, merchant_id, &member, "disabled")?;
        }
        let disabled_at = disabled.then_some(now);
        memberships::set_disabled(conn, &member.user_id, merchant_id, disabled_at)?;
        let event = if disabled {
            EventType::MemberDisabled
        } else {
            EventType::MemberEnabled
        };
        let details = json!({ "member": member_json(&member), "role": member.role.as_str() });
        key_events::record(conn, merchant_id, None, event, actor, &details, now)?;
        Ok(Member {
            disabled_at,
            ..member
        })
    })
}

/// Removes a member from the merchant; the account stays, with its other merchants.
/// The merchant's last active admin cannot be removed.
pub fn remove(
    conn: &mut DbConnection,
    merchant_id: &MerchantId,
    user_id: &UserId,
    actor: &Actor,
    now: PrimitiveDateTime,
) -> Result<Member, MemberError> {
    write_transaction(conn, |conn| {
        let member = load(conn, merchant_id, user_id, actor)?;
        keep_an_admin(conn, merchant_id, &member, "removed")?;
        memberships::remove(conn, &member.user_id, merchant_id)?;
        let details = json!({ "member": member_json(&member), "role": member.role.as_str() });
        key_events::record(
            conn,
            merchant_id,
            None,
            EventType::MemberRemoved,
            actor,
            &details,
            now,
        )?;
        Ok(member)
    })
}
