//! Memberships: which user belongs to which merchant, with which role.

use diesel::prelude::*;
use time::PrimitiveDateTime;

use super::schema::{memberships, merchants, users};
use super::{DbConnection, DbError};
use crate::domain::{MerchantId, Permission, Role, UserId};

/// One of a user's merchants, with the user's role there.
#[derive(Debug, Clone)]
pub struct MerchantAccess {
    /// The merchant's ID.
    pub merchant_id: MerchantId,
    /// The merchant's name.
    pub merchant_name: String,
    /// The user's role in it.
    pub role: Role,
}

/// Every merchant the user belongs to and is not disabled in, by name.
pub fn for_user(conn: &mut DbConnection, user_id: &str) -> Result<Vec<MerchantAccess>, DbError> {
    let rows: Vec<(String, String, String)> = memberships::table
        .inner_join(merchants::table)
        .filter(memberships::user_id.eq(user_id))
        .filter(memberships::disabled_at.is_null())
        .select((merchants::id, merchants::name, memberships::role))
        .order(merchants::name.asc())
        .load(conn)?;
    rows.into_iter()
        .map(|(merchant_id, merchant_name, role)| {
            let role = role
                .parse()
                .map_err(|err: crate::domain::UnknownRole| DbError::Corrupt(err.to_string()))?;
            Ok(MerchantAccess {
                merchant_id: MerchantId::try_from(merchant_id)?,
                merchant_name,
                role,
            })
        })
        .collect()
}

/// Adds a user to a merchant with a role; an existing membership is a `UniqueViolation`.
pub fn add(
    conn: &mut DbConnection,
    user_id: &str,
    merchant_id: &MerchantId,
    role: Role,
    now: time::PrimitiveDateTime,
) -> Result<(), DbError> {
    diesel::insert_into(memberships::table)
        .values((
            memberships::user_id.eq(user_id),
            memberships::merchant_id.eq(merchant_id.as_str()),
            memberships::role.eq(role.as_str()),
            memberships::created_at.eq(now),
        ))
        .execute(conn)?;
    // Every membership change is announced, as other instances are promised; the command
    // line adds members without a history event (which would announce it), so here.
    super::changes::notify(conn, merchant_id)
}

/// Removes a user from a merchant; their sessions there end on their next request.
/// Returns false when there was no such membership.
pub fn remove(conn: &mut DbConnection, user_id: &str, merchant_id: &MerchantId) -> Result<bool, DbError> {
    let removed = diesel::delete(memberships::table.find((user_id, merchant_id.as_str()))).execute(conn)?;
    Ok(removed == 1)
}

/// A member of a merchant as the Members page shows them.
#[derive(Debug, Clone)]
pub struct Member {
    /// The user's ID.
    pub user_id: UserId,
    /// Sign-in email.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Role in this merchant.
    pub role: Role,
    /// Set when the member was disabled in this merchant.
    pub disabled_at: Option<PrimitiveDateTime>,
    /// The whole account was disabled (from the command line), in every merchant.
    pub account_disabled: bool,
    /// The account still has its one-time password.
    pub password_change_required: bool,
    /// The account's last successful sign-in.
    pub last_sign_in_at: Option<PrimitiveDateTime>,
    /// When the user joined this merchant.
    pub joined_at: PrimitiveDateTime,
}

/// Where a member stands, as the Members page and the support console show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberStatus {
    /// Signs in and works.
    Active,
    /// Disabled in this merchant.
    Disabled,
    /// The whole account was disabled (from the command line).
    AccountDisabled,
    /// Still on the one-time password.
    MustSetPassword,
}

impl MemberStatus {
    /// As shown.
    pub fn label(self) -> &'static str {
        match self {
            MemberStatus::Active => "Active",
            MemberStatus::Disabled => "Disabled",
            MemberStatus::AccountDisabled => "Account disabled",
            MemberStatus::MustSetPassword => "Must set a password",
        }
    }
}

impl Member {
    /// Where the member stands, the most limiting state first.
    pub fn status(&self) -> MemberStatus {
        if self.disabled_at.is_some() {
            MemberStatus::Disabled
        } else if self.account_disabled {
            MemberStatus::AccountDisabled
        } else if self.password_change_required {
            MemberStatus::MustSetPassword
        } else {
            MemberStatus::Active
        }
    }

    /// True when this member can act now on a change asking for `permission`:
    /// membership and account both enabled, and a role that allows it.
    pub fn may(&self, permission: Permission) -> bool {
        self.disabled_at.is_none() && !self.account_disabled && self.role.allows(permission)
    }

    /// True for an admin who can act as one now: membership and account both enabled.
    pub fn is_active_admin(&self) -> bool {
        self.may(Permission::Admin)
    }
}

/// A membership joined with its user, as read.
#[derive(Queryable, Selectable)]
#[diesel(table_name = memberships)]
struct MemberRow {
    #[diesel(select_expression = users::id)]
    user_id: String,
    #[diesel(select_expression = users::email)]
    email: String,
    #[diesel(select_expression = users::name)]
    name: String,
    role: String,
    disabled_at: Option<PrimitiveDateTime>,
    #[diesel(select_expression = users::disabled_at)]
    account_disabled_at: Option<PrimitiveDateTime>,
    #[diesel(select_expression = users::password_change_required)]
    password_change_required: bool,
    #[diesel(select_expression = users::last_sign_in_at)]
    last_sign_in_at: Option<PrimitiveDateTime>,
    #[diesel(select_expression = memberships::created_at)]
    joined_at: PrimitiveDateTime,
}

impl TryFrom<MemberRow> for Member {
    type Error = DbError;

    fn try_from(row: MemberRow) -> Result<Self, DbError> {
        Ok(Member {
            role: row
                .role
                .parse()
                .map_err(|err: crate::domain::UnknownRole| DbError::Corrupt(err.to_string()))?,
            user_id: UserId::try_from(row.user_id)?,
            email: row.email,
            name: row.name,
            disabled_at: row.disabled_at,
            account_disabled: row.account_disabled_at.is_some(),
            password_change_required: row.password_change_required,
            last_sign_in_at: row.last_sign_in_at,
            joined_at: row.joined_at,
        })
    }
}

/// Every member of the merchant, disabled ones included, by name then email.
pub fn members(conn: &mut DbConnection, merchant_id: &MerchantId) -> Result<Vec<Member>, DbError> {
    let rows: Vec<MemberRow> = memberships::table
        .inner_join(users::table)
        .filter(memberships::merchant_id.eq(merchant_id.as_str()))
        .select(MemberRow::as_select())
        .order((users::name.asc(), users::email.asc()))
        .load(conn)?;
    rows.into_iter().map(Member::try_from).collect()
}

/// One member of the merchant; a member of another merchant is not found.
pub fn member(
    conn: &mut DbConnection,
    merchant_id: &MerchantId,
    user_id: &str,
) -> Result<Option<Member>, DbError> {
    let row: Option<MemberRow> = memberships::table
        .inner_join(users::table)
        .filter(memberships::merchant_id.eq(merchant_id.as_str()))
        .filter(memberships::user_id.eq(user_id))
        .select(MemberRow::as_select())
        .first(conn)
        .optional()?;
    row.map(Member::try_from).transpose()
}

/// How many admins can act as one now: role admin, membership and account enabled.
pub fn count_active_admins(conn: &mut DbConnection, merchant_id: &MerchantId) -> Result<i64, DbError> {
    Ok(memberships::table
        .inner_join(users::table)
        .filter(memberships::merchant_id.eq(merchant_id.as_str()))
        .filter(memberships::role.eq(Role::Admin.as_str()))
        .filter(memberships::disabled_at.is_null())
        .filter(users::disabled_at.is_null())
        .count()
        .get_result(conn)?)
}

/// Changes a member's role.
pub fn set_role(
    conn: &mut DbConnection,
    user_id: &str,
    merchant_id: &MerchantId,
    role: Role,
) -> Result<(), DbError> {
    diesel::update(memberships::table.find((user_id, merchant_id.as_str())))
        .set(memberships::role.eq(role.as_str()))
        .execute(conn)?;
    Ok(())
}

/// Disables a member in the merchant (`Some(now)`) or enables them again (`None`).
pub fn set_disabled(
    conn: &mut DbConnection,
    user_id: &str,
    merchant_id: &MerchantId,
    disabled_at: Option<PrimitiveDateTime>,
) -> Result<(), DbError> {
    diesel::update(memberships::table.find((user_id, merchant_id.as_str())))
        .set(memberships::disabled_at.eq(disabled_at))
        .execute(conn)?;
    Ok(())
}
