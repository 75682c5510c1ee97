//! Merchants: the tenants.

use diesel::prelude::*;
use time::PrimitiveDateTime;

use super::schema::merchants;
use super::{DbConnection, DbError};
use crate::domain::{MerchantId, MerchantName};

diesel::define_sql_function!(
    /// SQL `lower()`, for case-insensitive name matches.
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text);

/// A merchant as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = merchants)]
pub struct Merchant {
    /// UUID.
    #[diesel(deserialize_as = String)]
    pub id: MerchantId,
    /// Display name, unique regardless of case.
    pub name: String,
    /// When it was created (UTC).
    pub created_at: PrimitiveDateTime,
}

/// Creates a merchant; a name taken already (in any case) is a `UniqueViolation`.
pub fn create(
    conn: &mut DbConnection,
    name: &MerchantName,
    now: PrimitiveDateTime,
) -> Result<Merchant, DbError> {
    let merchant = Merchant {
        id: MerchantId::generate(),
        name: name.as_str().to_owned(),
        created_at: now,
    };
    diesel::insert_into(merchants::table)
        .values((
            merchants::id.eq(merchant.id.as_str()),
            merchants::name.eq(&merchant.name),
            merchants::created_at.eq(merchant.created_at),
        ))
        .execute(conn)?;
    Ok(merchant)
}

/// Finds a merchant by its exact ID or by its name in any case.
pub fn find_by_id_or_name(conn: &mut DbConnection, raw: &str) -> Result<Option<Merchant>, DbError> {
    let raw = raw.trim();
    Ok(merchants::table
        .select(Merchant::as_select())
        .filter(
            merchants::id
                .eq(raw)
                .or(lower(merchants::name).eq(raw.to_lowercase())),
        )
        .first(conn)
        .optional()?)
}

/// Finds a merchant by its name in any case.
pub fn find_by_name(conn: &mut DbConnection, name: &MerchantName) -> Result<Option<Merchant>, DbError> {
    Ok(merchants::table
        .select(Merchant::as_select())
        .filter(lower(merchants::name).eq(name.as_str().to_lowercase()))
        .first(conn)
        .optional()?)
}

/// Finds a merchant by ID.
pub fn find(conn: &mut DbConnection, merchant_id: &MerchantId) -> Result<Option<Merchant>, DbError> {
    Ok(merchants::table
        .select(Merchant::as_select())
        .find(merchant_id.as_str())
        .get_result(conn)
        .optional()?)
}

/// Merchants whose name contains `text` (any case), by name, at most `limit`.
pub fn search_by_name(conn: &mut DbConnection, text: &str, limit: i64) -> Result<Vec<Merchant>, DbError> {
    let escaped: String = text
        .to_lowercase()
        .chars()
        .flat_map(|c| match c {
            '%' | '_' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect();
    Ok(merchants::table
        .select(Merchant::as_select())
        .filter(lower(merchants::name).like(format!("%{escaped}%")).escape('\\'))
        .order(merchants::name.asc())
        .limit(limit)
        .load(conn)?)
}
