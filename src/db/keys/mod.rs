//! API keys: one row per version; the plaintext key is stored nowhere.

use diesel::prelude::*;
use diesel::sql_types::BigInt;
use time::PrimitiveDateTime;

use super::schema::api_keys;
use super::{DbConnection, DbError};
use crate::domain::{Environment, KeyDigest, KeyId, KeyStatus, MerchantId};

mod lapses;
mod listing;
mod row;
mod search;
mod verification;

pub use lapses::{
    Lapse, expiries_to_record, grace_ends_to_record, mark_expiry_recorded, mark_grace_end_recorded,
};
pub use listing::{Listed, Listing, Seek, count_listed, list_page, page_by_seq};
pub use row::KeyRow;
pub use search::{
    FoundKey, KeyLabel, KeySearch, count_by_status, labels, masked_by_digest, merchant_of, search,
};
pub use verification::{VerificationRow, digests_stored_between, find_for_verification, settled_seq};

/// Serialises key changes of one merchant: on Postgres a row lock on the merchant,
/// held to the end of the transaction; on SQLite the immediate transaction already
/// holds the database's write lock.
pub fn lock_merchant(conn: &mut DbConnection, merchant_id: &MerchantId) -> Result<(), DbError> {
    if let DbConnection::Postgres(pg) = conn {
        diesel::sql_query("SELECT id FROM merchants WHERE id = $1 FOR UPDATE")
            .bind::<diesel::sql_types::Text, _>(merchant_id.as_str())
            .execute(pg)?;
    }
    Ok(())
}

/// A key of this merchant by ID; another merchant's key is not found.
pub fn find(
    conn: &mut DbConnection,
    merchant_id: &MerchantId,
    key_id: &KeyId,
) -> Result<Option<KeyRow>, DbError> {
    Ok(api_keys::table
        .select(KeyRow::as_select())
        .filter(api_keys::id.eq(key_id.as_str()))
        .filter(api_keys::merchant_id.eq(merchant_id.as_str()))
        .first(conn)
        .optional()?)
}

/// Every key of the merchant except deleted ones, newest first.
pub fn list(conn: &mut DbConnection, merchant_id: &MerchantId) -> Result<Vec<KeyRow>, DbError> {
    Ok(api_keys::table
        .select(KeyRow::as_select())
        .filter(api_keys::merchant_id.eq(merchant_id.as_str()))
        .filter(api_keys::status.ne(KeyStatus::Deleted.as_str()))
        .order((api_keys::created_at.desc(), api_keys::version.desc()))
        .load(conn)?)
}

/// Active, unexpired keys of the merchant in one environment: what the policy's limit
/// counts, each environment apart.
pub fn count_active(
    conn: &mut DbConnection,
    merchant_id: &MerchantId,
    environment: Environment,
    now: PrimitiveDateTime,
) -> Result<u64, DbError> {
    let count: i64 = api_keys::table
        .filter(api_keys::merchant_id.eq(merchant_id.as_str()))
        .filter(api_keys::environment.eq(environment.as_str()))
        .filter(api_keys::status.eq(KeyStatus::Active.as_str()))
        .filter(api_keys::expires_at.is_null().or(api_keys::expires_at.gt(now)))
        .count()
        .get_result(conn)?;
    Ok(u64::try_from(count).unwrap_or(0))
}

/// How many keys (lineages) the merchant has ever generated, deleted ones included.
pub fn count_lineages(conn: &mut DbConnection, merchant_id: &MerchantId) -> Result<u64, DbError> {
    let count: i64 = api_keys::table
        .filter(api_keys::merchant_id.eq(merchant_id.as_str()))
        .filter(api_keys::version.eq(1))
        .count()
        .get_result(conn)?;
    Ok(u64::try_from(count).unwrap_or(0))
}

/// True when a version of the lineage is rotated and still in its grace period.
pub fn lineage_in_grace(
    conn: &mut DbConnection,
    lineage_id: &KeyId,
    now: PrimitiveDateTime,
) -> Result<bool, DbError> {
    let in_grace: Option<String> = api_keys::table
        .select(api_keys::id)
        .filter(api_keys::lineage_id.eq(lineage_id.as_str()))
        .filter(api_keys::status.eq(KeyStatus::Rotated.as_str()))
        .filter(api_keys::grace_ends_at.gt(now))
        .first(conn)
        .optional()?;
    Ok(in_grace.is_some())
}

/// True when another lineage of the merchant has a live (active or disabled) key with
/// this name, in any case.
pub fn name_taken(
    conn: &mut DbConnection,
    merchant_id: &MerchantId,
    name: &str,
    except_lineage: Option<&KeyId>,
) -> Result<bool, DbError> {
    let live = [KeyStatus::Active.as_str(), KeyStatus::Disabled.as_str()];
    let mut query = api_keys::table
        .select(api_keys::id)
        .filter(api_keys::merchant_id.eq(merchant_id.as_str()))
        .filter(api_keys::status.eq_any(live))
        .filter(super::merchants::lower(api_keys::name).eq(name.to_lowercase()))
        .into_boxed();
    if let Some(lineage) = except_lineage {
        query = query.filter(api_keys::lineage_id.ne(lineage.as_str()));
    }
    Ok(query.first::<String>(conn).optional()?.is_some())
}

/// A key version to store.
#[derive(Debug)]
pub struct NewKey<'a> {
    /// UUID of the version.
    pub id: &'a KeyId,
    /// The owning merchant.
    pub merchant_id: &'a MerchantId,
    /// The lineage.
    pub lineage_id: &'a KeyId,
    /// The version number.
    pub version: i32,
    /// Display name.
    pub name: &'a str,
    /// Free text.
    pub description: &'a str,
    /// Stored scopes.
    pub scopes: &'a str,
    /// HMAC digest.
    pub key_hash: &'a KeyDigest,
    /// Masked form.
    pub masked_key: &'a str,
    /// Renewable lifetime.
    pub lifetime_days: Option<i32>,
    /// Expiry.
    pub expires_at: Option<PrimitiveDateTime>,
    /// Now.
    pub created_at: PrimitiveDateTime,
    /// Actor's name.
    pub created_by: &'a str,
    /// The one-time value of the form that asked for it, if any.
    pub request_id: Option<&'a str>,
    /// Requests allowed per minute, if limited.
    pub rate_limit_per_minute: Option<i32>,
    /// Live or test; every version of a lineage has its first version's.
    pub environment: Environment,
    /// A test key's sealed secret; `None` for a live key.
    pub sealed_secret: Option<&'a str>,
    /// The stored allowlist (`IpAllowlist::to_stored`); empty for any address.
    pub allowed_ips: &'a str,
}

/// Stores a new active key version, inside the transaction that commits it.
pub fn insert(conn: &mut DbConnection, key: NewKey<'_>) -> Result<(), DbError> {
    // Postgres draws `seq` at insert time, and transactions may commit out of that order:
    // holding this lock until commit lets `settled_seq` wait for every drawn value to
    // settle. SQLite commits one writer at a time, in `seq` order already.
    if let DbConnection::Postgres(pg) = conn {
        diesel::sql_query("SELECT pg_advisory_xact_lock_shared($1)")
            .bind::<BigInt, _>(super::KEY_ORDER_LOCK_ID)
            .execute(pg)?;
    }
    diesel::insert_into(api_keys::table)
        .values((
            (
                api_keys::id.eq(key.id.as_str()),
                api_keys::merchant_id.eq(key.merchant_id.as_str()),
                api_keys::lineage_id.eq(key.lineage_id.as_str()),
                api_keys::version.eq(key.version),
                api_keys::name.eq(key.name),
                api_keys::description.eq(key.description),
                api_keys::scopes.eq(key.scopes),
                api_keys::key_hash.eq(key.key_hash.as_str()),
                api_keys::masked_key.eq(key.masked_key),
            ),
            (
                api_keys::status.eq(KeyStatus::Active.as_str()),
                api_keys::lifetime_days.eq(key.lifetime_days),
                api_keys::expires_at.eq(key.expires_at),
                api_keys::created_at.eq(key.created_at),
                api_keys::created_by.eq(key.created_by),
                api_keys::updated_at.eq(key.created_at),
                api_keys::updated_by.eq(key.created_by),
                api_keys::request_id.eq(key.request_id),
                api_keys::rate_limit_per_minute.eq(key.rate_limit_per_minute),
            ),
            (
                api_keys::environment.eq(key.environment.as_str()),
                api_keys::sealed_secret.eq(key.sealed_secret),
            ),
            api_keys::allowed_ips.eq(key.allowed_ips),
        ))
        .execute(conn)?;
    Ok(())
}

/// A change of state, applied only if the key is still in the state it was read in.
#[derive(Debug, Clone, Copy)]
pub enum Transition {
    /// Replaced by a new version; works until `grace_ends_at`.
    Rotated {
        /// End of the grace period.
        grace_ends_at: PrimitiveDateTime,
    },
    /// Switched off.
    Disabled,
    /// Switched on again.
    Enabled,
    /// Permanently refused.
    Revoked,
    /// Hidden from lists.
    Deleted,
}

/// Applies `transition` to a key whose stored state is still `from`. Returns false when
/// another change got there first.
pub fn transition(
    conn: &mut DbConnection,
    key_id: &KeyId,
    from: KeyStatus,
    transition: Transition,
    now: PrimitiveDateTime,
    by: &str,
) -> Result<bool, DbError> {
    let target = api_keys::table
        .filter(api_keys::id.eq(key_id.as_str()))
        .filter(api_keys::status.eq(from.as_str()));
    let stamp = (api_keys::updated_at.eq(now), api_keys::updated_by.eq(by));
    let updated = match transition {
        Transition::Rotated { grace_ends_at } => diesel::update(target)
            .set((
                api_keys::status.eq(KeyStatus::Rotated.as_str()),
                api_keys::grace_ends_at.eq(grace_ends_at),
                stamp,
            ))
            .execute(conn)?,
        Transition::Disabled => diesel::update(target)
            .set((
                api_keys::status.eq(KeyStatus::Disabled.as_str()),
                api_keys::disabled_at.eq(now),
                api_keys::disabled_by.eq(by),
                stamp,
            ))
            .execute(conn)?,
        Transition::Enabled => diesel::update(target)
            .set((
                api_keys::status.eq(KeyStatus::Active.as_str()),
                api_keys::disabled_at.eq(None::<PrimitiveDateTime>),
                api_keys::disabled_by.eq(None::<String>),
                stamp,
            ))
            .execute(conn)?,
        Transition::Revoked => diesel::update(target)
            .set((
                api_keys::status.eq(KeyStatus::Revoked.as_str()),
                api_keys::revoked_at.eq(now),
                api_keys::revoked_by.eq(by),
                stamp,
            ))
            .execute(conn)?,
        Transition::Deleted => diesel::update(target)
            .set((
                api_keys::status.eq(KeyStatus::Deleted.as_str()),
                api_keys::deleted_at.eq(now),
                api_keys::deleted_by.eq(by),
                stamp,
            ))
            .execute(conn)?,
    };
    Ok(updated == 1)
}

/// New name, description and scopes for a key.
pub fn update_details(
    conn: &mut DbConnection,
    key_id: &KeyId,
    name: &str,
    description: &str,
    scopes: &str,
    now: PrimitiveDateTime,
    by: &str,
) -> Result<(), DbError> {
    diesel::update(api_keys::table.find(key_id.as_str()))
        .set((
            api_keys::name.eq(name),
            api_keys::description.eq(description),
            api_keys::scopes.eq(scopes),
            api_keys::updated_at.eq(now),
            api_keys::updated_by.eq(by),
        ))
        .execute(conn)?;
    Ok(())
}

/// A new expiry for a key, and the lifetime a renewal gives it (renewal, Edit).
pub fn update_expiry(
    conn: &mut DbConnection,
    key_id: &KeyId,
    expires_at: Option<PrimitiveDateTime>,
    lifetime_days: Option<i32>,
    now: PrimitiveDateTime,
    by: &str,
) -> Result<(), DbError> {
    diesel::update(api_keys::table.find(key_id.as_str()))
        .set((
            api_keys::expires_at.eq(expires_at),
            api_keys::lifetime_days.eq(lifetime_days),
            api_keys::updated_at.eq(now),
            api_keys::updated_by.eq(by),
        ))
        .execute(conn)?;
    Ok(())
}

/// A new limit of requests per minute for a key; `None` for none.
pub fn update_rate_limit(
    conn: &mut DbConnection,
    key_id: &KeyId,
    limit: Option<i32>,
    now: PrimitiveDateTime,
    by: &str,
) -> Result<(), DbError> {
    diesel::update(api_keys::table.find(key_id.as_str()))
        .set((
            api_keys::rate_limit_per_minute.eq(limit),
            api_keys::updated_at.eq(now),
            api_keys::updated_by.eq(by),
        ))
        .execute(conn)?;
    Ok(())
}

/// A new allowlist for a key, in its stored form; empty for any address.
pub fn update_allowed_ips(
    conn: &mut DbConnection,
    key_id: &KeyId,
    allowed_ips: &str,
    now: PrimitiveDateTime,
    by: &str,
) -> Result<(), DbError> {
    diesel::update(api_keys::table.find(key_id.as_str()))
        .set((
            api_keys::allowed_ips.eq(allowed_ips),
            api_keys::updated_at.eq(now),
            api_keys::updated_by.eq(by),
        ))
        .execute(conn)?;
    Ok(())
}

/// The key a request made, by the request's one-time value: what an API retry whose
/// first attempt committed finds.
pub fn find_by_request_id(
    conn: &mut DbConnection,
    merchant_id: &MerchantId,
    request_id: &str,
) -> Result<Option<KeyRow>, DbError> {
    Ok(api_keys::table
        .select(KeyRow::as_select())
        .filter(api_keys::merchant_id.eq(merchant_id.as_str()))
        .filter(api_keys::request_id.eq(request_id))
        .first(conn)
        .optional()?)
}

/// A key by ID in any merchant, for the operator's command line.
pub fn find_any(conn: &mut DbConnection, key_id: &KeyId) -> Result<Option<KeyRow>, DbError> {
    Ok(api_keys::table
        .select(KeyRow::as_select())
        .filter(api_keys::id.eq(key_id.as_str()))
        .first(conn)
        .optional()?)
}

/// Every version of a lineage, oldest first, deleted ones included (for history).
pub fn lineage(
    conn: &mut DbConnection,
    merchant_id: &MerchantId,
    lineage_id: &KeyId,
) -> Result<Vec<KeyRow>, DbError> {
    Ok(api_keys::table
        .select(KeyRow::as_select())
        .filter(api_keys::merchant_id.eq(merchant_id.as_str()))
        .filter(api_keys::lineage_id.eq(lineage_id.as_str()))
        .order(api_keys::version.asc())
        .load(conn)?)
}
