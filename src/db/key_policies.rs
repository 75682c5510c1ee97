//! Each merchant's key policy; a merchant without a row follows the default.

use diesel::prelude::*;
use time::PrimitiveDateTime;

use super::schema::key_policies;
use super::{DbConnection, DbError};
use crate::domain::{GracePeriod, KeyPolicy, MerchantId};

type Row = (i32, String, bool, bool, bool, bool, Option<i32>, bool);

/// The merchant's policy, or the default when it never changed it.
pub fn get(conn: &mut DbConnection, merchant_id: &MerchantId) -> Result<KeyPolicy, DbError> {
    let row: Option<Row> = key_policies::table
        .select((
            key_policies::max_active_keys,
            key_policies::default_grace,
            key_policies::name_required,
            key_policies::revoke_only_disabled,
            key_policies::delete_only_inactive,
            key_policies::scopes_editable,
            key_policies::max_lifetime_days,
            key_policies::test_keys_revealable,
        ))
        .find(merchant_id.as_str())
        .first(conn)
        .optional()?;
    let Some((
        max_active,
        grace,
        name_required,
        revoke_only_disabled,
        delete_only_inactive,
        scopes_editable,
        lifetime,
        test_keys_revealable,
    )) = row
    else {
        return Ok(KeyPolicy::default());
    };
    let corrupt = |what: &str| DbError::Corrupt(format!("key policy {what}"));
    Ok(KeyPolicy {
        max_active_keys: u32::try_from(max_active).map_err(|_| corrupt("max_active_keys"))?,
        default_grace: GracePeriod::parse(&grace).map_err(|_| corrupt("default_grace"))?,
        name_required,
        revoke_only_disabled,
        delete_only_inactive,
        scopes_editable,
        max_lifetime_days: lifetime
            .map(|days| u32::try_from(days).map_err(|_| corrupt("max_lifetime_days")))
            .transpose()?,
        test_keys_revealable,
    })
}

/// Stores the merchant's policy. Call it with the merchant locked, so the read of the
/// existing row and the write cannot race.
pub fn put(
    conn: &mut DbConnection,
    merchant_id: &MerchantId,
    policy: &KeyPolicy,
    now: PrimitiveDateTime,
    by: &str,
) -> Result<(), DbError> {
    let max_active = i32::try_from(policy.max_active_keys).unwrap_or(i32::MAX);
    let lifetime = policy
        .max_lifetime_days
        .map(|days| i32::try_from(days).unwrap_or(i32::MAX));
    let values = (
        key_policies::max_active_keys.eq(max_active),
        key_policies::default_grace.eq(policy.default_grace.as_str()),
        key_policies::name_required.eq(policy.name_required),
        key_policies::revoke_only_disabled.eq(policy.revoke_only_disabled),
        key_policies::delete_only_inactive.eq(policy.delete_only_inactive),
        key_policies::scopes_editable.eq(policy.scopes_editable),
        key_policies::max_lifetime_days.eq(lifetime),
        key_policies::test_keys_revealable.eq(policy.test_keys_revealable),
        key_policies::updated_at.eq(now),
        key_policies::updated_by.eq(by),
    );
    // The combined backend has no upsert: update, and insert when there was no row.
    let updated = diesel::update(key_policies::table.find(merchant_id.as_str()))
        .set(values)
        .execute(conn)?;
    if updated == 0 {
        diesel::insert_into(key_policies::table)
            .values((key_policies::merchant_id.eq(merchant_id.as_str()), values))
            .execute(conn)?;
    }
    Ok(())
}
