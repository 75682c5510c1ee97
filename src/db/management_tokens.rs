//! Management tokens and the answers kept for their `Idempotency-Key`s.

use diesel::prelude::*;
use time::PrimitiveDateTime;

use super::schema::{idempotency_keys, management_tokens};
use super::{DbConnection, DbError};
use crate::domain::{KeyDigest, MerchantId, TokenId, TokenScopes};

/// A management token as stored: its digest, never the token.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = management_tokens)]
pub struct TokenRow {
    /// The token's ID.
    #[diesel(deserialize_as = String)]
    pub id: TokenId,
    /// The merchant whose keys it manages.
    #[diesel(deserialize_as = String)]
    pub merchant_id: MerchantId,
    /// Its name, as history shows it ("token <name>").
    pub name: String,
    /// What it may do.
    #[diesel(deserialize_as = String)]
    pub scopes: TokenScopes,
    /// The peppered digest.
    #[diesel(deserialize_as = String, column_name = token_hash)]
    pub digest: KeyDigest,
    /// `kw_mgmt_AbCd…WxYz`.
    pub masked_token: String,
    /// When it was created.
    pub created_at: PrimitiveDateTime,
    /// Who created it, by name.
    pub created_by: String,
    /// Who created it, by account ID.
    pub created_by_id: Option<String>,
    /// From then on it is refused.
    pub expires_at: Option<PrimitiveDateTime>,
    /// Its last accepted request.
    pub last_used_at: Option<PrimitiveDateTime>,
    /// The client address of that request.
    pub last_used_from: Option<String>,
    /// When it was revoked.
    pub revoked_at: Option<PrimitiveDateTime>,
    /// Who revoked it.
    pub revoked_by: Option<String>,
}

impl TokenRow {
    /// True while the token may be used: not revoked, not expired.
    pub fn is_usable(&self, now: PrimitiveDateTime) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|at| now < at)
    }
}

/// A new token, as stored.
#[derive(Debug)]
pub struct NewToken<'a> {
    /// Its ID.
    pub id: &'a TokenId,
    /// Its merchant.
    pub merchant_id: &'a MerchantId,
    /// Its name.
    pub name: &'a str,
    /// Its scopes.
    pub scopes: &'a TokenScopes,
    /// Its digest.
    pub digest: &'a KeyDigest,
    /// Its masked form.
    pub masked_token: &'a str,
    /// When.
    pub created_at: PrimitiveDateTime,
    /// Who, by name.
    pub created_by: &'a str,
    /// Who, by account.
    pub created_by_id: Option<&'a str>,
    /// Its expiry.
    pub expires_at: Option<PrimitiveDateTime>,
    /// The one-time value of the form that made it; unique, so one form makes one token.
    pub request_id: Option<&'a str>,
}

/// Stores a new token.
pub fn insert(conn: &mut DbConnection, token: NewToken<'_>) -> Result<(), DbError> {
    diesel::insert_into(management_tokens::table)
        .values((
            management_tokens::id.eq(token.id.as_str()),
            management_tokens::merchant_id.eq(token.merchant_id.as_str()),
            management_tokens::name.eq(token.name),
            management_tokens::scopes.eq(token.scopes.to_stored()),
            management_tokens::token_hash.eq(token.digest.as_str()),
            management_tokens::masked_token.eq(token.masked_token),
            management_tokens::created_at.eq(token.created_at),
            management_tokens::created_by.eq(token.created_by),
            management_tokens::created_by_id.eq(token.created_by_id),
            management_tokens::expires_at.eq(token.expires_at),
            management_tokens::request_id.eq(token.request_id),
        ))
        .execute(conn)?;
    Ok(())
}

/// A merchant's tokens, newest first, revoked ones included.
pub fn list(conn: &mut DbConnection, merchant_id: &MerchantId) -> Result<Vec<TokenRow>, DbError> {
    Ok(management_tokens::table
        .filter(management_tokens::merchant_id.eq(merchant_id.as_str()))
        .order((management_tokens::created_at.desc(), management_tokens::id.desc()))
        .select(TokenRow::as_select())
        .load(conn)?)
}

/// One of the merchant's tokens; another merchant's is not found.
pub fn find(
    conn: &mut DbConnection,
    merchant_id: &MerchantId,
    token_id: &TokenId,
) -> Result<Option<TokenRow>, DbError> {
    Ok(management_tokens::table
        .filter(management_tokens::merchant_id.eq(merchant_id.as_str()))
        .filter(management_tokens::id.eq(token_id.as_str()))
        .select(TokenRow::as_select())
        .get_result(conn)
        .optional()?)
}

/// The token with this digest, whatever its state.
pub fn find_by_digest(conn: &mut DbConnection, digest: &KeyDigest) -> Result<Option<TokenRow>, DbError> {
    Ok(management_tokens::table
        .filter(management_tokens::token_hash.eq(digest.as_str()))
        .select(TokenRow::as_select())
        .get_result(conn)
        .optional()?)
}

/// Whether a token of the merchant that is not revoked has this name, in any letter
/// case (as key names): names tell tokens apart in history.
pub fn name_taken(conn: &mut DbConnection, merchant_id: &MerchantId, name: &str) -> Result<bool, DbError> {
    let count: i64 = management_tokens::table
        .filter(management_tokens::merchant_id.eq(merchant_id.as_str()))
        .filter(management_tokens::revoked_at.is_null())
        .filter(super::merchants::lower(management_tokens::name).eq(name.to_lowercase()))
        .count()
        .get_result(conn)?;
    Ok(count > 0)
}

/// Revokes a token; false when it was revoked already.
pub fn revoke(
    conn: &mut DbConnection,
    token_id: &TokenId,
    now: PrimitiveDateTime,
    by: &str,
) -> Result<bool, DbError> {
    let changed = diesel::update(
        management_tokens::table
            .filter(management_tokens::id.eq(token_id.as_str()))
            .filter(management_tokens::revoked_at.is_null()),
    )
    .set((
        management_tokens::revoked_at.eq(Some(now)),
        management_tokens::revoked_by.eq(Some(by)),
    ))
    .execute(conn)?;
    Ok(changed == 1)
}

/// Records a token's use, at most once a minute per token so a busy pipeline costs
/// one write a minute.
pub fn touch(
    conn: &mut DbConnection,
    token_id: &TokenId,
    now: PrimitiveDateTime,
    from: Option<&str>,
) -> Result<(), DbError> {
    let stale = now - time::Duration::minutes(1);
    diesel::update(
        management_tokens::table
            .filter(management_tokens::id.eq(token_id.as_str()))
            .filter(
                management_tokens::last_used_at
                    .is_null()
                    .or(management_tokens::last_used_at.lt(stale)),
            ),
    )
    .set((
        management_tokens::last_used_at.eq(Some(now)),
        management_tokens::last_used_from.eq(from),
    ))
    .execute(conn)?;
    Ok(())
}

/// What an earlier request with the same `Idempotency-Key` left.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = idempotency_keys)]
pub struct IdempotentAnswer {
    /// A digest of the request's method, path and body.
    pub request_hash: String,
    /// The status answered; `None` while the first request is still running.
    pub status_code: Option<i32>,
    /// The body answered, with any plaintext key taken out.
    pub response_body: Option<String>,
    /// The `Location` answered.
    pub location: Option<String>,
    /// When the first request came.
    pub created_at: PrimitiveDateTime,
    /// When the attempt now running (or last run) began.
    pub attempted_at: PrimitiveDateTime,
}

/// Claims `key` for a request: true when this request is the first with it (it then
/// runs, and [`finish`] stores its answer); false when one was claimed before.
pub fn claim(
    conn: &mut DbConnection,
    token_id: &TokenId,
    key: &str,
    request_hash: &str,
    now: PrimitiveDateTime,
) -> Result<bool, DbError> {
    let inserted = diesel::insert_into(idempotency_keys::table)
        .values((
            idempotency_keys::token_id.eq(token_id.as_str()),
            idempotency_keys::idempotency_key.eq(key),
            idempotency_keys::request_hash.eq(request_hash),
            idempotency_keys::created_at.eq(now),
            idempotency_keys::attempted_at.eq(now),
        ))
        .execute(conn);
    match inserted {
        Ok(_) => Ok(true),
        Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => {
            Ok(false)
        }
        Err(err) => Err(err.into()),
    }
}

/// What was kept for `key`.
pub fn answer(
    conn: &mut DbConnection,
    token_id: &TokenId,
    key: &str,
) -> Result<Option<IdempotentAnswer>, DbError> {
    Ok(idempotency_keys::table
        .filter(idempotency_keys::token_id.eq(token_id.as_str()))
        .filter(idempotency_keys::idempotency_key.eq(key))
        .select(IdempotentAnswer::as_select())
        .get_result(conn)
        .optional()?)
}

/// Stores the answer given to the request that claimed `key`.
pub fn finish(
    conn: &mut DbConnection,
    token_id: &TokenId,
    key: &str,
    status: u16,
    body: &str,
    location: Option<&str>,
) -> Result<(), DbError> {
    diesel::update(
        idempotency_keys::table
            .filter(idempotency_keys::token_id.eq(token_id.as_str()))
            .filter(idempotency_keys::idempotency_key.eq(key)),
    )
    .set((
        idempotency_keys::status_code.eq(Some(i32::from(status))),
        idempotency_keys::response_body.eq(Some(body)),
        idempotency_keys::location.eq(location),
    ))
    .execute(conn)?;
    Ok(())
}

/// Marks `key`'s request as failed on the server's side with `status` (a retry may run),
/// keeping when it was claimed.
pub fn give_up(conn: &mut DbConnection, token_id: &TokenId, key: &str, status: i32) -> Result<(), DbError> {
    diesel::update(
        idempotency_keys::table
            .filter(idempotency_keys::token_id.eq(token_id.as_str()))
            .filter(idempotency_keys::idempotency_key.eq(key)),
    )
    .set(idempotency_keys::status_code.eq(Some(status)))
    .execute(conn)?;
    Ok(())
}

/// Takes a given-up claim for a retry; false when another retry took it first.
pub fn retake(
    conn: &mut DbConnection,
    token_id: &TokenId,
    key: &str,
    given_up: i32,
    now: PrimitiveDateTime,
) -> Result<bool, DbError> {
    let taken = diesel::update(
        idempotency_keys::table
            .filter(idempotency_keys::token_id.eq(token_id.as_str()))
            .filter(idempotency_keys::idempotency_key.eq(key))
            .filter(idempotency_keys::status_code.eq(given_up)),
    )
    .set((
        idempotency_keys::status_code.eq(None::<i32>),
        idempotency_keys::attempted_at.eq(now),
    ))
    .execute(conn)?;
    Ok(taken == 1)
}

/// Gives up the attempt that began at `attempted_at` and is still running (its instance
/// stopped before answering), so a retry may take it; false when it answered or another
/// retry moved first.
pub fn abandon(
    conn: &mut DbConnection,
    token_id: &TokenId,
    key: &str,
    attempted_at: PrimitiveDateTime,
    given_up: i32,
) -> Result<bool, DbError> {
    let abandoned = diesel::update(
        idempotency_keys::table
            .filter(idempotency_keys::token_id.eq(token_id.as_str()))
            .filter(idempotency_keys::idempotency_key.eq(key))
            .filter(idempotency_keys::status_code.is_null())
            .filter(idempotency_keys::attempted_at.eq(attempted_at)),
    )
    .set(idempotency_keys::status_code.eq(Some(given_up)))
    .execute(conn)?;
    Ok(abandoned == 1)
}

/// Forgets `key` (its 24 hours are over).
pub fn release(conn: &mut DbConnection, token_id: &TokenId, key: &str) -> Result<(), DbError> {
    diesel::delete(
        idempotency_keys::table
            .filter(idempotency_keys::token_id.eq(token_id.as_str()))
            .filter(idempotency_keys::idempotency_key.eq(key)),
    )
    .execute(conn)?;
    Ok(())
}

/// Forgets answers older than `before` (the sweep, after 24 hours).
pub fn prune_idempotency(conn: &mut DbConnection, before: PrimitiveDateTime) -> Result<usize, DbError> {
    Ok(
        diesel::delete(idempotency_keys::table.filter(idempotency_keys::created_at.lt(before)))
            .execute(conn)?,
    )
}
