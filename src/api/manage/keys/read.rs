//! Reading keys: the list (filtered, a page at a time), one key, its usage over the
//! last 24 hours and its history.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::resource::{Key, KeyEnvironment, KeyState, environment_field, find_key, rfc3339};
use crate::api::manage::ManageState;
use crate::api::manage::auth::Caller;
use crate::api::manage::error::ManageError;
use crate::api::manage::events::Event;
use crate::api::manage::openapi;
use crate::db::keys::{self as db_keys, Listing, Seek};
use crate::db::{DbError, key_events, usage as db_usage};
use crate::domain::{Environment, KeyId, TokenScope};
use crate::usage;

const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 100;
const MAX_NAME_CHARS: usize = 100;

/// The list's filters and where its page starts; a parameter it does not know is
/// refused (a misspelt filter must not quietly list everything).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only keys in this state.
    #[param(value_type = Option<KeyState>)]
    status: Option<String>,
    /// Only keys whose name holds this text, in any letter case.
    #[param(max_length = 100)]
    name: Option<String>,
    /// At most this many keys (50 when left out).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// Where the page starts: the `next_cursor` of the page before.
    cursor: Option<String>,
    /// Only keys of this environment (both when left out).
    #[param(value_type = Option<KeyEnvironment>)]
    environment: Option<String>,
}

/// A page of keys, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct KeyPage {
    /// The keys.
    pub data: Vec<Key>,
    /// Give it as `cursor` for the next page; `null` on the last one.
    pub next_cursor: Option<String>,
}

/// Where a page starts: after the key at this position, written opaquely.
fn cursor_of(seq: i64) -> String {
    hex::encode(seq.to_be_bytes())
}

fn parse_cursor(raw: &str) -> Result<i64, ManageError> {
    let invalid = || {
        ManageError::invalid(
            "cursor",
            "Give the `next_cursor` of the page before, as it was sent.",
        )
    };
    let bytes: [u8; 8] = hex::decode(raw)
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(invalid)?;
    Some(i64::from_be_bytes(bytes))
        .filter(|seq| *seq > 0)
        .ok_or_else(invalid)
}

/// The filters as parsed.
struct Filters {
    states: Vec<db_keys::Listed>,
    name: Option<String>,
    before: Option<i64>,
    limit: i64,
    environment: Option<Environment>,
}

impl TryFrom<ListQuery> for Filters {
    type Error = ManageError;

    fn try_from(query: ListQuery) -> Result<Self, ManageError> {
        let states = match query.status.as_deref() {
            None => KeyState::ALL.iter().map(|state| state.listed()).collect(),
            Some(raw) => vec![
                KeyState::parse(raw)
                    .ok_or_else(|| {
                        ManageError::invalid(
                            "status",
                            "Choose active, disabled, expired, rotated, retired or revoked.",
                        )
                    })?
                    .listed(),
            ],
        };
        let name = query
            .name
            .map(|name| name.trim().to_owned())
            .filter(|name| !name.is_empty());
        if name
            .as_ref()
            .is_some_and(|name| name.chars().any(char::is_control))
        {
            return Err(ManageError::invalid("name", "Search without control characters."));
        }
        if name
            .as_ref()
            .is_some_and(|name| name.chars().count() > MAX_NAME_CHARS)
        {
            return Err(ManageError::invalid(
                "name",
                "Search with at most 100 characters.",
            ));
        }
        let limit = match query.limit.as_deref() {
            None => DEFAULT_LIMIT,
            Some(raw) => raw
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|limit| (1..=MAX_LIMIT).contains(limit))
                .ok_or_else(|| ManageError::invalid("limit", "Give a whole number from 1 to 100."))?,
        };
        let before = query.cursor.as_deref().map(parse_cursor).transpose()?;
        let environment = query.environment.as_deref().map(environment_field).transpose()?;
        Ok(Self {
            states,
            name,
            before,
            limit,
            environment,
        })
    }
}

/// List keys.
///
/// The merchant's keys, newest first, deleted ones never; narrowed by state, name and
/// environment, a page at a time: pass the page's `next_cursor` as `cursor` for the next one.
#[utoipa::path(
    get,
    path = "/api/v1/keys",
    tag = "Keys",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of keys", body = KeyPage),
        (status = 401, response = openapi::Unauthorized),
        (status = 403, response = openapi::Forbidden),
        (status = 422, response = openapi::Unprocessable),
        (status = 429, response = openapi::TooManyRequests),
        (status = 503, response = openapi::Unavailable),
    ),
    security(("management_token" = ["keys:read"]))
)]
pub async fn list_keys(
    state: web::Data<ManageState>,
    caller: Caller,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ManageError> {
    caller.require(TokenScope::KeysRead)?;
    let filters = Filters::try_from(query.into_inner())?;
    let merchant_id = caller.token.merchant_id.clone();
    let now = state.clock.now();
    let limit = filters.limit;
    let mut rows = state
        .db
        .run(move |conn| {
            let listing = Listing {
                merchant_id: &merchant_id,
                states: &filters.states,
                search: None,
                expiring_by: None,
                now,
                environment: filters.environment,
            };
            let seek = Seek {
                name: filters.name.as_deref(),
                before: filters.before,
                // One more than the page tells whether another page follows.
                limit: limit + 1,
            };
            db_keys::page_by_seq(conn, &listing, seek)
        })
        .await
        .map_err(ManageError::from)?;
    let more = rows.len() > usize::try_from(limit).unwrap_or(usize::MAX);
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next_cursor = more
        .then(|| rows.last().map(|(seq, _)| cursor_of(*seq)))
        .flatten();
    let data = rows.iter().map(|(_, row)| Key::from_row(row, now)).collect();
    Ok(HttpResponse::Ok().json(KeyPage { data, next_cursor }))
}

/// Get a key.
#[utoipa::path(
    get,
    path = "/api/v1/keys/{key_id}",
    tag = "Keys",
    params(("key_id" = String, Path, format = Uuid, description = "The key version's ID")),
    responses(
        (status = 200, description = "The key", body = Key),
        (status = 401, response = openapi::Unauthorized),
        (status = 403, response = openapi::Forbidden),
        (status = 404, response = openapi::NotFound),
        (status = 429, response = openapi::TooManyRequests),
        (status = 503, response = openapi::Unavailable),
    ),
    security(("management_token" = ["keys:read"]))
)]
pub async fn get_key(
    state: web::Data<ManageState>,
    caller: Caller,
    key_id: web::Path<KeyId>,
) -> Result<HttpResponse, ManageError> {
    caller.require(TokenScope::KeysRead)?;
    let row = find_key(&state, &caller, key_id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(Key::from_row(&row, state.clock.now())))
}

/// A key's verifications over the last 24 hours.
#[derive(Debug, Serialize, ToSchema)]
pub struct Usage {
    /// The key version.
    #[schema(format = Uuid)]
    pub key_id: String,
    /// Accepted requests in the 24 hours.
    pub succeeded: i64,
    /// Refused requests in the 24 hours.
    pub failed: i64,
    /// The 24 hours, oldest first, the last one holding now.
    pub hours: Vec<HourlyUsage>,
}

/// One hour's verifications.
#[derive(Debug, Serialize, ToSchema)]
pub struct HourlyUsage {
    /// The hour's start.
    pub hour: String,
    /// Accepted requests.
    pub succeeded: i64,
    /// Refused requests.
    pub failed: i64,
}

/// Get a key's usage.
///
/// Successful and failed verifications per hour over the last 24 hours, as the key's
/// page charts them.
#[utoipa::path(
    get,
    path = "/api/v1/keys/{key_id}/usage",
    tag = "Keys",
    params(("key_id" = String, Path, format = Uuid, description = "The key version's ID")),
    responses(
        (status = 200, description = "The key's last 24 hours", body = Usage),
        (status = 401, response = openapi::Unauthorized),
        (status = 403, response = openapi::Forbidden),
        (status = 404, response = openapi::NotFound),
        (status = 429, response = openapi::TooManyRequests),
        (status = 503, response = openapi::Unavailable),
    ),
    security(("management_token" = ["keys:read"]))
)]
pub async fn key_usage(
    state: web::Data<ManageState>,
    caller: Caller,
    key_id: web::Path<KeyId>,
) -> Result<HttpResponse, ManageError> {
    caller.require(TokenScope::KeysRead)?;
    let row = find_key(&state, &caller, key_id.into_inner()).await?;
    let now = state.clock.now();
    let id = row.id.clone();
    let counted = state
        .db
        .run(move |conn| db_usage::hourly(conn, id.as_str(), usage::day_start(now)))
        .await
        .map_err(ManageError::from)?;
    let hours: Vec<HourlyUsage> = usage::last_day(now, &counted)
        .into_iter()
        .map(|(hour, succeeded, failed)| HourlyUsage {
            hour: rfc3339(hour),
            succeeded,
            failed,
        })
        .collect();
    Ok(HttpResponse::Ok().json(Usage {
        key_id: row.id.to_string(),
        succeeded: hours.iter().map(|hour| hour.succeeded).sum(),
        failed: hours.iter().map(|hour| hour.failed).sum(),
        hours,
    }))
}

/// A key's history.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EventList {
    /// The events, oldest first.
    pub data: Vec<Event>,
}

/// Get a key's history.
///
/// Every event of this key version, oldest first: what the key's page shows.
#[utoipa::path(
    get,
    path = "/api/v1/keys/{key_id}/history",
    tag = "Keys",
    params(("key_id" = String, Path, format = Uuid, description = "The key version's ID")),
    responses(
        (status = 200, description = "The key's events", body = EventList),
        (status = 401, response = openapi::Unauthorized),
        (status = 403, response = openapi::Forbidden),
        (status = 404, response = openapi::NotFound),
        (status = 429, response = openapi::TooManyRequests),
        (status = 503, response = openapi::Unavailable),
    ),
    security(("management_token" = ["keys:read"]))
)]
pub async fn key_history(
    state: web::Data<ManageState>,
    caller: Caller,
    key_id: web::Path<KeyId>,
) -> Result<HttpResponse, ManageError> {
    caller.require(TokenScope::KeysRead)?;
    let row = find_key(&state, &caller, key_id.into_inner()).await?;
    let merchant_id = caller.token.merchant_id.clone();
    let events = state
        .db
        .run(move |conn| -> Result<_, DbError> { key_events::for_key(conn, &merchant_id, &row.id) })
        .await
        .map_err(ManageError::from)?;
    let data = events.iter().map(Event::from_row).collect();
    Ok(HttpResponse::Ok().json(EventList { data }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_read_back_as_the_position_they_were_made_from() {
        for seq in [1, 42, i64::MAX] {
            assert_eq!(parse_cursor(&cursor_of(seq)).unwrap(), seq);
        }
        for bad in [
            "",
            "zz",
            "00",
            &cursor_of(0),
            &cursor_of(-5),
            "0000000000000001ff",
        ] {
            assert!(
                matches!(parse_cursor(bad), Err(ManageError::Invalid { field: Some(ref f), .. }) if f == "cursor"),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn bad_filters_are_refused_by_name() {
        let field = |query: ListQuery| match Filters::try_from(query) {
            Err(ManageError::Invalid { field, .. }) => field,
            other => panic!("{:?}", other.map(|filters| filters.limit)),
        };
        let status = |raw: &str| ListQuery {
            status: Some(raw.to_owned()),
            ..ListQuery::default()
        };
        assert_eq!(field(status("deleted")).as_deref(), Some("status"));
        let with_nul = ListQuery {
            name: Some("a\u{0}b".to_owned()),
            ..ListQuery::default()
        };
        assert_eq!(
            field(with_nul).as_deref(),
            Some("name"),
            "Postgres text holds no NUL"
        );
        for limit in ["0", "101", "ten"] {
            let query = ListQuery {
                limit: Some(limit.to_owned()),
                ..ListQuery::default()
            };
            assert_eq!(field(query).as_deref(), Some("limit"), "{limit}");
        }
        let filters = Filters::try_from(status("rotated")).unwrap();
        assert_eq!(filters.states, [db_keys::Listed::InGrace]);
        assert_eq!(filters.limit, DEFAULT_LIMIT);
        let all = Filters::try_from(ListQuery::default()).unwrap();
        assert_eq!(all.states.len(), KeyState::ALL.len());
    }
}
