//! Settings → Request Log: paste a request ID, or search the merchant's request log by
//! key, time, client address or outcome, and read why each request was answered as it
//! was and what to do next. Read only, for every member and for support staff in the
//! merchant they opened; every read names the merchant being looked at.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use time::macros::format_description;
use time::{Date, PrimitiveDateTime, Time};

use crate::db::key_requests::{self, LogCursor, RequestRow, RequestSearch};
use crate::db::{DbError, keys as key_rows};
use crate::domain::diagnosis::{self, Diagnosis, KeyPattern, OUTCOMES};
use crate::domain::{ApiKey, KeyId};
use crate::service::diagnosis as explain;
use crate::web::current_user::CurrentUser;
use crate::web::error::WebError;
use crate::web::format;
use crate::web::forms::Query;
use crate::web::paths;
use crate::web::respond::{render, see_other};
use crate::web::shell::{Area, Shell};
use crate::web::state::AppState;

/// Rows per page.
const PAGE_SIZE: i64 = 50;

/// A user agent longer than this is shortened in tables (whole in its title).
const SHORT_AGENT: usize = 40;

/// A request log row as the tables show it.
pub struct RequestView {
    /// The row's last request, as shown.
    pub when: String,
    /// The same, for `<time datetime>`.
    pub when_iso: String,
    /// Accepted, or the error code.
    pub outcome: String,
    /// The stored outcome (`accepted`, `key_revoked`…), for styling.
    pub code: String,
    /// How many requests the row stands for.
    pub count: i64,
    /// The client address.
    pub client_address: String,
    /// The user agent, shortened.
    pub agent_short: String,
    /// The whole user agent.
    pub agent: String,
    /// `GET /orders` for forward-auth; empty otherwise.
    pub request: String,
    /// The refused request's ID; empty for accepted rows.
    pub request_id: String,
    /// The key version presented, if it matched one.
    pub key_id: Option<String>,
    /// The key as presented, masked.
    pub presented_key: String,
}

impl RequestView {
    /// The row as shown.
    pub fn of(row: &RequestRow) -> Self {
        let agent_short = if row.user_agent.chars().count() > SHORT_AGENT {
            let cut: String = row.user_agent.chars().take(SHORT_AGENT - 1).collect();
            format!("{cut}\u{2026}")
        } else {
            row.user_agent.clone()
        };
        Self {
            when: format::datetime(row.last_at),
            when_iso: format::iso(row.last_at),
            outcome: diagnosis::outcome_label(&row.outcome).to_owned(),
            code: row.outcome.clone(),
            count: row.count,
            client_address: row.client_address.clone(),
            agent_short,
            agent: row.user_agent.clone(),
            request: format!("{} {}", row.method, row.path).trim().to_owned(),
            request_id: row.request_id.clone(),
            key_id: row.key_id.clone(),
            presented_key: row.presented_key.clone(),
        }
    }
}

/// An option of the outcome filter.
pub struct OutcomeChoice {
    /// The value sent.
    pub value: &'static str,
    /// What the list shows.
    pub label: &'static str,
    /// Chosen now.
    pub selected: bool,
}

/// The outcome filter's options, `typed` chosen.
pub fn outcome_choices(typed: &str) -> Vec<OutcomeChoice> {
    OUTCOMES
        .iter()
        .map(|outcome| OutcomeChoice {
            value: outcome,
            label: diagnosis::outcome_label(outcome),
            selected: *outcome == typed,
        })
        .collect()
}

/// The outcome typed into a filter: `None` for all, else one of [`OUTCOMES`].
pub fn parse_outcome(raw: &str) -> Result<Option<String>, String> {
    match raw.trim() {
        "" => Ok(None),
        outcome if OUTCOMES.contains(&outcome) => Ok(Some(outcome.to_owned())),
        _ => Err("Outcome must be one of the listed outcomes.".to_owned()),
    }
}

/// A row with its explanation.
pub struct Explained {
    /// The row.
    pub row: RequestView,
    /// Why, and what to do next.
    pub diagnosis: Diagnosis,
    /// The key it presented, as the page names it.
    pub key_label: String,
}

/// The Request Log's query string as sent.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct LogQuery {
    request_id: String,
    key: String,
    from: String,
    to: String,
    address: String,
    outcome: String,
    after: String,
}

#[derive(Template)]
#[template(path = "settings/request_log.html")]
struct RequestLogPage {
    shell: Shell,
    error: Option<String>,
    request_id: String,
    key: String,
    from: String,
    to: String,
    address: String,
    outcomes: Vec<OutcomeChoice>,
    /// The pasted request, explained.
    found: Option<Explained>,
    /// A pasted request ID this merchant's log does not hold.
    not_found: bool,
    results: Vec<Explained>,
    searched: bool,
    older: Option<String>,
}

impl RequestLogPage {
    fn form(user: &CurrentUser, query: &LogQuery) -> Self {
        Self {
            shell: Shell::new(user, Area::RequestLog),
            error: None,
            request_id: query.request_id.clone(),
            key: query.key.clone(),
            from: query.from.clone(),
            to: query.to.clone(),
            address: query.address.clone(),
            outcomes: outcome_choices(query.outcome.trim()),
            found: None,
            not_found: false,
            results: Vec::new(),
            searched: false,
            older: None,
        }
    }
}

/// A time typed into From or To: `2026-12-02T11:59` (a `datetime-local` field) or a
/// day, in UTC. A day in To means up to its end.
fn moment(raw: &str, field: &str, end_of_day: bool) -> Result<Option<PrimitiveDateTime>, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    if let Ok(at) = PrimitiveDateTime::parse(raw, format_description!("[year]-[month]-[day]T[hour]:[minute]"))
    {
        // The last minute there is has no end to count up to: up to its start will do.
        return Ok(Some(if end_of_day {
            at.checked_add(time::Duration::minutes(1)).unwrap_or(at)
        } else {
            at
        }));
    }
    let day = Date::parse(raw, format_description!("[year]-[month]-[day]"))
        .map_err(|_| format!("{field} must be a time such as 2026-12-02T11:59 (UTC)."))?;
    let day = if end_of_day {
        day.next_day().unwrap_or(day)
    } else {
        day
    };
    Ok(Some(PrimitiveDateTime::new(day, Time::MIDNIGHT)))
}

impl LogQuery {
    /// The search, or what is wrong with it in a sentence.
    fn search(&self) -> Result<RequestSearch, String> {
        let pattern = match self.key.trim() {
            "" => None,
            raw => Some(KeyPattern::parse(raw).ok_or_else(|| {
                "Key must be a masked key such as kw_live_AbCd\u{2026}WxYz, its start, or its last four characters."
                    .to_owned()
            })?),
        };
        let since = moment(&self.from, "From", false)?;
        let before = moment(&self.to, "To", true)?;
        if let (Some(since), Some(before)) = (since, before)
            && since >= before
        {
            return Err("From must be before To.".to_owned());
        }
        let address = match self.address.trim() {
            "" => None,
            raw => Some(
                raw.parse::<std::net::IpAddr>()
                    .map_err(|_| "Client address must be an IP address such as 203.0.113.9.".to_owned())?
                    .to_canonical()
                    .to_string(),
            ),
        };
        Ok(RequestSearch {
            key_head: pattern.as_ref().and_then(|p| p.head.clone()),
            key_tail: pattern.and_then(|p| p.tail),
            since,
            before,
            client_address: address,
            outcome: parse_outcome(&self.outcome)?,
        })
    }

    /// This search's address with `after` as the page's cursor.
    fn href(&self, after: &str) -> String {
        let pairs: Vec<(&str, &str)> = [
            ("key", self.key.as_str()),
            ("from", self.from.as_str()),
            ("to", self.to.as_str()),
            ("address", self.address.as_str()),
            ("outcome", self.outcome.as_str()),
            ("after", after),
        ]
        .into_iter()
        .filter(|(_, value)| !value.is_empty())
        .collect();
        format!(
            "{}?{}",
            paths::REQUEST_LOG,
            serde_urlencoded::to_string(&pairs).unwrap_or_default()
        )
    }
}

/// Each row explained, with the name of the key it presented.
async fn explained(state: &AppState, rows: Vec<RequestRow>) -> Result<Vec<Explained>, WebError> {
    let now = state.clock.now();
    let Some(merchant_id) = rows.first().map(|row| row.merchant_id.clone()) else {
        return Ok(Vec::new());
    };
    let (rows, diagnoses, labels) = state
        .db
        .run(move |conn| -> Result<_, DbError> {
            let diagnoses = explain::explain_all(conn, &rows, now)?;
            let labels = key_rows::labels(conn, &merchant_id)?;
            Ok((rows, diagnoses, labels))
        })
        .await?;
    Ok(rows
        .iter()
        .zip(diagnoses)
        .map(|(row, diagnosis)| {
            let key_label = row
                .key_id
                .as_ref()
                .and_then(|id| labels.iter().find(|label| &label.id == id))
                .map_or_else(
                    || row.presented_key.clone(),
                    |label| format!("{} v{} ({})", label.name, label.version, label.masked_key),
                );
            Explained {
                row: RequestView::of(row),
                diagnosis,
                key_label,
            }
        })
        .collect())
}

/// `GET /settings/request-log`: with `request_id`, that request explained; otherwise the
/// merchant's log, newest first, searched by `key`, `from`, `to`, `address` and
/// `outcome`, a page at a time (`after`).
pub async fn page(
    user: CurrentUser,
    state: web::Data<AppState>,
    Query(query): Query<LogQuery>,
) -> Result<HttpResponse, WebError> {
    let merchant_id = user.merchant()?.merchant_id.clone();
    // A whole key typed into the search leaves the address at once, as its mask; one
    // pasted into another field by mistake too, so no page echoes it back.
    if let Some(key) = ApiKey::find_in(&query.key) {
        let masked = LogQuery {
            key: key.masked(),
            ..query
        };
        return Ok(see_other(&masked.href("")));
    }
    let fields = [
        &query.request_id,
        &query.from,
        &query.to,
        &query.address,
        &query.outcome,
    ];
    if fields.iter().any(|field| ApiKey::find_in(field).is_some()) {
        let masked = LogQuery {
            from: ApiKey::mask_in(&query.from),
            to: ApiKey::mask_in(&query.to),
            address: ApiKey::mask_in(&query.address),
            outcome: ApiKey::mask_in(&query.outcome),
            ..query
        };
        let request_id = ApiKey::mask_in(&masked.request_id);
        let href = masked.href("");
        if request_id.is_empty() {
            return Ok(see_other(&href));
        }
        let pasted = serde_urlencoded::to_string([("request_id", request_id.as_str())]).unwrap_or_default();
        let joiner = if href.ends_with('?') { "" } else { "&" };
        return Ok(see_other(&format!("{href}{joiner}{pasted}")));
    }
    let mut page = RequestLogPage::form(&user, &query);
    if !query.request_id.trim().is_empty() {
        let Some(request_id) = diagnosis::request_id(&query.request_id) else {
            page.error = Some("Request ID must be the 32 characters of an X-Request-Id header.".to_owned());
            return render(StatusCode::UNPROCESSABLE_ENTITY, &page);
        };
        let row = state
            .db
            .run(move |conn| key_requests::find_by_request_id(conn, &merchant_id, &request_id))
            .await?;
        let Some(row) = row else {
            page.not_found = true;
            return render(StatusCode::NOT_FOUND, &page);
        };
        page.found = explained(&state, vec![row]).await?.pop();
        return render(StatusCode::OK, &page);
    }
    let search = match query.search() {
        Ok(search) => search,
        Err(message) => {
            page.error = Some(message);
            return render(StatusCode::UNPROCESSABLE_ENTITY, &page);
        }
    };
    let after = match query.after.trim() {
        "" => None,
        raw => Some(LogCursor::parse(raw).ok_or(WebError::BadRequest(
            "The page link could not be read. Go back to the first page and try again.",
        ))?),
    };
    page.searched = search != RequestSearch::default();
    let rows = state
        .db
        .run(move |conn| key_requests::search(conn, &merchant_id, &search, after.as_ref(), PAGE_SIZE + 1))
        .await?;
    page.older = more(&rows).map(|cursor| query.href(&cursor));
    page.results = explained(&state, rows.into_iter().take(page_len()).collect()).await?;
    render(StatusCode::OK, &page)
}

fn page_len() -> usize {
    usize::try_from(PAGE_SIZE).unwrap_or(usize::MAX)
}

/// The cursor to the next page when `rows` (one more than a page was asked for) has one.
pub fn more(rows: &[RequestRow]) -> Option<String> {
    (rows.len() > page_len()).then(|| LogCursor::after(&rows[page_len() - 1]).to_param())
}

/// The link to the Request Log explaining the request `request_id`.
pub fn explain_href(request_id: &str) -> String {
    let query = serde_urlencoded::to_string([("request_id", request_id)]).unwrap_or_default();
    format!("{}?{query}", paths::REQUEST_LOG)
}

/// Whether `key_id` is a key ID (for links from the log to a key's page).
pub fn key_href(key_id: &str) -> Option<String> {
    KeyId::parse(key_id).ok().map(paths::key)
}
