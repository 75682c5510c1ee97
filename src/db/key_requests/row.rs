//! A request log row as stored.

use diesel::prelude::*;
use time::PrimitiveDateTime;

use crate::db::schema::key_requests;
use crate::domain::MerchantId;
use crate::domain::diagnosis::Seen;

/// One row of the request log: a refused request, or the accepted requests of one key
/// from one address in one minute.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = key_requests)]
pub struct RequestRow {
    /// The row's own ID.
    pub id: String,
    /// The merchant whose log it is in.
    #[diesel(deserialize_as = String)]
    pub merchant_id: MerchantId,
    /// The key version presented, or `None` when the key matched none.
    pub key_id: Option<String>,
    /// The key as presented, masked; empty when it was not shaped like a key.
    pub presented_key: String,
    /// The start of the row's minute.
    pub minute: PrimitiveDateTime,
    /// The first request the row counts.
    pub first_at: PrimitiveDateTime,
    /// The last request the row counts.
    pub last_at: PrimitiveDateTime,
    /// `accepted`, or the error code the request was answered with.
    pub outcome: String,
    /// The refused request's `X-Request-Id`; empty for accepted and overflow rows.
    pub request_id: String,
    /// The client address verification used.
    pub client_address: String,
    /// The client's User-Agent (at most 200 characters).
    pub user_agent: String,
    /// The method: the gateway's for forward-auth.
    pub method: String,
    /// The path: the gateway's for forward-auth, keys in it masked.
    pub path: String,
    /// The fact a refusal rested on that the key does not keep.
    pub detail: String,
    /// How many requests the row stands for.
    pub count: i64,
}

impl RequestRow {
    /// What the diagnosis reads of the row.
    pub fn seen(&self) -> Seen<'_> {
        Seen {
            outcome: &self.outcome,
            at: self.last_at,
            presented_key: &self.presented_key,
            client_address: &self.client_address,
            detail: &self.detail,
            count: self.count,
        }
    }
}
