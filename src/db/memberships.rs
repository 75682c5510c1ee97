//! Memberships: which user belongs to which merchant, with which role.

use diesel::prelude::*;

use super::schema::{memberships, merchants};
use super::{DbConnection, DbError};
use crate::domain::Role;

/// One of a user's merchants, with the user's role there.
#[derive(Debug, Clone)]
pub struct MerchantAccess {
    /// The merchant's ID.
    pub merchant_id: String,
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
                merchant_id,
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
    merchant_id: &str,
    role: Role,
    now: time::PrimitiveDateTime,
) -> Result<(), DbError> {
    diesel::insert_into(memberships::table)
        .values((
            memberships::user_id.eq(user_id),
            memberships::merchant_id.eq(merchant_id),
            memberships::role.eq(role.as_str()),
            memberships::created_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Removes a user from a merchant; their sessions there end on their next request.
/// Returns false when there was no such membership.
pub fn remove(conn: &mut DbConnection, user_id: &str, merchant_id: &str) -> Result<bool, DbError> {
    let removed = diesel::delete(memberships::table.find((user_id, merchant_id))).execute(conn)?;
    Ok(removed == 1)
}
