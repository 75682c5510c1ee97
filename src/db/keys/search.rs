//! Keys looked up across merchants (the support console) and summaries of a merchant's
//! keys (counts by state, the names history uses).

use std::collections::BTreeMap;

use diesel::prelude::*;
use time::PrimitiveDateTime;

use super::row::KeyRow;
use crate::db::schema::api_keys;
use crate::db::{DbConnection, DbError};
use crate::domain::{DisplayStatus, KeyDigest, KeyFacts, KeyId, KeyStatus, MerchantId};

/// The merchant owning a key, whatever its state: for support staff, who see every
/// merchant.
pub fn merchant_of(conn: &mut DbConnection, key_id: &KeyId) -> Result<Option<MerchantId>, DbError> {
    let stored: Option<String> = api_keys::table
        .find(key_id.as_str())
        .select(api_keys::merchant_id)
        .get_result(conn)
        .optional()?;
    Ok(stored.map(MerchantId::try_from).transpose()?)
}

/// A key found by the support console, with its merchant.
#[derive(Clone, Queryable)]
pub struct FoundKey {
    /// The key.
    pub row: KeyRow,
    /// The merchant's name.
    pub merchant_name: String,
}

diesel::define_sql_function!(
    /// SQL `substr()`, counted in characters from 1 on both databases.
    fn substr(x: diesel::sql_types::Text, start: diesel::sql_types::Integer, length: diesel::sql_types::Integer) -> diesel::sql_types::Text);

/// What the support console looks a key up by.
#[derive(Debug, Clone, Copy)]
pub enum KeySearch<'a> {
    /// The key's ID.
    Id(&'a str),
    /// The start a masked key shows (up to four characters after the prefix) and its
    /// last four, with their letter case: the key's own last four for keys made since
    /// masks show them, the secret's for keys made before (their stored mask).
    Masked {
        /// Characters right after `kw_live_`.
        head: Option<&'a str>,
        /// The last four characters shown.
        tail: Option<&'a str>,
    },
}

/// Keys of any merchant, deleted ones included, newest first, at most `limit`.
pub fn search(conn: &mut DbConnection, by: KeySearch<'_>, limit: i64) -> Result<Vec<FoundKey>, DbError> {
    use crate::db::schema::merchants;
    // A masked key is `kw_live_` + 4 characters + `…` + 4 characters. Exact comparisons
    // of its parts, unlike LIKE (which ignores case on SQLite), keep letter case.
    let prefix = i32::try_from(crate::domain::KEY_PREFIX.chars().count()).unwrap_or(i32::MAX);
    let mut query = api_keys::table
        .inner_join(merchants::table)
        .select((KeyRow::as_select(), merchants::name))
        .order(api_keys::created_at.desc())
        .limit(limit)
        .into_boxed();
    match by {
        KeySearch::Id(id) => query = query.filter(api_keys::id.eq(id.to_owned())),
        KeySearch::Masked {
            head: None,
            tail: None,
        } => return Ok(Vec::new()),
        KeySearch::Masked { head, tail } => {
            if let Some(head) = head {
                let length = i32::try_from(head.chars().count()).unwrap_or(i32::MAX);
                query = query.filter(substr(api_keys::masked_key, prefix + 1, length).eq(head.to_owned()));
            }
            if let Some(tail) = tail {
                let length = i32::try_from(tail.chars().count()).unwrap_or(i32::MAX);
                query = query
                    .filter(substr(api_keys::masked_key, prefix + 10 - length, length).eq(tail.to_owned()));
            }
        }
    }
    Ok(query.load(conn)?)
}

/// The stored mask of the key with this digest, in any merchant: a whole key pasted into
/// the support console is found by it, whichever form of mask the key was stored with.
pub fn masked_by_digest(conn: &mut DbConnection, digest: &KeyDigest) -> Result<Option<String>, DbError> {
    Ok(api_keys::table
        .filter(api_keys::key_hash.eq(digest.as_str()))
        .select(api_keys::masked_key)
        .first(conn)
        .optional()?)
}

/// How many of a merchant's keys are in each state as a person sees it at `now` (an
/// active key past its expiry is expired, a rotated one past its grace period retired),
/// deleted ones included, in the order of [`DisplayStatus`].
pub fn count_by_status(
    conn: &mut DbConnection,
    merchant_id: &MerchantId,
    now: PrimitiveDateTime,
) -> Result<Vec<(DisplayStatus, i64)>, DbError> {
    let rows: Vec<(String, Option<PrimitiveDateTime>, Option<PrimitiveDateTime>)> = api_keys::table
        .filter(api_keys::merchant_id.eq(merchant_id.as_str()))
        .select((api_keys::status, api_keys::expires_at, api_keys::grace_ends_at))
        .load(conn)?;
    let mut counts: BTreeMap<DisplayStatus, i64> = BTreeMap::new();
    for (status, expires_at, grace_ends_at) in rows {
        let facts = KeyFacts {
            status: KeyStatus::parse(&status)
                .ok_or_else(|| DbError::Corrupt(format!("key status `{status}`")))?,
            expires_at,
            grace_ends_at,
            // A lifetime plays no part in the status a person sees.
            lifetime_days: None,
        };
        *counts.entry(facts.display_status(now)).or_default() += 1;
    }
    Ok(counts.into_iter().collect())
}

/// How history names a key: every key of the merchant, deleted ones included.
#[derive(Debug, Clone, Queryable)]
pub struct KeyLabel {
    /// Version ID.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Version number.
    pub version: i32,
    /// Masked form.
    pub masked_key: String,
}

/// Every key of the merchant, deleted ones included, by name and version.
pub fn labels(conn: &mut DbConnection, merchant_id: &MerchantId) -> Result<Vec<KeyLabel>, DbError> {
    Ok(api_keys::table
        .filter(api_keys::merchant_id.eq(merchant_id.as_str()))
        .select((
            api_keys::id,
            api_keys::name,
            api_keys::version,
            api_keys::masked_key,
        ))
        .order((api_keys::name.asc(), api_keys::version.asc()))
        .load(conn)?)
}
