//! The support console: support staff find a merchant or a key and open its pages,
//! read only. Every change they try is refused and recorded.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use crate::db::keys::{self as key_rows, FoundKey, KeySearch};
use crate::db::memberships::{self, Member};
use crate::db::merchants::{self, Merchant};
use crate::db::{DbError, key_events};
use crate::domain::SupportQuery;
use crate::error::WebError;
use crate::web::current_user::CurrentUser;
use crate::web::shell::Shell;
use crate::web::{AppState, format, render, see_other};

/// Results shown per kind.
const RESULTS: usize = 50;

/// Records a change support staff tried, on the merchant it concerned, before it is
/// refused.
pub async fn record_refusal(state: &AppState, user: &CurrentUser, req: &HttpRequest) -> Result<(), WebError> {
    let key_id = req
        .match_info()
        .get("key_id")
        .and_then(|id| uuid::Uuid::parse_str(id).ok())
        .map(|id| id.hyphenated().to_string());
    let viewed = user.merchant.as_ref().map(|m| m.merchant_id.clone());
    let actor = user.actor(req);
    let details = serde_json::json!({ "method": req.method().as_str(), "path": req.path() });
    let now = state.clock.now();
    let recorded = state
        .db
        .run(move |conn| {
            key_events::record_refusal(conn, viewed.as_deref(), key_id.as_deref(), &actor, &details, now)
        })
        .await?;
    if !recorded {
        // Nothing to record it on: no merchant was open and the path named no key.
        tracing::info!(
            path = req.path(),
            "refused a change by support staff outside any merchant"
        );
    }
    Ok(())
}

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
    pub id: String,
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
}

/// `GET /support?q=…`: finds merchants by name or ID and keys by ID or by the visible
/// part of a key (`kw_live_AbCd…`, or its last four characters).
pub async fn console(
    req: HttpRequest,
    user: CurrentUser,
    state: web::Data<AppState>,
) -> Result<HttpResponse, WebError> {
    support_only(&user)?;
    let params: Vec<(String, String)> = serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
    let raw = params
        .iter()
        .find(|(name, _)| name == "q")
        .map(|(_, value)| value.as_str())
        .unwrap_or_default();
    if raw.chars().count() > 200 || raw.chars().any(char::is_control) {
        return render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &ConsolePage {
                shell: Shell::new(&user, "support"),
                error: Some("Search for at most 200 characters, without control characters."),
                query: String::new(),
                searched: false,
                merchants: Vec::new(),
                keys: Vec::new(),
            },
        );
    }
    let query = SupportQuery::parse(raw);
    if SupportQuery::is_whole_key(raw)
        && let Some(query) = &query
    {
        let masked = serde_urlencoded::to_string([("q", query.display())]).unwrap_or_default();
        return Ok(see_other(&format!("/support?{masked}")));
    }
    let now = state.clock.now();
    let (merchants, keys) = match query.clone() {
        None => (Vec::new(), Vec::new()),
        Some(query) => state.db.run(move |conn| search(conn, &query)).await?,
    };
    render(
        StatusCode::OK,
        &ConsolePage {
            shell: Shell::new(&user, "support"),
            error: None,
            query: query.as_ref().map(SupportQuery::display).unwrap_or_default(),
            searched: query.is_some(),
            merchants: merchants.into_iter().map(MerchantResult::from).collect(),
            keys: keys
                .into_iter()
                .map(|key| {
                    Ok(KeyResult {
                        status: key.row.facts()?.display_status(now).label(),
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
            merchants::find(conn, id)?.into_iter().collect(),
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
    pub status: String,
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
}

/// `GET /support/merchants/{merchant_id}`: the merchant at a glance; from here on the
/// merchant's pages show this merchant, read only.
pub async fn merchant(
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    support_only(&user)?;
    let merchant_id = path.into_inner();
    if uuid::Uuid::parse_str(&merchant_id).is_err() {
        return Err(WebError::NotFound);
    }
    let (merchant, counts, members) = state
        .db
        .run(move |conn| -> Result<_, DbError> {
            let Some(merchant) = merchants::find(conn, &merchant_id)? else {
                return Ok((None, Vec::new(), Vec::new()));
            };
            let counts = key_rows::count_by_status(conn, &merchant.id)?;
            let members = memberships::members(conn, &merchant.id)?;
            Ok((Some(merchant), counts, members))
        })
        .await?;
    let merchant = merchant.ok_or(WebError::NotFound)?;
    user.session.set_merchant_id(&merchant.id);
    let mut user = user;
    user.merchant = Some(memberships::MerchantAccess {
        merchant_id: merchant.id.clone(),
        merchant_name: merchant.name.clone(),
        role: crate::domain::Role::Viewer,
    });
    render(
        StatusCode::OK,
        &MerchantPage {
            shell: Shell::new(&user, "support-merchant"),
            merchant: merchant.into(),
            counts: counts
                .into_iter()
                .map(|(status, count)| StatusCount {
                    status: status.to_uppercase(),
                    count,
                })
                .collect(),
            members: members.into_iter().map(MemberLine::from).collect(),
        },
    )
}

/// `GET /support/merchants/{merchant_id}/keys/{key_id}`: opens a key found by the
/// console on its merchant's key page.
pub async fn open_key(
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, WebError> {
    support_only(&user)?;
    let (merchant_id, key_id) = path.into_inner();
    if uuid::Uuid::parse_str(&key_id).is_err() {
        return Err(WebError::NotFound);
    }
    let lookup = key_id.clone();
    let owner = state
        .db
        .run(move |conn| key_rows::merchant_of(conn, &lookup))
        .await?;
    if owner.as_deref() != Some(merchant_id.as_str()) {
        return Err(WebError::NotFound);
    }
    user.session.set_merchant_id(&merchant_id);
    Ok(see_other(&format!("/settings/api-credentials/{key_id}")))
}
