//! Reading the request log: a key's rows with an outcome filter, one request by its ID,
//! and a search of a merchant's rows. Every read names the merchant, so a row of another
//! merchant is never found.

use diesel::prelude::*;
use time::PrimitiveDateTime;

use super::row::RequestRow;
use crate::db::schema::{api_keys, key_requests};
use crate::db::{DbConnection, DbError};
use crate::domain::{KeyId, MerchantId};

/// Where a page of the log ends: the last row shown, newest first, so the next page
/// starts after it however many rows arrived since.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogCursor {
    /// The row's last request.
    pub last_at: PrimitiveDateTime,
    /// The row's ID, which orders rows of the same time.
    pub id: String,
}

impl LogCursor {
    /// The cursor after `row`.
    pub fn after(row: &RequestRow) -> Self {
        Self {
            last_at: row.last_at,
            id: row.id.clone(),
        }
    }

    /// As a page link carries it: the time in microseconds since 1970, `_`, the ID.
    pub fn to_param(&self) -> String {
        let micros = self.last_at.assume_utc().unix_timestamp_nanos() / 1000;
        format!("{micros}_{}", self.id)
    }

    /// Reads a page link's cursor; `None` when it is not one.
    pub fn parse(raw: &str) -> Option<Self> {
        let (micros, id) = raw.split_once('_')?;
        let micros: i128 = micros.parse().ok()?;
        let at = time::OffsetDateTime::from_unix_timestamp_nanos(micros.checked_mul(1000)?).ok()?;
        uuid::Uuid::parse_str(id).ok()?;
        Some(Self {
            last_at: PrimitiveDateTime::new(at.date(), at.time()),
            id: id.to_owned(),
        })
    }
}

/// A search of a merchant's log; every part left `None` matches every row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestSearch {
    /// The characters after the prefix a masked key starts with (`AbCd` of
    /// `kw_live_AbCd…WxYz`).
    pub key_head: Option<String>,
    /// The last four characters of the key.
    pub key_tail: Option<String>,
    /// Rows with a request at or after this.
    pub since: Option<PrimitiveDateTime>,
    /// Rows with a request before this.
    pub before: Option<PrimitiveDateTime>,
    /// The client address, exactly.
    pub client_address: Option<String>,
    /// The outcome: `accepted` or an error code.
    pub outcome: Option<String>,
}

/// `%`, `_` and `\` in `text` taken literally by `LIKE … ESCAPE '\'`.
fn literal(text: &str) -> String {
    text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

/// A page of a key's rows, newest first, after `after` (the previous page's last row),
/// with `outcome` only when given.
pub fn for_key(
    conn: &mut DbConnection,
    merchant_id: &MerchantId,
    key_id: &KeyId,
    outcome: Option<&str>,
    after: Option<&LogCursor>,
    limit: i64,
) -> Result<Vec<RequestRow>, DbError> {
    let mut query = key_requests::table
        .select(RequestRow::as_select())
        .filter(key_requests::merchant_id.eq(merchant_id.as_str()))
        .filter(key_requests::key_id.eq(key_id.as_str()))
        .into_boxed();
    if let Some(outcome) = outcome {
        query = query.filter(key_requests::outcome.eq(outcome.to_owned()));
    }
    if let Some(after) = after {
        query = query.filter(
            key_requests::last_at.lt(after.last_at).or(key_requests::last_at
                .eq(after.last_at)
                .and(key_requests::id.lt(after.id.clone()))),
        );
    }
    Ok(query
        .order((key_requests::last_at.desc(), key_requests::id.desc()))
        .limit(limit)
        .load(conn)?)
}

/// The row a refused request was kept under, by the `X-Request-Id` it was answered
/// with, if it is in this merchant's log.
pub fn find_by_request_id(
    conn: &mut DbConnection,
    merchant_id: &MerchantId,
    request_id: &str,
) -> Result<Option<RequestRow>, DbError> {
    Ok(key_requests::table
        .select(RequestRow::as_select())
        .filter(key_requests::merchant_id.eq(merchant_id.as_str()))
        .filter(key_requests::request_id.eq(request_id))
        .first(conn)
        .optional()?)
}

/// The merchant whose log holds the refused request `request_id`, in any merchant: what
/// the support console finds a pasted request ID by.
pub fn merchant_of_request(conn: &mut DbConnection, request_id: &str) -> Result<Option<MerchantId>, DbError> {
    if request_id.is_empty() {
        return Ok(None);
    }
    let merchant: Option<String> = key_requests::table
        .select(key_requests::merchant_id)
        .filter(key_requests::request_id.eq(request_id))
        .first(conn)
        .optional()?;
    Ok(merchant.as_deref().map(MerchantId::parse).transpose()?)
}

/// A page of a merchant's rows matching `search`, newest first, after `after`.
pub fn search(
    conn: &mut DbConnection,
    merchant_id: &MerchantId,
    search: &RequestSearch,
    after: Option<&LogCursor>,
    limit: i64,
) -> Result<Vec<RequestRow>, DbError> {
    let mut query = key_requests::table
        .select(RequestRow::as_select())
        .filter(key_requests::merchant_id.eq(merchant_id.as_str()))
        .into_boxed();
    // After any prefix (`kw_live_`, `kw_test_`): the head follows the second `_`.
    let head = search
        .key_head
        .as_ref()
        .map(|head| format!("kw\\_%\\_{}%", literal(head)));
    let tail = search
        .key_tail
        .as_ref()
        .map(|tail| format!("%\u{2026}{}", literal(tail)));
    for pattern in [head, tail].into_iter().flatten() {
        // A request with a stored key keeps no copy of what was presented: the key's
        // own mask is what matches.
        let stored_keys = api_keys::table
            .filter(api_keys::merchant_id.eq(merchant_id.as_str()))
            .filter(api_keys::masked_key.like(pattern.clone()).escape('\\'))
            .select(api_keys::id.nullable());
        query = query.filter(
            key_requests::presented_key
                .like(pattern)
                .escape('\\')
                .or(key_requests::key_id.eq_any(stored_keys)),
        );
    }
    if let Some(since) = search.since {
        query = query.filter(key_requests::last_at.ge(since));
    }
    if let Some(before) = search.before {
        query = query.filter(key_requests::first_at.lt(before));
    }
    if let Some(address) = &search.client_address {
        query = query.filter(key_requests::client_address.eq(address.clone()));
    }
    if let Some(outcome) = &search.outcome {
        query = query.filter(key_requests::outcome.eq(outcome.clone()));
    }
    if let Some(after) = after {
        query = query.filter(
            key_requests::last_at.lt(after.last_at).or(key_requests::last_at
                .eq(after.last_at)
                .and(key_requests::id.lt(after.id.clone()))),
        );
    }
    Ok(query
        .order((key_requests::last_at.desc(), key_requests::id.desc()))
        .limit(limit)
        .load(conn)?)
}
