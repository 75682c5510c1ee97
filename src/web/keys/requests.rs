//! A key's request log on its page: recent verifications, newest first, filtered by
//! outcome a page at a time, and the whole log as CSV.

use actix_web::http::header;
use actix_web::{HttpResponse, web};

use super::shared::any_key_of;
use crate::db::key_requests::{self, LogCursor, RequestRow};
use crate::domain::KeyId;
use crate::web::audit::csv_field;
use crate::web::current_user::CurrentUser;
use crate::web::diagnose::{self, OutcomeChoice, RequestView};
use crate::web::error::WebError;
use crate::web::forms::Query;
use crate::web::paths;
use crate::web::state::AppState;

/// Rows on the key page at a time.
const PAGE_SIZE: i64 = 50;

/// The most rows one CSV holds: more than a week of refusals at the per-minute cap.
const CSV_ROWS: i64 = 100_000;

/// The key page's query string: the log's outcome filter and page.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct KeyLogQuery {
    outcome: String,
    after: String,
}

/// The log section of a key's page.
pub struct KeyLog {
    /// The page's rows, newest first.
    pub rows: Vec<RequestView>,
    /// The outcome filter's options.
    pub outcomes: Vec<OutcomeChoice>,
    /// Filtered by outcome.
    pub filtered: bool,
    /// The next (older) page.
    pub older: Option<String>,
    /// The CSV of the same filter.
    pub csv_href: String,
    /// The key page's own address, where the filter is sent.
    pub action: String,
}

impl KeyLogQuery {
    /// The outcome filter, or a 400 naming what is wrong.
    fn outcome(&self) -> Result<Option<String>, WebError> {
        diagnose::parse_outcome(&self.outcome)
            .map_err(|_| WebError::BadRequest("Outcome must be one of the listed outcomes."))
    }

    fn after(&self) -> Result<Option<LogCursor>, WebError> {
        match self.after.trim() {
            "" => Ok(None),
            raw => LogCursor::parse(raw).map(Some).ok_or(WebError::BadRequest(
                "The page link could not be read. Go back to the first page and try again.",
            )),
        }
    }

    fn with(&self, base: String, after: &str) -> String {
        let pairs: Vec<(&str, &str)> = [("outcome", self.outcome.trim()), ("after", after)]
            .into_iter()
            .filter(|(_, value)| !value.is_empty())
            .collect();
        match serde_urlencoded::to_string(&pairs).unwrap_or_default() {
            query if query.is_empty() => base,
            query => format!("{base}?{query}"),
        }
    }
}

/// The log section of `key`'s page (its rows read within the key's merchant).
pub(super) async fn key_log(
    state: &AppState,
    key: &crate::db::keys::KeyRow,
    query: &KeyLogQuery,
) -> Result<KeyLog, WebError> {
    let outcome = query.outcome()?;
    let after = query.after()?;
    let (merchant_id, key_id) = (key.merchant_id.clone(), key.id.clone());
    let rows = state
        .db
        .run(move |conn| {
            key_requests::for_key(
                conn,
                &merchant_id,
                &key_id,
                outcome.as_deref(),
                after.as_ref(),
                PAGE_SIZE + 1,
            )
        })
        .await?;
    let older = diagnose::more(&rows).map(|cursor| query.with(paths::key(&key.id), &cursor));
    Ok(KeyLog {
        rows: rows
            .iter()
            .take(usize::try_from(PAGE_SIZE).unwrap_or(usize::MAX))
            .map(RequestView::of)
            .collect(),
        outcomes: diagnose::outcome_choices(query.outcome.trim()),
        filtered: !query.outcome.trim().is_empty(),
        older,
        csv_href: query.with(paths::key_requests_csv(&key.id), ""),
        action: paths::key(&key.id),
    })
}

/// `GET /settings/api-credentials/{key_id}/requests.csv` (`outcome` as on the page):
/// every row of the key's log, newest first, as an attachment.
pub async fn requests_csv(
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<KeyId>,
    Query(query): Query<KeyLogQuery>,
) -> Result<HttpResponse, WebError> {
    let merchant_id = user.merchant()?.merchant_id.clone();
    let key = any_key_of(&state, &merchant_id, &path).await?;
    let outcome = query.outcome()?;
    let key_id = key.id.clone();
    let rows = state
        .db
        .run(move |conn| {
            key_requests::for_key(conn, &merchant_id, &key_id, outcome.as_deref(), None, CSV_ROWS)
        })
        .await?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"keyward-requests-{}.csv\"", key.id),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(csv_of(&rows)))
}

fn csv_of(rows: &[RequestRow]) -> String {
    let mut out = String::from(
        "first_at,last_at,outcome,count,client_address,user_agent,method,path,request_id,key_id,presented_key,detail\r\n",
    );
    for row in rows {
        let (first, last, count) = (
            crate::web::format::iso(row.first_at),
            crate::web::format::iso(row.last_at),
            row.count.to_string(),
        );
        let fields = [
            first.as_str(),
            last.as_str(),
            row.outcome.as_str(),
            count.as_str(),
            row.client_address.as_str(),
            row.user_agent.as_str(),
            row.method.as_str(),
            row.path.as_str(),
            row.request_id.as_str(),
            row.key_id.as_deref().unwrap_or(""),
            row.presented_key.as_str(),
            row.detail.as_str(),
        ];
        let line: Vec<String> = fields.iter().map(|field| csv_field(field)).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    out
}
