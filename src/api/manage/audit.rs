//! `/api/v1/audit-log`: the merchant's history, newest first, filtered as the
//! dashboard's Audit Log filters it, read a page at a time with an opaque cursor.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};
use utoipa::openapi::schema::Object;
use utoipa::{IntoParams, ToSchema};

use super::ManageState;
use super::auth::Caller;
use super::error::ManageError;
use super::events::Event;
use crate::db::key_events::{self, ActorFilter, AuditFilter, EventPosition, EventType};
use crate::db::keys as db_keys;
use crate::domain::{ActorKind, EventId, KeyId, TokenId, TokenScope, UserId};

/// Events a page holds unless `limit` says otherwise.
const DEFAULT_LIMIT: i64 = 50;
/// The most events a page may hold.
const MAX_LIMIT: i64 = 100;

/// Registers the Audit Log route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/audit-log").route(web::get().to(list_events)));
}

/// A page of events, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventPage {
    /// The events.
    pub data: Vec<Event>,
    /// Pass it as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

fn event_types() -> Object {
    super::openapi::string_enum(EventType::ALL.iter().map(|event| event.as_str()))
}

fn actor_kinds() -> Object {
    super::openapi::string_enum(ActorKind::ALL.map(ActorKind::as_str))
}

/// The Audit Log's query string, as sent: every value is read by the handler, so that a
/// wrong one is refused naming its parameter.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default, deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Events of this key only.
    #[param(value_type = Option<String>, format = Uuid)]
    key_id: Option<String>,
    /// Events by this kind of actor only.
    #[param(schema_with = actor_kinds)]
    actor_type: Option<String>,
    /// Events by this member (a `user_id` from `/api/v1/members`), or by this management
    /// token (`token:<token ID>`, as the dashboard's filter names it) only; not with
    /// `actor_type`.
    #[param(value_type = Option<String>)]
    actor_id: Option<String>,
    /// Events of this type only.
    #[param(schema_with = event_types)]
    event_type: Option<String>,
    /// Events at or after this time.
    #[param(value_type = Option<String>, format = DateTime)]
    since: Option<String>,
    /// Events before this time.
    #[param(value_type = Option<String>, format = DateTime)]
    before: Option<String>,
    /// Events per page, 1 to 100 (default 50).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// The previous page's `next_cursor`.
    cursor: Option<String>,
}

/// What the query string asks for, parsed.
#[derive(Debug)]
struct AuditRequest {
    filter: AuditFilter,
    after: Option<EventPosition>,
    limit: i64,
}

impl TryFrom<AuditQuery> for AuditRequest {
    type Error = ManageError;

    fn try_from(query: AuditQuery) -> Result<Self, ManageError> {
        let key_id = query
            .key_id
            .map(|raw| {
                KeyId::parse(&raw).map_err(|_| ManageError::invalid("key_id", "key_id must be a key ID."))
            })
            .transpose()?;
        let actor = match (query.actor_type, query.actor_id) {
            (Some(_), Some(_)) => {
                return Err(ManageError::invalid(
                    "actor_id",
                    "Give actor_type or actor_id, not both.",
                ));
            }
            (Some(kind), None) => Some(ActorFilter::Kind(ActorKind::parse(&kind).ok_or_else(|| {
                ManageError::invalid(
                    "actor_type",
                    "actor_type must be user, support, cli, system or token.",
                )
            })?)),
            (None, Some(id)) => Some(actor_by_id(&id)?),
            (None, None) => None,
        };
        let event_type = query
            .event_type
            .map(|raw| {
                raw.parse::<EventType>().map_err(|()| {
                    ManageError::invalid(
                        "event_type",
                        "event_type must be one of the event types listed in the API document.",
                    )
                })
            })
            .transpose()?;
        let since = query.since.map(|raw| time_param(&raw, "since")).transpose()?;
        let before = query.before.map(|raw| time_param(&raw, "before")).transpose()?;
        if let (Some(since), Some(before)) = (since, before)
            && since > before
        {
            return Err(ManageError::invalid(
                "before",
                "before must not be earlier than since.",
            ));
        }
        Ok(Self {
            filter: AuditFilter {
                key_id,
                actor,
                event_type,
                since,
                before,
            },
            after: query.cursor.map(|raw| decode_cursor(&raw)).transpose()?,
            limit: query.limit.map_or(Ok(DEFAULT_LIMIT), |raw| limit_param(&raw))?,
        })
    }
}

/// A member by `user_id`, or a token by `token:<token ID>`.
fn actor_by_id(raw: &str) -> Result<ActorFilter, ManageError> {
    let parsed = match raw.strip_prefix("token:") {
        Some(token) => TokenId::parse(token).map(ActorFilter::Token),
        None => UserId::parse(raw).map(ActorFilter::User),
    };
    parsed.map_err(|_| {
        ManageError::invalid(
            "actor_id",
            "actor_id must be a member's user_id, or token:<token ID> for a management token.",
        )
    })
}

/// An RFC 3339 time, in UTC.
fn time_param(raw: &str, field: &str) -> Result<PrimitiveDateTime, ManageError> {
    let invalid = || {
        ManageError::invalid(
            field,
            format!("{field} must be an RFC 3339 time such as 2026-11-03T14:02:00Z."),
        )
    };
    let at = OffsetDateTime::parse(raw, &Rfc3339).map_err(|_| invalid())?;
    let utc = at.checked_to_offset(UtcOffset::UTC).ok_or_else(invalid)?;
    Ok(PrimitiveDateTime::new(utc.date(), utc.time()))
}

fn limit_param(raw: &str) -> Result<i64, ManageError> {
    raw.parse::<i64>()
        .ok()
        .filter(|limit| (1..=MAX_LIMIT).contains(limit))
        .ok_or_else(|| ManageError::invalid("limit", "limit must be a whole number from 1 to 100."))
}

/// The cursor a client holds: the last event's position, as `<nanoseconds since the
/// epoch>.<event ID>` in hex, so that nobody mistakes it for something to build by hand.
fn encode_cursor(position: &EventPosition) -> String {
    let nanos = position.created_at.assume_utc().unix_timestamp_nanos();
    hex::encode(format!("{nanos}.{}", position.id))
}

fn decode_cursor(raw: &str) -> Result<EventPosition, ManageError> {
    let invalid = || ManageError::invalid("cursor", "cursor must be a next_cursor this endpoint returned.");
    let text = hex::decode(raw)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(invalid)?;
    let (nanos, id) = text.split_once('.').ok_or_else(invalid)?;
    let at = nanos
        .parse::<i128>()
        .ok()
        .and_then(|nanos| OffsetDateTime::from_unix_timestamp_nanos(nanos).ok())
        // Years both databases store; a cursor this endpoint made is always among them.
        .filter(|at| (1..=9999).contains(&at.year()))
        .ok_or_else(invalid)?;
    Ok(EventPosition {
        created_at: PrimitiveDateTime::new(at.date(), at.time()),
        id: EventId::parse(id).map_err(|_| invalid())?,
    })
}

/// List the Audit Log.
///
/// The merchant's events, newest first, with the dashboard's filters. Read the next page
/// by passing `next_cursor` back as `cursor` with the same filters.
#[utoipa::path(
    get,
    path = "/api/v1/audit-log",
    tag = "Audit Log",
    params(AuditQuery),
    responses(
        (status = 200, description = "A page of events", body = EventPage),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 404, response = super::openapi::NotFound),
        (status = 422, response = super::openapi::Unprocessable),
        (status = 429, response = super::openapi::TooManyRequests),
    ),
    security(("management_token" = ["audit:read"]))
)]
pub async fn list_events(
    state: web::Data<ManageState>,
    caller: Caller,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, ManageError> {
    caller.require(TokenScope::AuditRead)?;
    let request = AuditRequest::try_from(query.into_inner())?;
    let merchant_id = caller.token.merchant_id.clone();
    let limit = usize::try_from(request.limit).unwrap_or(usize::MAX);
    let mut rows = state
        .db
        .run(move |conn| {
            // A filter naming another merchant's key (or none) is told so, as the
            // dashboard tells it, rather than answered with an empty page.
            if let Some(key_id) = &request.filter.key_id
                && db_keys::merchant_of(conn, key_id)?.as_ref() != Some(&merchant_id)
            {
                return Err(ManageError::NotFound("key"));
            }
            // One row more than asked for tells whether another page follows.
            Ok(key_events::page_after(
                conn,
                &merchant_id,
                &request.filter,
                request.after.as_ref(),
                request.limit + 1,
            )?)
        })
        .await?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next_cursor = more.then(|| rows.last()).flatten().map(|row| {
        encode_cursor(&EventPosition {
            created_at: row.created_at,
            id: row.id.clone(),
        })
    });
    let data = rows.iter().map(Event::from_row).collect();
    Ok(HttpResponse::Ok().json(EventPage { data, next_cursor }))
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn a_cursor_reads_back_the_position_it_was_made_from() {
        let position = EventPosition {
            created_at: datetime!(2026-11-03 14:02:05.123456),
            id: EventId::parse("0190f5a4-7c1e-7d2a-9b3c-4d5e6f708192").unwrap(),
        };
        assert_eq!(decode_cursor(&encode_cursor(&position)).unwrap(), position);
    }

    #[test]
    fn a_made_up_cursor_is_refused_naming_the_parameter() {
        for raw in [
            "",
            "zz",
            "abc",
            &hex::encode("12.not-an-id"),
            &hex::encode("x.0190f5a4-7c1e-7d2a-9b3c-4d5e6f708192"),
            &hex::encode("-377705116800000000000.0190f5a4-7c1e-7d2a-9b3c-4d5e6f708192"),
        ] {
            match decode_cursor(raw) {
                Err(ManageError::Invalid { field, .. }) => {
                    assert_eq!(field.as_deref(), Some("cursor"), "{raw}")
                }
                other => panic!("{raw}: {other:?}"),
            }
        }
    }

    #[test]
    fn times_are_read_in_utc() {
        assert_eq!(
            time_param("2026-11-03T16:02:00+02:00", "since").unwrap(),
            datetime!(2026-11-03 14:02:00)
        );
        assert!(time_param("2026-11-03", "since").is_err());
    }
}
