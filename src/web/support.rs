//! The support console: support staff find a merchant or a key and open its pages,
//! read only. Every change they try is refused and recorded.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use crate::db::key_requests;
use crate::db::keys::{self as key_rows, FoundKey, KeyRow, KeySearch};
use crate::db::memberships::{self, Member};
use crate::db::merchants::{self, Merchant};
use crate::db::{DbError, usage as db_usage};
use crate::domain::diagnosis::request_id;
use crate::domain::{KeyId, MerchantId, SupportQuery};
use crate::web::current_user::CurrentUser;
use crate::web::error::WebError;
use crate::web::format;
use crate::web::forms::Query;
use crate::web::paths;
use crate::web::respond::{render, see_other};
use crate::web::shell::{Area, Shell};
use crate::web::state::AppState;

/// Results shown per kind.
const RESULTS: usize = 50;

fn support_only(user: &CurrentUser) -> Result<(), WebError> {
    if user.is_support() {
        Ok(())
    } else {
        Err(WebError::Forbidden)
    }
}

/// A merchant in the results.
pub struct MerchantResult {
    /// ID.
    pub id: MerchantId,
    /// Name.
    pub name: String,
    /// Created, as shown.
    pub created: String,
}

impl From<Merchant> for MerchantResult {
    fn from(merchant: Merchant) -> Self {
        Self {
            id: merchant.id,
            name: merchant.name,
            created: format::date(merchant.created_at),
        }
    }
}

/// A key in the results.
pub struct KeyResult {
    /// The key and its merchant.
    pub key: FoundKey,
    /// Its state as the dashboard shows it (ACTIVE, EXPIRED, DELETED…).
    pub status: &'static str,
    /// Its last accepted request, relative, or Never.
    pub last_used: String,
    /// Its last refused attempt, relative, with the error code it got (`key_disabled`),
    /// or Never: what a merchant whose integration stopped working is met with.
    pub last_refused: String,
}

/// `/support`.
#[derive(Template)]
#[template(path = "support/console.html")]
struct ConsolePage {
    shell: Shell,
    error: Option<&'static str>,
    query: String,
    searched: bool,
    merchants: Vec<MerchantResult>,
    keys: Vec<KeyResult>,
    /// A pasted request ID, and the merchant whose request log holds it.
    request: Option<(String, MerchantResult)>,
}

/// The console's query string as sent.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct SearchQuery {
    q: String,
}

/// `GET /support?q=…`: finds merchants by name or ID and keys by ID or by the visible
/// part of a key (`kw_live_AbCd…`, or its last four characters).
pub async fn console(
    user: CurrentUser,
    state: web::Data<AppState>,
    Query(typed): Query<SearchQuery>,
) -> Result<HttpResponse, WebError> {
    support_only(&user)?;
    let raw = typed.q.as_str();
    // A key anywhere in the search leaves the address first, whatever else is wrong.
    // Found by its digest, it is sent on to the mask it was stored with: keys made
    // before masks showed the key's real end keep the secret's last four.
    if let Some(key) = SupportQuery::whole_key(raw) {
        let digest = key.digest(&state.pepper);
        let stored = state
            .db
            .run(move |conn| key_rows::masked_by_digest(conn, &digest))
            .await?;
        let shown = stored.unwrap_or_else(|| key.masked());
        let masked = serde_urlencoded::to_string([("q", shown)]).unwrap_or_default();
        return Ok(see_other(&format!("{}?{masked}", paths::SUPPORT)));
    }
    if raw.chars().count() > 200 || raw.chars().any(char::is_control) {
        return render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &ConsolePage {
                shell: Shell::new(&user, Area::Support),
                error: Some("Search for at most 200 characters, without control characters."),
                query: String::new(),
                searched: false,
                merchants: Vec::new(),
                keys: Vec::new(),
                request: None,
            },
        );
    }
    let query = SupportQuery::parse(raw);
    let now = state.clock.now();
    let pasted = request_id(raw);
    let (merchants, keys, mut refused, request) = match query.clone() {
        None => (Vec::new(), Vec::new(), HashMap::new(), None),
        Some(query) => {
            state
                .db
                .run(move |conn| -> Result<_, DbError> {
                    let (merchants, keys) = search(conn, &query)?;
                    let ids: Vec<String> = keys.iter().map(|key| key.row.id.to_string()).collect();
                    // Every API answer carries a request ID: pasted, it leads to the
                    // merchant whose request log holds it.
                    let request = match pasted {
                        Some(pasted) => key_requests::merchant_of_request(conn, &pasted)?
                            .map(|merchant_id| merchants::find(conn, &merchant_id))
                            .transpose()?
                            .flatten()
                            .map(|merchant| (pasted, merchant)),
                        None => None,
                    };
                    Ok((merchants, keys, db_usage::last_refusals(conn, &ids)?, request))
                })
                .await?
        }
    };
    render(
        StatusCode::OK,
        &ConsolePage {
            shell: Shell::new(&user, Area::Support),
            error: None,
            query: query.as_ref().map(SupportQuery::display).unwrap_or_default(),
            searched: query.is_some(),
            merchants: merchants.into_iter().map(MerchantResult::from).collect(),
            request: request.map(|(id, merchant)| (id, merchant.into())),
            keys: keys
                .into_iter()
                .map(|key| {
                    Ok(KeyResult {
                        status: key.row.facts().display_status(now).label(),
                        last_used: key
                            .row
                            .last_used_at
                            .map_or_else(|| "Never".to_owned(), |at| format::ago(now, at)),
                        last_refused: refused.remove(key.row.id.as_str()).map_or_else(
                            || "Never".to_owned(),
                            |(at, code)| format!("{} · {code}", format::ago(now, at)),
                        ),
                        key,
                    })
                })
                .collect::<Result<_, DbError>>()?,
        },
    )
}

fn search(
    conn: &mut crate::db::DbConnection,
    query: &SupportQuery,
) -> Result<(Vec<Merchant>, Vec<FoundKey>), DbError> {
    let limit = i64::try_from(RESULTS).unwrap_or(i64::MAX);
    Ok(match query {
        SupportQuery::Id(id) => (
            merchants::find(conn, &MerchantId::parse(id)?)?
                .into_iter()
                .collect(),
            key_rows::search(conn, KeySearch::Id(id), limit)?,
        ),
        SupportQuery::Visible { head, tail } => {
            let by = KeySearch::Masked {
                head: Some(head),
                tail: tail.as_deref(),
            };
            (Vec::new(), key_rows::search(conn, by, limit)?)
        }
        SupportQuery::LastFour(four) => {
            let by = KeySearch::Masked {
                head: None,
                tail: Some(four),
            };
            (
                merchants::search_by_name(conn, four, limit)?,
                key_rows::search(conn, by, limit)?,
            )
        }
        SupportQuery::Name(text) => (merchants::search_by_name(conn, text, limit)?, Vec::new()),
    })
}

/// How many of a merchant's keys are in one state.
pub struct StatusCount {
    /// The state, as a badge shows it.
    pub status: &'static str,
    /// How many keys.
    pub count: i64,
}

/// A member, as support staff see them: whom to talk to.
pub struct MemberLine {
    /// Name.
    pub name: String,
    /// Email.
    pub email: String,
    /// Role, as shown.
    pub role: &'static str,
    /// Active or disabled, as shown.
    pub status: &'static str,
}

impl From<Member> for MemberLine {
    fn from(member: Member) -> Self {
        Self {
            status: member.status().label(),
            role: member.role.label(),
            name: member.name,
            email: member.email,
        }
    }
}

/// `/support/merchants/{merchant_id}`.
#[derive(Template)]
#[template(path = "support/merchant.html")]
struct MerchantPage {
    shell: Shell,
    merchant: MerchantResult,
    counts: Vec<StatusCount>,
    members: Vec<MemberLine>,
    /// The merchant's pages show this merchant now; until then the page offers to open it.
    opened: bool,
    /// A key the console found, to open once the merchant is.
    open_key: Option<KeyToOpen>,
    /// A request the console found, to explain once the merchant is open.
    open_request: Option<String>,
}

/// A key found by the console whose merchant is not open yet.
struct KeyToOpen {
    id: KeyId,
    masked: String,
}

/// The merchant the session is looking at, if it is `merchant_id`.
fn is_open(user: &CurrentUser, merchant_id: &MerchantId) -> bool {
    user.merchant
        .as_ref()
        .is_some_and(|m| &m.merchant_id == merchant_id)
}

async fn overview(
    user: &CurrentUser,
    state: &AppState,
    merchant_id: MerchantId,
    open_key: Option<KeyToOpen>,
    open_request: Option<String>,
) -> Result<HttpResponse, WebError> {
    let now = state.clock.now();
    let (merchant, counts, members) = state
        .db
        .run(move |conn| -> Result<_, DbError> {
            let Some(merchant) = merchants::find(conn, &merchant_id)? else {
                return Ok((None, Vec::new(), Vec::new()));
            };
            let counts = key_rows::count_by_status(conn, &merchant.id, now)?;
            let members = memberships::members(conn, &merchant.id)?;
            Ok((Some(merchant), counts, members))
        })
        .await?;
    let merchant = merchant.ok_or(WebError::NotFound)?;
    let opened = is_open(user, &merchant.id);
    render(
        StatusCode::OK,
        &MerchantPage {
            shell: Shell::new(
                user,
                if opened {
                    Area::SupportMerchant
                } else {
                    Area::Support
                },
            ),
            opened,
            merchant: merchant.into(),
            counts: counts
                .into_iter()
                .map(|(status, count)| StatusCount {
                    status: status.label(),
                    count,
                })
                .collect(),
            members: members.into_iter().map(MemberLine::from).collect(),
            open_key,
            open_request,
        },
    )
}

/// `GET /support/merchants/{merchant_id}`: the merchant at a glance. Looking changes
/// nothing: the merchant's own pages show it only once it is opened with
/// [`open_merchant`], a form with this session's CSRF token, so another site cannot
/// switch what support staff are looking at.
pub async fn merchant(
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<MerchantId>,
) -> Result<HttpResponse, WebError> {
    support_only(&user)?;
    let merchant_id = path.into_inner();
    overview(&user, &state, merchant_id, None, None).await
}

/// `POST /support/merchants/{merchant_id}`: from now on the merchant's pages show this
/// merchant, read only.
pub async fn open_merchant(
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<MerchantId>,
) -> Result<HttpResponse, WebError> {
    support_only(&user)?;
    let merchant_id = path.into_inner();
    let lookup = merchant_id.clone();
    let found = state.db.run(move |conn| merchants::find(conn, &lookup)).await?;
    let merchant = found.ok_or(WebError::NotFound)?;
    user.session.set_merchant_id(&merchant.id);
    Ok(see_other(&paths::support_merchant(&merchant.id)))
}

/// The key `key_id` if it belongs to `merchant_id`; anything else is not found.
async fn key_of(state: &AppState, merchant_id: &MerchantId, key_id: &KeyId) -> Result<KeyRow, WebError> {
    let (merchant_id, key_id) = (merchant_id.to_owned(), key_id.to_owned());
    state
        .db
        .run(move |conn| key_rows::find(conn, &merchant_id, &key_id))
        .await?
        .ok_or(WebError::NotFound)
}

/// `GET /support/merchants/{merchant_id}/keys/{key_id}`: a key found by the console.
/// In the merchant already open, its key page; otherwise the merchant's overview,
/// offering to open the merchant on that key.
pub async fn open_key(
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<(MerchantId, KeyId)>,
) -> Result<HttpResponse, WebError> {
    support_only(&user)?;
    let (merchant_id, key_id) = path.into_inner();
    let key = key_of(&state, &merchant_id, &key_id).await?;
    if is_open(&user, &merchant_id) {
        return Ok(see_other(&paths::key(&key.id)));
    }
    let open_key = KeyToOpen {
        id: key.id,
        masked: key.masked_key,
    };
    overview(&user, &state, merchant_id, Some(open_key), None).await
}

/// `POST /support/merchants/{merchant_id}/keys/{key_id}`: opens the merchant on that
/// key's page.
pub async fn open_merchant_on_key(
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<(MerchantId, KeyId)>,
) -> Result<HttpResponse, WebError> {
    support_only(&user)?;
    let (merchant_id, key_id) = path.into_inner();
    let key = key_of(&state, &merchant_id, &key_id).await?;
    user.session.set_merchant_id(&merchant_id);
    Ok(see_other(&paths::key(&key.id)))
}

/// The request `raw` of the merchant's request log, by its ID; anything else is not found.
async fn request_of(state: &AppState, merchant_id: &MerchantId, raw: &str) -> Result<String, WebError> {
    let pasted = request_id(raw).ok_or(WebError::NotFound)?;
    let merchant_id = merchant_id.to_owned();
    state
        .db
        .run(move |conn| key_requests::find_by_request_id(conn, &merchant_id, &pasted))
        .await?
        .map(|row| row.request_id)
        .ok_or(WebError::NotFound)
}

/// `GET /support/merchants/{merchant_id}/requests/{request_id}`: a refused request found
/// by the console. In the merchant already open, its explanation on the Request Log;
/// otherwise the merchant's overview, offering to open the merchant on it.
pub async fn open_request(
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<(MerchantId, String)>,
) -> Result<HttpResponse, WebError> {
    support_only(&user)?;
    let (merchant_id, raw) = path.into_inner();
    let found = request_of(&state, &merchant_id, &raw).await?;
    if is_open(&user, &merchant_id) {
        return Ok(see_other(&crate::web::diagnose::explain_href(&found)));
    }
    overview(&user, &state, merchant_id, None, Some(found)).await
}

/// `POST /support/merchants/{merchant_id}/requests/{request_id}`: opens the merchant on
/// that request's explanation.
pub async fn open_merchant_on_request(
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<(MerchantId, String)>,
) -> Result<HttpResponse, WebError> {
    support_only(&user)?;
    let (merchant_id, raw) = path.into_inner();
    let found = request_of(&state, &merchant_id, &raw).await?;
    user.session.set_merchant_id(&merchant_id);
    Ok(see_other(&crate::web::diagnose::explain_href(&found)))
}
