//! The audit log: every event of a merchant's keys, policy and members, filtered,
//! paginated, and downloadable as CSV.

use std::collections::HashMap;

use crate::web::forms::Query;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, web};
use askama::Template;
use time::macros::format_description;
use time::{Date, PrimitiveDateTime, Time};

use crate::db::key_events::{self, ActorFilter, AuditFilter, EventType};
use crate::db::keys::{self as key_rows, KeyLabel};
use crate::db::{DbConnection, DbError};
use crate::domain::{ActorKind, EventId, KeyId, MerchantId, TokenId, UserId, is_bidi_control};
use crate::web::current_user::CurrentUser;
use crate::web::error::WebError;
use crate::web::escape::BIDI_REPLACEMENT;
use crate::web::history::{self, EventView};
use crate::web::paths;
use crate::web::respond::render;
use crate::web::shell::{Area, Shell};
use crate::web::state::AppState;

/// Events per page.
const PAGE_SIZE: i64 = 50;

/// The filter as typed, kept to fill the form and the links back in.
#[derive(Debug, Clone, Default)]
struct Typed {
    key: String,
    actor: String,
    event_type: String,
    from: String,
    to: String,
}

/// The Audit Log's query string as sent: the filter, the page and the format.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct AuditQuery {
    key: String,
    actor: String,
    #[serde(rename = "type")]
    event_type: String,
    from: String,
    to: String,
    page: String,
    format: String,
}

impl AuditQuery {
    /// The filter as typed, the page as typed, and whether CSV was asked for.
    fn split(self) -> (Typed, String, bool) {
        let typed = Typed {
            key: self.key,
            actor: self.actor,
            event_type: self.event_type,
            from: self.from,
            to: self.to,
        };
        (typed, self.page, self.format == "csv")
    }
}

impl Typed {
    /// The filter, or what is wrong with it, in a sentence.
    fn parse(&self) -> Result<AuditFilter, String> {
        let key_id = match self.key.trim() {
            "" => None,
            key => Some(KeyId::parse(key).map_err(|_| "Key must be a key ID.".to_owned())?),
        };
        let actor = match self.actor.trim() {
            "" => None,
            "cli" => Some(ActorFilter::Kind(ActorKind::Cli)),
            "system" => Some(ActorFilter::Kind(ActorKind::System)),
            other => {
                let unknown = |_| "Actor must be someone from the list.".to_owned();
                Some(match other.strip_prefix(TOKEN_ACTOR) {
                    Some(token) => ActorFilter::Token(TokenId::parse(token).map_err(unknown)?),
                    None => ActorFilter::User(UserId::parse(other).map_err(unknown)?),
                })
            }
        };
        let event_type = match self.event_type.trim() {
            "" => None,
            raw => Some(
                raw.parse::<EventType>()
                    .map_err(|()| "Event must be one of the listed events.".to_owned())?,
            ),
        };
        let since = day(&self.from, "From")?;
        let until = day(&self.to, "To")?;
        if let (Some(since), Some(until)) = (since, until)
            && since > until
        {
            return Err("From must be on or before To.".to_owned());
        }
        Ok(AuditFilter {
            key_id,
            actor,
            event_type,
            since: since.map(|date| PrimitiveDateTime::new(date, Time::MIDNIGHT)),
            before: until
                .and_then(Date::next_day)
                .map(|date| PrimitiveDateTime::new(date, Time::MIDNIGHT)),
        })
    }

    /// The query string of this filter, with `extra` appended.
    fn href(&self, extra: &[(&str, &str)]) -> String {
        let mut pairs: Vec<(&str, &str)> = [
            ("key", self.key.as_str()),
            ("actor", self.actor.as_str()),
            ("type", self.event_type.as_str()),
            ("from", self.from.as_str()),
            ("to", self.to.as_str()),
        ]
        .into_iter()
        .filter(|(_, value)| !value.is_empty())
        .collect();
        pairs.extend_from_slice(extra);
        let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
        if query.is_empty() {
            LOG.to_owned()
        } else {
            format!("{LOG}?{query}")
        }
    }
}

const LOG: &str = paths::AUDIT_LOG;

/// How the actor filter names a management token: `token:<token ID>`, apart from people,
/// who are named by their user ID alone.
const TOKEN_ACTOR: &str = "token:";

fn day(raw: &str, field: &str) -> Result<Option<Date>, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    Date::parse(raw, format_description!("[year]-[month]-[day]"))
        .map(Some)
        .map_err(|_| format!("{field} must be a date such as 2026-11-03."))
}

/// An option of a filter's select.
pub struct Choice {
    /// The value sent.
    pub value: String,
    /// What the list shows.
    pub label: String,
    /// Chosen now.
    pub selected: bool,
}

/// A link to another page of results.
pub struct PageLink {
    /// Where it goes.
    pub href: String,
    /// Its page number.
    pub number: i64,
}

#[derive(Template)]
#[template(path = "settings/audit_log.html")]
struct AuditLogPage {
    shell: Shell,
    error: Option<String>,
    from: String,
    to: String,
    keys: Vec<Choice>,
    actors: Vec<Choice>,
    types: Vec<Choice>,
    events: Vec<EventView>,
    total: i64,
    page: i64,
    pages: i64,
    newer: Option<PageLink>,
    older: Option<PageLink>,
    csv_href: String,
    filtered: bool,
}

/// What the page needs besides the events.
struct Lists {
    keys: Vec<KeyLabel>,
    actors: Vec<(String, Option<String>, String)>,
}

fn lists(conn: &mut DbConnection, merchant_id: &MerchantId) -> Result<Lists, DbError> {
    Ok(Lists {
        keys: key_rows::labels(conn, merchant_id)?,
        actors: key_events::actors(conn, merchant_id)?,
    })
}

/// `GET /settings/audit-log` (filters `key`, `actor`, `type`, `from`, `to`; `page`;
/// `format=csv` downloads every event of the same filter).
pub async fn log(
    user: CurrentUser,
    state: web::Data<AppState>,
    Query(query): Query<AuditQuery>,
) -> Result<HttpResponse, WebError> {
    let merchant = user.merchant()?.clone();
    let (typed, page, csv) = query.split();
    let filter = typed.parse();
    let requested_page = page.trim().parse::<i64>().ok().filter(|page| *page >= 1);
    if !page.trim().is_empty() && requested_page.is_none() {
        return page_with_error(
            &user,
            &state,
            &typed,
            "Page must be a whole number from 1.".to_owned(),
        )
        .await;
    }
    let filter = match filter {
        Ok(filter) => filter,
        Err(message) => return page_with_error(&user, &state, &typed, message).await,
    };
    let merchant_id = merchant.merchant_id.clone();
    let wanted = filter.clone();
    let (lists, total) = state
        .db
        .run(move |conn| -> Result<_, DbError> {
            Ok((
                lists(conn, &merchant_id)?,
                key_events::count(conn, &merchant_id, &wanted)?,
            ))
        })
        .await?;
    if let Some(key_id) = &filter.key_id
        && !lists.keys.iter().any(|key| key_id == &key.id)
    {
        return Err(WebError::NotFound);
    }
    let labels: HashMap<String, KeyLabel> = lists
        .keys
        .iter()
        .map(|key| (key.id.clone(), key.clone()))
        .collect();
    if csv {
        let merchant_id = merchant.merchant_id.clone();
        let rows = state
            .db
            .run(move |conn| key_events::page(conn, &merchant_id, &filter, 0, i64::MAX))
            .await?;
        let views: Vec<EventView> = rows.iter().map(|event| history::view(event, &labels)).collect();
        return Ok(HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .insert_header((
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"keyward-audit-log.csv\"",
            ))
            .body(csv_of(&views)));
    }
    let pages = ((total + PAGE_SIZE - 1) / PAGE_SIZE).max(1);
    let page = requested_page.unwrap_or(1).min(pages);
    let merchant_id = merchant.merchant_id.clone();
    let wanted = filter.clone();
    let rows = state
        .db
        .run(move |conn| key_events::page(conn, &merchant_id, &wanted, (page - 1) * PAGE_SIZE, PAGE_SIZE))
        .await?;
    let link = |number: i64| PageLink {
        href: typed.href(&[("page", &number.to_string())]),
        number,
    };
    render(
        StatusCode::OK,
        &AuditLogPage {
            events: rows.iter().map(|event| history::view(event, &labels)).collect(),
            total,
            page,
            pages,
            newer: (page > 1).then(|| link(page - 1)),
            older: (page < pages).then(|| link(page + 1)),
            csv_href: typed.href(&[("format", "csv")]),
            filtered: filter != AuditFilter::default(),
            ..AuditLogPage::filter_only(&user, &typed, &lists, None)
        },
    )
}

/// The page with the filter as typed and why it was refused: 422, no events.
async fn page_with_error(
    user: &CurrentUser,
    state: &AppState,
    typed: &Typed,
    message: String,
) -> Result<HttpResponse, WebError> {
    let merchant_id = user.merchant()?.merchant_id.clone();
    let lists = state.db.run(move |conn| lists(conn, &merchant_id)).await?;
    render(
        StatusCode::UNPROCESSABLE_ENTITY,
        &AuditLogPage::filter_only(user, typed, &lists, Some(message)),
    )
}

impl AuditLogPage {
    /// The filter form as typed, with no results yet.
    fn filter_only(user: &CurrentUser, typed: &Typed, lists: &Lists, error: Option<String>) -> Self {
        Self {
            shell: Shell::new(user, Area::AuditLog),
            error,
            from: typed.from.clone(),
            to: typed.to.clone(),
            keys: key_choices(&lists.keys, &typed.key),
            actors: actor_choices(&lists.actors, &typed.actor),
            types: type_choices(&typed.event_type),
            events: Vec::new(),
            total: 0,
            page: 1,
            pages: 1,
            newer: None,
            older: None,
            csv_href: LOG.to_owned(),
            filtered: true,
        }
    }
}

fn key_choices(keys: &[KeyLabel], typed: &str) -> Vec<Choice> {
    keys.iter()
        .map(|key| Choice {
            selected: key.id == typed.trim(),
            value: key.id.clone(),
            label: format!("{} v{} ({})", key.name, key.version, key.masked_key),
        })
        .collect()
}

fn actor_choices(actors: &[(String, Option<String>, String)], typed: &str) -> Vec<Choice> {
    let mut choices: Vec<Choice> = Vec::new();
    for (kind, id, name) in actors {
        let value = match (kind.as_str(), id) {
            ("cli" | "system", _) => kind.clone(),
            ("token", Some(id)) => format!("{TOKEN_ACTOR}{id}"),
            (_, Some(id)) => id.clone(),
            (_, None) => continue,
        };
        let label = history::who(kind, name);
        // A renamed user appears once, under the first of their names in the list.
        if choices.iter().any(|choice| choice.value == value) {
            continue;
        }
        choices.push(Choice {
            selected: value == typed.trim(),
            value,
            label,
        });
    }
    choices
}

fn type_choices(typed: &str) -> Vec<Choice> {
    EventType::ALL
        .iter()
        .map(|event| Choice {
            value: event.as_str().to_owned(),
            label: event.label().to_owned(),
            selected: event.as_str() == typed.trim(),
        })
        .collect()
}

/// One quoted CSV cell: formulas defused, and bidirectional controls shown as the pages
/// show them.
pub(crate) fn csv_field(value: &str) -> String {
    let value = value.replace(is_bidi_control, &BIDI_REPLACEMENT.to_string());
    let defused = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value
    };
    format!("\"{}\"", defused.replace('"', "\"\""))
}

fn csv_of(events: &[EventView]) -> String {
    let mut out = String::from(
        "time,event,event_type,actor,actor_type,key_id,key,client_address,user_agent,summary,details,actor_detail\r\n",
    );
    for event in events {
        let fields = [
            event.when_iso.as_str(),
            event.what.as_str(),
            event.event_type.as_str(),
            event.who.as_str(),
            event.actor_type.as_str(),
            event.key_id.as_deref().unwrap_or(""),
            event.key_label.as_str(),
            event.from.as_str(),
            event.user_agent.as_str(),
            event.summary.as_str(),
            event.details.as_str(),
            event.actor_detail.as_str(),
        ];
        let line: Vec<String> = fields.iter().map(|field| csv_field(field)).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    out
}

#[derive(Template)]
#[template(path = "settings/audit_event.html")]
struct EventPage {
    shell: Shell,
    event: EventView,
    details: String,
}

/// `GET /settings/audit-log/{event_id}`: one event with all it recorded.
pub async fn event(
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<EventId>,
) -> Result<HttpResponse, WebError> {
    let merchant_id = user.merchant()?.merchant_id.clone();
    let event_id = path.into_inner();
    let (event, keys) = state
        .db
        .run(move |conn| -> Result<_, DbError> {
            Ok((
                key_events::find(conn, &merchant_id, &event_id)?,
                key_rows::labels(conn, &merchant_id)?,
            ))
        })
        .await?;
    let event = event.ok_or(WebError::NotFound)?;
    let labels: HashMap<String, KeyLabel> = keys.into_iter().map(|key| (key.id.clone(), key)).collect();
    let details = serde_json::from_str::<serde_json::Value>(&event.details)
        .and_then(|value| serde_json::to_string_pretty(&value))
        .unwrap_or_else(|_| event.details.clone());
    render(
        StatusCode::OK,
        &EventPage {
            shell: Shell::new(&user, Area::AuditLog),
            event: history::view(&event, &labels),
            details,
        },
    )
}

#[cfg(test)]
mod tests;
