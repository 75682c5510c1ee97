//! What verification reads of keys: one row by digest, and every digest in `seq` order
//! for the set of known digests.

use diesel::prelude::*;
use diesel::sql_types::BigInt;
use time::PrimitiveDateTime;

use crate::db::schema::api_keys;
use crate::db::{DbConnection, DbError};
use crate::domain::{Environment, IpAllowlist, KeyDigest, KeyId, KeyStatus, MerchantId, Scopes};

/// What verification reads of a key: only the columns it checks.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = api_keys)]
pub struct VerificationRow {
    /// Version ID.
    #[diesel(deserialize_as = String)]
    pub id: KeyId,
    /// Owning merchant.
    #[diesel(deserialize_as = String)]
    pub merchant_id: MerchantId,
    /// Display name.
    pub name: String,
    /// What the key may do.
    #[diesel(deserialize_as = String)]
    pub scopes: Scopes,
    /// Version number.
    pub version: i32,
    /// Stored state.
    #[diesel(deserialize_as = String)]
    pub status: KeyStatus,
    /// Renewable lifetime in days.
    pub lifetime_days: Option<i32>,
    /// When it stops working.
    pub expires_at: Option<PrimitiveDateTime>,
    /// For a rotated version, when its grace period ends.
    pub grace_ends_at: Option<PrimitiveDateTime>,
    /// Requests allowed per minute, if limited.
    pub rate_limit_per_minute: Option<i32>,
    /// Live or test.
    #[diesel(deserialize_as = String)]
    pub environment: Environment,
    /// The addresses and ranges the key may be used from; empty for any.
    #[diesel(deserialize_as = String)]
    pub allowed_ips: IpAllowlist,
}

/// The key whose digest this is, with what verification needs: one indexed read.
pub fn find_for_verification(
    conn: &mut DbConnection,
    digest: &KeyDigest,
) -> Result<Option<VerificationRow>, DbError> {
    // No `LIMIT ?` (`first`): the digest is unique, and SQLite re-prepares a statement
    // every time a bound LIMIT is bound again, which was half the cost of a cache miss.
    Ok(api_keys::table
        .select(VerificationRow::as_select())
        .filter(api_keys::key_hash.eq(digest.as_str()))
        .get_result(conn)
        .optional()?)
}

/// The newest `seq` such that every key stored with a `seq` up to it has committed (or
/// rolled back): a read of keys up to it afterwards misses none. On Postgres it waits
/// for the inserts in progress to commit (see `insert`); 0 for an empty table.
pub fn settled_seq(conn: &mut DbConnection) -> Result<i64, DbError> {
    let newest = |conn: &mut DbConnection| -> Result<i64, DbError> {
        Ok(api_keys::table
            .select(diesel::dsl::max(api_keys::seq))
            .get_result::<Option<i64>>(conn)?
            .unwrap_or(0))
    };
    match conn {
        DbConnection::Postgres(_) => conn.transaction(|conn| {
            if let DbConnection::Postgres(pg) = &mut *conn {
                diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
                    .bind::<BigInt, _>(crate::db::KEY_ORDER_LOCK_ID)
                    .execute(pg)?;
            }
            newest(conn)
        }),
        DbConnection::Sqlite(_) => newest(conn),
    }
}

/// The `seq` and digest of the first `limit` keys stored with `after < seq <= upto`, in
/// `seq` order.
pub fn digests_stored_between(
    conn: &mut DbConnection,
    after: i64,
    upto: i64,
    limit: i64,
) -> Result<Vec<(i64, String)>, DbError> {
    Ok(api_keys::table
        .select((api_keys::seq, api_keys::key_hash))
        .filter(api_keys::seq.gt(after))
        .filter(api_keys::seq.le(upto))
        .order(api_keys::seq.asc())
        .limit(limit)
        .load(conn)?)
}
