//! Users: merchant members and support staff, with their credentials.

use diesel::prelude::*;
use time::PrimitiveDateTime;

use super::memberships;
use super::schema::{sessions, users};
use super::{DbConnection, DbError, write_transaction};
use crate::domain::{Email, MerchantId, PasswordHash, PersonName, Role};

/// A user as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct User {
    /// UUID.
    pub id: String,
    /// Lower-cased email, unique.
    pub email: String,
    /// Display name.
    pub name: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Platform support staff rather than a merchant member.
    pub is_support: bool,
    /// Set when the account was disabled.
    pub disabled_at: Option<PrimitiveDateTime>,
    /// The last successful sign-in.
    pub last_sign_in_at: Option<PrimitiveDateTime>,
    /// When the account was created.
    pub created_at: PrimitiveDateTime,
    /// The account still has its one-time password and must choose its own.
    pub password_change_required: bool,
}

impl User {
    /// True unless the account was disabled.
    pub fn is_active(&self) -> bool {
        self.disabled_at.is_none()
    }
}

/// What a new account is.
#[derive(Debug, Clone, Copy)]
pub enum Access<'a> {
    /// A member of one merchant with a role.
    Member {
        /// The merchant's ID.
        merchant_id: &'a MerchantId,
        /// The role there.
        role: Role,
    },
    /// Platform support staff.
    Support,
    /// Made for an invitation: a member of no merchant until it accepts one.
    Invitee,
}

/// A new account's details.
#[derive(Debug)]
pub struct NewUser<'a> {
    /// Sign-in email.
    pub email: &'a Email,
    /// Display name.
    pub name: &'a PersonName,
    /// The hashed password.
    pub password_hash: &'a PasswordHash,
    /// Member or support.
    pub access: Access<'a>,
    /// The password is a one-time password to be replaced at first sign-in.
    pub password_change_required: bool,
}

/// Creates a user and, for a member, the membership, in one transaction (a savepoint
/// inside another). A taken email is a `UniqueViolation`.
pub fn create(conn: &mut DbConnection, new: NewUser<'_>, now: PrimitiveDateTime) -> Result<User, DbError> {
    let user = User {
        id: uuid::Uuid::new_v4().to_string(),
        email: new.email.as_str().to_owned(),
        name: new.name.as_str().to_owned(),
        password_hash: new.password_hash.as_str().to_owned(),
        is_support: matches!(new.access, Access::Support),
        disabled_at: None,
        last_sign_in_at: None,
        created_at: now,
        password_change_required: new.password_change_required,
    };
    write_transaction(conn, |conn| {
        diesel::insert_into(users::table)
            .values((
                users::id.eq(&user.id),
                users::email.eq(&user.email),
                users::name.eq(&user.name),
                users::password_hash.eq(&user.password_hash),
                users::is_support.eq(user.is_support),
                users::created_at.eq(user.created_at),
                users::password_change_required.eq(user.password_change_required),
            ))
            .execute(conn)?;
        if let Access::Member { merchant_id, role } = new.access {
            memberships::add(conn, &user.id, merchant_id, role, now)?;
        }
        Ok(user)
    })
}

/// Finds a user by email.
pub fn find_by_email(conn: &mut DbConnection, email: &Email) -> Result<Option<User>, DbError> {
    Ok(users::table
        .select(User::as_select())
        .filter(users::email.eq(email.as_str()))
        .first(conn)
        .optional()?)
}

/// Finds a user by ID.
pub fn find(conn: &mut DbConnection, user_id: &str) -> Result<Option<User>, DbError> {
    Ok(users::table
        .select(User::as_select())
        .find(user_id)
        .first(conn)
        .optional()?)
}

/// True when no account exists yet.
pub fn none_exist(conn: &mut DbConnection) -> Result<bool, DbError> {
    let any: Option<String> = users::table.select(users::id).first(conn).optional()?;
    Ok(any.is_none())
}

/// Disables an account and ends all its sessions, in one transaction. Returns false
/// when no account has that email.
pub fn disable(conn: &mut DbConnection, email: &Email, now: PrimitiveDateTime) -> Result<bool, DbError> {
    write_transaction(conn, |conn| {
        let Some(user) = find_by_email(conn, email)? else {
            return Ok(false);
        };
        diesel::update(users::table.find(&user.id))
            .set(users::disabled_at.eq(user.disabled_at.unwrap_or(now)))
            .execute(conn)?;
        diesel::delete(sessions::table.filter(sessions::user_id.eq(&user.id))).execute(conn)?;
        for merchant in memberships::for_user(conn, &user.id)? {
            super::changes::notify(conn, &merchant.merchant_id)?;
        }
        Ok(true)
    })
}

/// Records a successful sign-in.
pub fn record_sign_in(conn: &mut DbConnection, user_id: &str, now: PrimitiveDateTime) -> Result<(), DbError> {
    diesel::update(users::table.find(user_id))
        .set(users::last_sign_in_at.eq(now))
        .execute(conn)?;
    Ok(())
}

/// Replaces the user's password, so the account no longer needs to choose one, and
/// ends every session of theirs, in one transaction: whoever knew the old password is
/// signed out. False, with nothing changed, when the account is disabled.
pub fn set_password(conn: &mut DbConnection, user_id: &str, hash: &PasswordHash) -> Result<bool, DbError> {
    write_transaction(conn, |conn| {
        // Checked where it commits: an account disabled while the request was on its way
        // keeps its password.
        let changed = diesel::update(users::table.find(user_id).filter(users::disabled_at.is_null()))
            .set((
                users::password_hash.eq(hash.as_str()),
                users::password_change_required.eq(false),
            ))
            .execute(conn)?;
        if changed == 0 {
            return Ok(false);
        }
        diesel::delete(sessions::table.filter(sessions::user_id.eq(user_id))).execute(conn)?;
        Ok(true)
    })
}
