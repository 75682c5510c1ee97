//! A key's request log: its recent verifications, newest first, a page at a time.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use time::PrimitiveDateTime;
use utoipa::{IntoParams, ToSchema};

use super::resource::{find_key, rfc3339};
use crate::api::manage::ManageState;
use crate::api::manage::auth::Caller;
use crate::api::manage::error::ManageError;
use crate::api::manage::openapi;
use crate::db::key_requests::{self, LogCursor, RequestRow};
use crate::domain::{KeyId, TokenScope};

const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 100;

/// The log's filter and where its page starts; a parameter it does not know is refused.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RequestsQuery {
    /// Only requests with this outcome: `accepted`, or the error code they were refused
    /// with (`invalid_key`, `insufficient_scope`, `rate_limited`…).
    #[param(max_length = 40, pattern = "^[a-z_]+$", example = "insufficient_scope")]
    outcome: Option<String>,
    /// At most this many rows (50 when left out).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// Where the page starts: the `next_cursor` of the page before.
    cursor: Option<String>,
}

/// Requests kept in a key's log: an accepted request counted with the others from the
/// same address in the same minute, or a refused one on its own under its request ID
/// (past 60 a minute from one address, the rest counted in one row per outcome).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LoggedRequest {
    /// The row's ID.
    #[schema(format = Uuid)]
    pub id: String,
    /// The key version.
    #[schema(format = Uuid)]
    pub key_id: String,
    /// The start of the minute the requests fall in.
    #[schema(format = DateTime)]
    pub minute: String,
    /// The first request the row counts.
    #[schema(format = DateTime)]
    pub first_at: String,
    /// The last request the row counts.
    #[schema(format = DateTime)]
    pub last_at: String,
    /// `accepted`, or the error code the request was answered with.
    #[schema(example = "insufficient_scope")]
    pub outcome: String,
    /// The `X-Request-Id` the refused request was answered with; `null` for a row that
    /// counts several requests.
    pub request_id: Option<String>,
    /// The client address verification used.
    pub client_address: String,
    /// The User-Agent (of the latest request counted), at most 200 characters.
    pub user_agent: String,
    /// The method; for forward-auth, the one the gateway reports.
    pub method: String,
    /// The path without its query string, keys masked; for forward-auth, the one the
    /// gateway reports.
    pub path: String,
    /// What the refusal rested on: the scope asked for, the merchant named, the key's
    /// limit per minute, the format check that failed; `null` when nothing more is known.
    pub detail: Option<String>,
    /// How many requests the row stands for.
    pub count: i64,
}

impl LoggedRequest {
    /// The row as the API shows it.
    pub fn from_row(row: RequestRow) -> Self {
        let non_empty = |text: String| Some(text).filter(|text| !text.is_empty());
        Self {
            id: row.id,
            key_id: row.key_id.unwrap_or_default(),
            minute: rfc3339(row.minute),
            first_at: rfc3339(row.first_at),
            last_at: rfc3339(row.last_at),
            outcome: row.outcome,
            request_id: non_empty(row.request_id),
            client_address: row.client_address,
            user_agent: row.user_agent,
            method: row.method,
            path: row.path,
            detail: non_empty(row.detail),
            count: row.count,
        }
    }
}

/// A page of a key's request log, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RequestPage {
    /// The rows.
    pub data: Vec<LoggedRequest>,
    /// Give it as `cursor` for the next page; `null` on the last one.
    pub next_cursor: Option<String>,
}

/// Where a page starts: after the row with this last request and ID, written opaquely.
fn cursor_of(row: &RequestRow) -> String {
    let micros = row.last_at.assume_utc().unix_timestamp_nanos() / 1_000;
    hex::encode(format!("{micros}|{}", row.id))
}

fn parse_cursor(raw: &str) -> Result<LogCursor, ManageError> {
    let invalid = || {
        ManageError::invalid(
            "cursor",
            "Give the `next_cursor` of the page before, as it was sent.",
        )
    };
    let text = hex::decode(raw)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(invalid)?;
    let (micros, id) = text.split_once('|').ok_or_else(invalid)?;
    let at = micros
        .parse::<i128>()
        .ok()
        .and_then(|micros| time::OffsetDateTime::from_unix_timestamp_nanos(micros * 1_000).ok())
        .ok_or_else(invalid)?;
    let id = uuid::Uuid::parse_str(id).map_err(|_| invalid())?;
    Ok(LogCursor {
        last_at: PrimitiveDateTime::new(at.date(), at.time()),
        id: id.to_string(),
    })
}

/// Rows a page holds at most; also how many `keyward key requests` prints.
pub const PAGE_MAX: i64 = MAX_LIMIT;

/// An outcome to filter by, as given: `accepted` or an error code a refusal is kept
/// with (`domain::diagnosis::OUTCOMES`); `None` for anything else.
pub fn parse_outcome(raw: &str) -> Option<String> {
    let outcome = raw.trim();
    // The outcomes the dashboard's filter offers: a misspelt code is refused rather than
    // answered with an empty log.
    crate::domain::diagnosis::OUTCOMES
        .contains(&outcome)
        .then(|| outcome.to_owned())
}

/// What an outcome that is not one says.
pub const OUTCOME_HINT: &str = "Give `accepted` or an error code such as `insufficient_scope`.";

/// The filter as parsed.
struct Filter {
    outcome: Option<String>,
    after: Option<LogCursor>,
    limit: i64,
}

impl TryFrom<RequestsQuery> for Filter {
    type Error = ManageError;

    fn try_from(query: RequestsQuery) -> Result<Self, ManageError> {
        let outcome = query
            .outcome
            .map(|raw| parse_outcome(&raw).ok_or_else(|| ManageError::invalid("outcome", OUTCOME_HINT)))
            .transpose()?;
        let limit = match query.limit.as_deref() {
            None => DEFAULT_LIMIT,
            Some(raw) => raw
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|limit| (1..=MAX_LIMIT).contains(limit))
                .ok_or_else(|| ManageError::invalid("limit", "Give a whole number from 1 to 100."))?,
        };
        let after = query.cursor.as_deref().map(parse_cursor).transpose()?;
        Ok(Self {
            outcome,
            after,
            limit,
        })
    }
}

/// Get a key's request log.
///
/// The key's recent verifications, newest first (kept `KEYWARD_REQUEST_LOG_DAYS`, 7 by
/// default), narrowed by outcome, a page at a time: pass the page's `next_cursor` as
/// `cursor` for the next one.
#[utoipa::path(
    get,
    path = "/api/v1/keys/{key_id}/requests",
    tag = "Keys",
    params(
        ("key_id" = String, Path, format = Uuid, description = "The key version's ID"),
        RequestsQuery,
    ),
    responses(
        (status = 200, description = "A page of the key's request log", body = RequestPage),
        (status = 401, response = openapi::Unauthorized),
        (status = 403, response = openapi::Forbidden),
        (status = 404, response = openapi::NotFound),
        (status = 422, response = openapi::Unprocessable),
        (status = 429, response = openapi::TooManyRequests),
        (status = 503, response = openapi::Unavailable),
    ),
    security(("management_token" = ["keys:read"]))
)]
pub async fn key_requests(
    state: web::Data<ManageState>,
    caller: Caller,
    key_id: web::Path<KeyId>,
    query: web::Query<RequestsQuery>,
) -> Result<HttpResponse, ManageError> {
    caller.require(TokenScope::KeysRead)?;
    let filter = Filter::try_from(query.into_inner())?;
    let row = find_key(&state, &caller, key_id.into_inner()).await?;
    let limit = filter.limit;
    let mut rows = state
        .db
        .run(move |conn| {
            // One more than the page tells whether another page follows.
            key_requests::for_key(
                conn,
                &row.merchant_id,
                &row.id,
                filter.outcome.as_deref(),
                filter.after.as_ref(),
                limit + 1,
            )
        })
        .await
        .map_err(ManageError::from)?;
    let page = usize::try_from(limit).unwrap_or(usize::MAX);
    let more = rows.len() > page;
    rows.truncate(page);
    let next_cursor = more.then(|| rows.last().map(cursor_of)).flatten();
    let data = rows.into_iter().map(LoggedRequest::from_row).collect();
    Ok(HttpResponse::Ok().json(RequestPage { data, next_cursor }))
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::domain::MerchantId;

    #[test]
    fn cursors_read_back_as_the_row_they_were_made_from() {
        let row = RequestRow {
            id: "5f0c3a52-8f1e-4d3b-9a57-2b1c0d9e8f7a".to_owned(),
            merchant_id: MerchantId::parse("2b7e1f4a-3c5d-4e6f-8a9b-0c1d2e3f4a5b").unwrap(),
            key_id: None,
            presented_key: String::new(),
            minute: datetime!(2026-11-03 14:05),
            first_at: datetime!(2026-11-03 14:05:01.25),
            last_at: datetime!(2026-11-03 14:05:59.123456),
            outcome: "accepted".to_owned(),
            request_id: String::new(),
            client_address: String::new(),
            user_agent: String::new(),
            method: String::new(),
            path: String::new(),
            detail: String::new(),
            count: 1,
        };
        assert_eq!(parse_cursor(&cursor_of(&row)).unwrap(), LogCursor::after(&row));
        for bad in [
            "",
            "zz",
            &hex::encode("12|not-a-uuid"),
            &hex::encode("x|5f0c3a52-8f1e-4d3b-9a57-2b1c0d9e8f7a"),
        ] {
            assert!(parse_cursor(bad).is_err(), "{bad}");
        }
    }
}
