//! Lapses nobody acted on (a grace period or a lifetime that ended), found and marked
//! once each so the sweep records each one event.

use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::Bool;
use time::PrimitiveDateTime;

use crate::db::schema::api_keys;
use crate::db::{DbConnection, DbError};
use crate::domain::{KeyId, MerchantId};

/// A key that lapsed without anyone acting: a grace period or a lifetime that ended.
#[derive(Debug, Clone)]
pub struct Lapse {
    /// Version ID.
    pub id: KeyId,
    /// Owning merchant.
    pub merchant_id: MerchantId,
    /// When it lapsed.
    pub at: PrimitiveDateTime,
}

/// The predicates of the partial indexes on lapses still to record, word for word:
/// with bound parameters instead of these constants, neither database would use them.
const GRACE_PENDING: &str = "status = 'rotated' AND NOT grace_end_recorded";
const EXPIRY_PENDING: &str =
    "status IN ('active', 'disabled') AND (expiry_recorded_for IS NULL OR expiry_recorded_for <> expires_at)";

/// Rotated versions whose grace period ended by `now` and is not recorded yet.
pub fn grace_ends_to_record(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    limit: i64,
) -> Result<Vec<Lapse>, DbError> {
    let rows: Vec<(String, String, Option<PrimitiveDateTime>)> = api_keys::table
        .filter(sql::<Bool>(GRACE_PENDING))
        .filter(api_keys::grace_ends_at.le(now))
        .order(api_keys::grace_ends_at.asc())
        .limit(limit)
        .select((api_keys::id, api_keys::merchant_id, api_keys::grace_ends_at))
        .load(conn)?;
    lapses(rows)
}

/// Marks a grace end as recorded; false when another sweep already did.
pub fn mark_grace_end_recorded(conn: &mut DbConnection, key_id: &KeyId) -> Result<bool, DbError> {
    let marked = diesel::update(
        api_keys::table
            .filter(api_keys::id.eq(key_id.as_str()))
            .filter(api_keys::grace_end_recorded.eq(false)),
    )
    .set(api_keys::grace_end_recorded.eq(true))
    .execute(conn)?;
    Ok(marked == 1)
}

/// Active or disabled keys that expired by `now` and whose current expiry is not
/// recorded yet (a renewed key can expire again).
pub fn expiries_to_record(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    limit: i64,
) -> Result<Vec<Lapse>, DbError> {
    let rows: Vec<(String, String, Option<PrimitiveDateTime>)> = api_keys::table
        .filter(sql::<Bool>(EXPIRY_PENDING))
        .filter(api_keys::expires_at.le(now))
        .order(api_keys::expires_at.asc())
        .limit(limit)
        .select((api_keys::id, api_keys::merchant_id, api_keys::expires_at))
        .load(conn)?;
    lapses(rows)
}

/// Marks a key's current expiry as recorded; false when another sweep already did or
/// the key was renewed meanwhile.
pub fn mark_expiry_recorded(
    conn: &mut DbConnection,
    key_id: &KeyId,
    expires_at: PrimitiveDateTime,
) -> Result<bool, DbError> {
    let marked = diesel::update(
        api_keys::table
            .filter(api_keys::id.eq(key_id.as_str()))
            .filter(api_keys::expires_at.eq(expires_at))
            .filter(
                api_keys::expiry_recorded_for
                    .is_null()
                    .or(api_keys::expiry_recorded_for.ne(expires_at)),
            ),
    )
    .set(api_keys::expiry_recorded_for.eq(expires_at))
    .execute(conn)?;
    Ok(marked == 1)
}

fn lapses(rows: Vec<(String, String, Option<PrimitiveDateTime>)>) -> Result<Vec<Lapse>, DbError> {
    rows.into_iter()
        .filter_map(|(id, merchant_id, at)| Some((id, merchant_id, at?)))
        .map(|(id, merchant_id, at)| {
            Ok(Lapse {
                id: KeyId::try_from(id)?,
                merchant_id: MerchantId::try_from(merchant_id)?,
                at,
            })
        })
        .collect()
}
