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

/// Every merchant the user belongs to, by name.
pub fn for_user(conn: &mut DbConnection, user_id: &str) -> Result<Vec<MerchantAccess>, DbError> {
    let rows: Vec<(String, String, String)> = memberships::table
        .inner_join(merchants::table)
        .filter(memberships::user_id.eq(user_id))
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
