//! Settings → API Credentials: the key list and every key action, each modal also a
//! plain page when JavaScript is off.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use time::PrimitiveDateTime;

use crate::db::keys::{KeyLabel, KeyRow};
use crate::db::memberships::MerchantAccess;
use crate::db::{DbError, key_policies, keys as key_rows, usage as db_usage};
use crate::domain::{DisplayStatus, GracePeriod, KeyPolicy, KeyStatus, LIFETIME_CHOICES, Refusal, Scope};
use crate::error::WebError;
use crate::keys::{self, EditRequest, GenerateRequest, Generated, KeyError};
use crate::usage::hour_of as usage_hour;
use crate::web::chart::UsageChart;
use crate::web::current_user::CurrentUser;
use crate::web::forms::{FormFields, sentence};
use crate::web::shell::Shell;
use crate::web::{AppState, format, history, modal, render};

const LIST: &str = "/settings/api-credentials";

/// One scope as a checkbox.
pub struct ScopeChoice {
    /// `orders:read`.
    pub name: &'static str,
    /// What it allows.
    pub description: &'static str,
    /// Ticked.
    pub checked: bool,
}

fn scope_choices(selected: &[String]) -> Vec<ScopeChoice> {
    Scope::ALL
        .into_iter()
        .map(|scope| ScopeChoice {
            name: scope.as_str(),
            description: scope.description(),
            checked: selected.iter().any(|name| name == scope.as_str()),
        })
        .collect()
}

/// A key as a card or a row on the page.
pub struct KeyCard {
    /// Version ID.
    pub id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// `kw_live_AbCd…WxYz`.
    pub masked: String,
    /// Created Date.
    pub created: String,
    /// Created by.
    pub created_by: String,
    /// Last Used, relative ("5 minutes ago"), or Never.
    pub last_used: String,
    /// Last Used exactly, for the hover text and `<time datetime>`; empty when never.
    pub last_used_exact: String,
    /// Last Used as RFC 3339.
    pub last_used_iso: String,
    /// Successful requests in the last 24 hours.
    pub succeeded_24h: i64,
    /// Failed requests in the last 24 hours.
    pub failed_24h: i64,
    /// Failed share of the last 24 hours' requests, as text.
    pub error_rate: String,
    /// Requests in the last hour.
    pub last_hour: i64,
    /// For a rotated key: requests in the last hour on the version that replaced it.
    pub successor_last_hour: i64,
    /// For a rotated key: the version that replaced it.
    pub successor_version: i32,
    /// For a rotated key: unused for the last 60 minutes, so revoking it breaks nothing.
    pub safe_to_revoke: bool,
    /// Expires within 7 days.
    pub expires_soon: bool,
    /// The key's own limit, as text.
    pub rate_limit: String,
    /// Version number.
    pub version: i32,
    /// Status badge text.
    pub status: &'static str,
    /// Status for CSS.
    pub status_class: &'static str,
    /// Scope names.
    pub scopes: Vec<&'static str>,
    /// Expiry, or Never.
    pub expires: String,
    /// For a rotated key: `2d 5h`.
    pub grace_remaining: String,
    /// For a revoked key: when.
    pub revoked: String,
    /// For a revoked key: by whom.
    pub revoked_by: String,
    /// Rotate Key is offered.
    pub can_rotate: bool,
    /// Rotation waits for a previous version's grace period to end.
    pub rotation_waits: bool,
    /// Revoke Key is offered.
    pub can_revoke: bool,
    /// Disable is offered.
    pub can_disable: bool,
    /// Enable is offered.
    pub can_enable: bool,
    /// Edit and Duplicate are offered.
    pub can_edit: bool,
    /// Renew is offered.
    pub can_renew: bool,
    /// Delete is offered.
    pub can_delete: bool,
    display: DisplayStatus,
    created_at: PrimitiveDateTime,
    lineage_id: String,
}

/// The usage numbers a card shows, read in one query for the whole page.
#[derive(Default)]
struct Usage {
    day: HashMap<String, (i64, i64)>,
    hour: HashMap<String, (i64, i64)>,
}

impl Usage {
    fn apply(&self, card: &mut KeyCard) {
        let (ok, failed) = self.day.get(&card.id).copied().unwrap_or_default();
        card.succeeded_24h = ok;
        card.failed_24h = failed;
        card.error_rate = if ok + failed == 0 {
            "–".to_owned()
        } else {
            format!("{:.1}%", failed as f64 * 100.0 / (ok + failed) as f64)
        };
        card.last_hour = self.hour.get(&card.id).map_or(0, |(ok, failed)| ok + failed);
    }
}

fn card(row: &KeyRow, policy: &KeyPolicy, now: PrimitiveDateTime) -> Result<KeyCard, DbError> {
    let facts = row.facts()?;
    let display = facts.display_status(now);
    let status = facts.status;
    let live = matches!(status, KeyStatus::Active | KeyStatus::Disabled);
    Ok(KeyCard {
        id: row.id.clone(),
        name: row.name.clone(),
        description: row.description.clone(),
        masked: row.masked_key.clone(),
        created: format::datetime(row.created_at),
        created_by: row.created_by.clone(),
        last_used: row
            .last_used_at
            .map_or_else(|| "Never".to_owned(), |at| format::ago(now, at)),
        last_used_exact: row.last_used_at.map(format::datetime).unwrap_or_default(),
        last_used_iso: row.last_used_at.map(format::iso).unwrap_or_default(),
        succeeded_24h: 0,
        failed_24h: 0,
        error_rate: String::new(),
        last_hour: 0,
        successor_last_hour: 0,
        successor_version: row.version + 1,
        safe_to_revoke: row
            .last_used_at
            .is_none_or(|at| now - at >= time::Duration::minutes(60)),
        expires_soon: row
            .expires_at
            .is_some_and(|at| at > now && at - now <= time::Duration::days(7)),
        rate_limit: row
            .rate_limit_per_minute
            .map_or_else(|| "None".to_owned(), |limit| format!("{limit} per minute")),
        version: row.version,
        status: display.label(),
        status_class: match display {
            DisplayStatus::Active => "active",
            DisplayStatus::Disabled => "disabled",
            DisplayStatus::Rotated => "rotated",
            _ => "inactive",
        },
        scopes: row.scopes()?.names(),
        expires: row
            .expires_at
            .map_or_else(|| "Never".to_owned(), format::datetime),
        grace_remaining: row
            .grace_ends_at
            .map(|end| format::remaining(now, end))
            .unwrap_or_default(),
        revoked: row.revoked_at.map(format::datetime).unwrap_or_default(),
        revoked_by: row.revoked_by.clone().unwrap_or_default(),
        can_rotate: status == KeyStatus::Active && !facts.is_expired(now),
        rotation_waits: false,
        can_revoke: matches!(status, KeyStatus::Disabled)
            || (status == KeyStatus::Active && !policy.revoke_only_disabled)
            || facts.in_grace(now),
        can_disable: status == KeyStatus::Active,
        can_enable: status == KeyStatus::Disabled,
        can_edit: live,
        can_renew: live && facts.lifetime_days.is_some(),
        can_delete: status != KeyStatus::Deleted && !(policy.delete_only_inactive && facts.is_usable(now)),
        display,
        created_at: row.created_at,
        lineage_id: row.lineage_id.clone(),
    })
}

/// Settings → API Credentials.
#[derive(Template)]
#[template(path = "settings/api_credentials.html")]
struct ApiCredentialsPage {
    shell: Shell,
    expiring_count: usize,
    expiring_filter: bool,
    can_manage: bool,
    flash: Option<String>,
    error: Option<String>,
    active_count: usize,
    max_active: u32,
    current: Vec<KeyCard>,
    rotated: Vec<KeyCard>,
    revoked: Vec<KeyCard>,
}

/// A narrowing of the list.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Filter {
    /// Keys that expire within 7 days.
    ExpiringSoon,
}

async fn list_page(
    user: &CurrentUser,
    state: &AppState,
    status: StatusCode,
    error: Option<String>,
    filter: Option<Filter>,
) -> Result<HttpResponse, WebError> {
    let shell = Shell::new(user, "api-credentials");
    let Some(merchant) = user.merchant.clone() else {
        // Support staff pick a merchant in the console first; an account in no merchant
        // yet has only its invitations to answer.
        let elsewhere = if user.is_support() {
            "/support"
        } else {
            crate::web::invitations::INVITATIONS
        };
        return Ok(crate::web::see_other(elsewhere));
    };
    let now = state.clock.now();
    let merchant_id = merchant.merchant_id.clone();
    let (rows, policy, usage) = state
        .db
        .run(move |conn| -> Result<_, DbError> {
            let rows = key_rows::list(conn, &merchant_id)?;
            let ids: Vec<String> = rows.iter().map(|row| row.id.clone()).collect();
            let usage = Usage {
                day: db_usage::totals_since(conn, &ids, usage_hour(now - time::Duration::hours(23)))?,
                hour: db_usage::totals_since(conn, &ids, usage_hour(now - time::Duration::hours(1)))?,
            };
            Ok((rows, key_policies::get(conn, &merchant_id)?, usage))
        })
        .await?;
    let mut cards = rows
        .iter()
        .map(|row| card(row, &policy, now))
        .collect::<Result<Vec<_>, _>>()?;
    for card in &mut cards {
        usage.apply(card);
    }
    let (mut current, mut rotated, mut revoked) = (Vec::new(), Vec::new(), Vec::new());
    for card in cards {
        match card.display {
            DisplayStatus::Active | DisplayStatus::Disabled | DisplayStatus::Expired => current.push(card),
            DisplayStatus::Rotated => rotated.push(card),
            DisplayStatus::Revoked => revoked.push(card),
            DisplayStatus::Retired | DisplayStatus::Deleted => {}
        }
    }
    current.sort_by(|a, b| a.display.cmp(&b.display).then(b.created_at.cmp(&a.created_at)));
    for old in &mut rotated {
        if let Some(successor) = current
            .iter()
            .find(|card| card.lineage_id == old.lineage_id && card.version > old.version)
        {
            old.successor_last_hour = successor.last_hour;
            old.successor_version = successor.version;
        }
    }
    let expiring_count = current.iter().filter(|card| card.expires_soon).count();
    if filter == Some(Filter::ExpiringSoon) {
        current.retain(|card| card.expires_soon);
    }
    for card in &mut current {
        if card.can_rotate && rotated.iter().any(|old| old.lineage_id == card.lineage_id) {
            card.can_rotate = false;
            card.rotation_waits = true;
        }
    }
    let active_count = current
        .iter()
        .filter(|card| card.display == DisplayStatus::Active)
        .count();
    render(
        status,
        &ApiCredentialsPage {
            expiring_count,
            expiring_filter: filter == Some(Filter::ExpiringSoon),
            can_manage: merchant.role.can_manage_keys(),
            flash: user.session.take_flash(),
            error,
            active_count,
            max_active: policy.max_active_keys,
            current,
            rotated,
            revoked,
            shell,
        },
    )
}

/// `GET /settings/api-credentials` (`?filter=expiring` for keys expiring within 7 days).
pub async fn list(
    req: HttpRequest,
    user: CurrentUser,
    state: web::Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let query: Vec<(String, String)> = serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
    let filter = query
        .iter()
        .any(|(name, value)| name == "filter" && value == "expiring")
        .then_some(Filter::ExpiringSoon);
    list_page(&user, &state, StatusCode::OK, None, filter).await
}

/// A modal in its frame (for htmx) or as a page of its own (without JavaScript).
fn modal(
    req: &HttpRequest,
    user: &CurrentUser,
    status: StatusCode,
    title: &str,
    body: &impl Template,
) -> Result<HttpResponse, WebError> {
    modal::show(req, user, "api-credentials", status, title, body)
}

/// After a change: back to the list with a message (htmx reloads the page).
fn done(req: &HttpRequest, user: &CurrentUser, message: &str) -> HttpResponse {
    modal::after_change(req, user, LIST, message)
}

/// How a refused or invalid action is shown in place: its message and status.
fn in_place(err: KeyError) -> Result<(StatusCode, String), WebError> {
    match err {
        KeyError::Invalid(err) => Ok((StatusCode::UNPROCESSABLE_ENTITY, sentence(&err))),
        KeyError::NameTaken(_) | KeyError::Refused(_) => Ok((StatusCode::CONFLICT, err.to_string())),
        KeyError::NotFound => Err(WebError::NotFound),
        KeyError::AlreadySubmitted => Err(WebError::AlreadySubmitted),
        KeyError::Db(err) => Err(err.into()),
    }
}

async fn policy_of(state: &AppState, merchant_id: &str) -> Result<KeyPolicy, WebError> {
    let merchant_id = merchant_id.to_owned();
    Ok(state
        .db
        .run(move |conn| key_policies::get(conn, &merchant_id))
        .await?)
}

/// The merchant and the key a change names, for a user who may change keys. The key is
/// looked up first: another merchant's key is not found, whatever the user's role.
async fn managed_key(
    user: &CurrentUser,
    state: &AppState,
    key_id: &str,
) -> Result<(MerchantAccess, KeyRow), WebError> {
    let merchant = user.merchant()?;
    let row = key_of(state, &merchant.merchant_id, key_id).await?;
    Ok((user.key_manager()?.clone(), row))
}

/// A key of this merchant that was not deleted: what changes act on.
async fn key_of(state: &AppState, merchant_id: &str, key_id: &str) -> Result<KeyRow, WebError> {
    let row = any_key_of(state, merchant_id, key_id).await?;
    if row.status == KeyStatus::Deleted.as_str() {
        return Err(WebError::NotFound);
    }
    Ok(row)
}

/// A key of this merchant in any state, deleted included; another merchant's key is
/// not found.
async fn any_key_of(state: &AppState, merchant_id: &str, key_id: &str) -> Result<KeyRow, WebError> {
    if uuid::Uuid::parse_str(key_id).is_err() {
        return Err(WebError::NotFound);
    }
    let (merchant_id, key_id) = (merchant_id.to_owned(), key_id.to_owned());
    state
        .db
        .run(move |conn| key_rows::find(conn, &merchant_id, &key_id))
        .await?
        .ok_or(WebError::NotFound)
}

/// An expiry choice on the Generate form.
pub struct ExpiryChoice {
    /// Form value.
    pub value: String,
    /// Label.
    pub label: String,
    /// Chosen.
    pub selected: bool,
}

/// The Generate form's body.
#[derive(Template)]
#[template(path = "partials/generate_form.html")]
struct GenerateForm {
    csrf_token: String,
    nonce: String,
    error: Option<String>,
    name: String,
    description: String,
    name_required: bool,
    scopes: Vec<ScopeChoice>,
    expiry_choices: Vec<ExpiryChoice>,
    expires_on: String,
    duplicated_from: Option<String>,
    limit_note: Option<String>,
    rate_limit: String,
}

fn expiry_choices(policy: &KeyPolicy, selected: &str) -> Vec<ExpiryChoice> {
    let max = policy.max_lifetime_days;
    let mut choices = Vec::new();
    if max.is_none() {
        choices.push(("never".to_owned(), "Never".to_owned()));
    }
    for days in LIFETIME_CHOICES
        .into_iter()
        .filter(|days| max.is_none_or(|max| *days <= max))
    {
        let label = if days == 365 {
            "1 year".to_owned()
        } else {
            format!("{days} days")
        };
        choices.push((days.to_string(), label));
    }
    // A lifetime the form does not offer (given on the command line) is kept as is.
    if let Ok(days) = selected.parse::<u32>()
        && !choices.iter().any(|(value, _)| *value == selected)
        && max.is_none_or(|max| days <= max)
    {
        choices.push((days.to_string(), format!("{days} days")));
    }
    choices.push(("custom".to_owned(), "Custom date".to_owned()));
    let selected = if choices.iter().any(|(value, _)| value == selected) {
        selected.to_owned()
    } else {
        choices[0].0.clone()
    };
    choices
        .into_iter()
        .map(|(value, label)| ExpiryChoice {
            selected: value == selected,
            value,
            label,
        })
        .collect()
}

struct GenerateDefaults {
    rate_limit: String,
    description: String,
    scopes: Vec<String>,
    expires: String,
    duplicated_from: Option<String>,
}

async fn generate_form(
    req: &HttpRequest,
    user: &CurrentUser,
    state: &AppState,
    defaults: GenerateDefaults,
) -> Result<HttpResponse, WebError> {
    let merchant = user.key_manager()?;
    let policy = policy_of(state, &merchant.merchant_id).await?;
    let merchant_id = merchant.merchant_id.clone();
    let now = state.clock.now();
    let active = state
        .db
        .run(move |conn| key_rows::count_active(conn, &merchant_id, now))
        .await?;
    let limit_note = (active >= u64::from(policy.max_active_keys)).then(|| {
        Refusal::LimitReached {
            active,
            max: policy.max_active_keys,
        }
        .to_string()
    });
    let form = GenerateForm {
        csrf_token: user.session.csrf_token(),
        nonce: user.session.issue_form_nonce(),
        error: None,
        name: String::new(),
        description: defaults.description,
        name_required: policy.name_required,
        scopes: scope_choices(&defaults.scopes),
        expiry_choices: expiry_choices(&policy, &defaults.expires),
        expires_on: String::new(),
        duplicated_from: defaults.duplicated_from,
        limit_note,
        rate_limit: defaults.rate_limit,
    };
    modal(req, user, StatusCode::OK, "Generate New API Key", &form)
}

/// `GET /settings/api-credentials/new`: the Generate form.
pub async fn new_form(
    req: HttpRequest,
    user: CurrentUser,
    state: web::Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let defaults = GenerateDefaults {
        rate_limit: String::new(),
        description: String::new(),
        scopes: Vec::new(),
        expires: String::new(),
        duplicated_from: None,
    };
    generate_form(&req, &user, &state, defaults).await
}

/// `GET /settings/api-credentials/{key_id}/duplicate`: the Generate form, prefilled
/// with the key's description, scopes and lifetime.
pub async fn duplicate_form(
    req: HttpRequest,
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let (_, row) = managed_key(&user, &state, &path).await?;
    let defaults = GenerateDefaults {
        rate_limit: row
            .rate_limit_per_minute
            .map(|limit| limit.to_string())
            .unwrap_or_default(),
        description: row.description.clone(),
        scopes: row.scopes()?.names().into_iter().map(str::to_owned).collect(),
        expires: row
            .lifetime_days
            .map(|days| days.to_string())
            .unwrap_or_else(|| "never".to_owned()),
        duplicated_from: Some(row.id),
    };
    generate_form(&req, &user, &state, defaults).await
}

/// The Reveal: the whole key, once.
#[derive(Template)]
#[template(path = "partials/reveal.html")]
struct Reveal<'a> {
    key: &'a str,
    card: KeyCard,
    rotated: bool,
}

fn reveal(
    req: &HttpRequest,
    user: &CurrentUser,
    generated: &Generated,
    now: PrimitiveDateTime,
    rotated: bool,
) -> Result<HttpResponse, WebError> {
    let body = Reveal {
        key: generated.key.expose(),
        card: card(&generated.row, &generated.policy, now)?,
        rotated,
    };
    let response = modal(req, user, StatusCode::OK, "Your New API Key", &body)?;
    Ok(modal::no_store(response))
}

/// `POST /settings/api-credentials`: generates a key and answers with the Reveal.
pub async fn generate(
    req: HttpRequest,
    user: CurrentUser,
    state: web::Data<AppState>,
    form: FormFields,
) -> Result<HttpResponse, WebError> {
    let merchant = user.key_manager()?.clone();
    let nonce = form.get("nonce").to_owned();
    if !user.session.consume_form_nonce(&nonce) {
        return Err(WebError::AlreadySubmitted);
    }
    let request = GenerateRequest {
        request_id: Some(nonce),
        name: form.get("name").to_owned(),
        description: form.get("description").to_owned(),
        scopes: form.all("scopes"),
        expires: form.get("expires").to_owned(),
        expires_on: form.get("expires_on").to_owned(),
        rate_limit: form.get("rate_limit").to_owned(),
        duplicated_from: Some(form.get("duplicated_from").to_owned()).filter(|id| !id.is_empty()),
    };
    let actor = user.actor(&req);
    let now = state.clock.now();
    let pepper = state.pepper.clone();
    let merchant_id = merchant.merchant_id.clone();
    let attempt = request.clone();
    let outcome = state
        .db
        .run(move |conn| keys::generate(conn, &merchant_id, &attempt, &actor, &pepper, now))
        .await;
    match outcome {
        Ok(generated) => reveal(&req, &user, &generated, now, false),
        Err(err) => {
            let (status, message) = in_place(err)?;
            let policy = policy_of(&state, &merchant.merchant_id).await?;
            let form = GenerateForm {
                csrf_token: user.session.csrf_token(),
                nonce: user.session.issue_form_nonce(),
                error: Some(message),
                name: request.name,
                description: request.description,
                name_required: policy.name_required,
                scopes: scope_choices(&request.scopes),
                expiry_choices: expiry_choices(&policy, &request.expires),
                expires_on: request.expires_on,
                duplicated_from: request.duplicated_from,
                limit_note: None,
                rate_limit: request.rate_limit,
            };
            modal(&req, &user, status, "Generate New API Key", &form)
        }
    }
}

/// A grace choice on the Rotate form.
pub struct GraceChoice {
    /// Form value.
    pub value: &'static str,
    /// Label.
    pub label: &'static str,
    /// Chosen.
    pub checked: bool,
}

/// The Rotate form's body.
#[derive(Template)]
#[template(path = "partials/rotate_form.html")]
struct RotateForm {
    csrf_token: String,
    nonce: String,
    error: Option<String>,
    card: KeyCard,
    next_version: i32,
    graces: Vec<GraceChoice>,
}

fn rotate_form(
    user: &CurrentUser,
    row: &KeyRow,
    policy: &KeyPolicy,
    now: PrimitiveDateTime,
    chosen: GracePeriod,
    error: Option<String>,
) -> Result<RotateForm, WebError> {
    Ok(RotateForm {
        csrf_token: user.session.csrf_token(),
        nonce: user.session.issue_form_nonce(),
        error,
        card: card(row, policy, now)?,
        next_version: row.version + 1,
        graces: GracePeriod::ALL
            .into_iter()
            .map(|grace| GraceChoice {
                value: grace.as_str(),
                label: grace.label(),
                checked: grace == chosen,
            })
            .collect(),
    })
}

/// `GET /settings/api-credentials/{key_id}/rotate`.
pub async fn rotate_page(
    req: HttpRequest,
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let (merchant, row) = managed_key(&user, &state, &path).await?;
    let policy = policy_of(&state, &merchant.merchant_id).await?;
    let form = rotate_form(
        &user,
        &row,
        &policy,
        state.clock.now(),
        policy.default_grace,
        None,
    )?;
    modal(&req, &user, StatusCode::OK, "Rotate API Key", &form)
}

/// `POST /settings/api-credentials/{key_id}/rotate`: answers with the new key's Reveal.
pub async fn rotate(
    req: HttpRequest,
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: FormFields,
) -> Result<HttpResponse, WebError> {
    let (merchant, row) = managed_key(&user, &state, &path).await?;
    let nonce = form.get("nonce").to_owned();
    if !user.session.consume_form_nonce(&nonce) {
        return Err(WebError::AlreadySubmitted);
    }
    let now = state.clock.now();
    let grace = GracePeriod::parse(form.get("grace"));
    let outcome = match grace.clone() {
        Err(err) => Err(KeyError::Invalid(err)),
        Ok(grace) => {
            let (actor, pepper, merchant_id, key_id) = (
                user.actor(&req),
                state.pepper.clone(),
                merchant.merchant_id.clone(),
                row.id.clone(),
            );
            state
                .change_keys(move |conn| {
                    keys::rotate(
                        conn,
                        &merchant_id,
                        &key_id,
                        grace,
                        Some(&nonce),
                        &actor,
                        &pepper,
                        now,
                    )
                })
                .await
        }
    };
    match outcome {
        Ok(generated) => reveal(&req, &user, &generated, now, true),
        Err(err) => {
            let (status, message) = in_place(err)?;
            let policy = policy_of(&state, &merchant.merchant_id).await?;
            let chosen = grace.unwrap_or(policy.default_grace);
            let form = rotate_form(&user, &row, &policy, now, chosen, Some(message))?;
            modal(&req, &user, status, "Rotate API Key", &form)
        }
    }
}

/// The two irreversible actions, each confirmed in its own way.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Irreversible {
    /// Revoke Key: type REVOKE.
    Revoke,
    /// Delete: tick the checkbox.
    Delete,
}

impl Irreversible {
    fn title(self) -> &'static str {
        match self {
            Irreversible::Revoke => "Revoke API Key",
            Irreversible::Delete => "Delete API Key",
        }
    }
}

/// The Revoke or Delete form's body.
#[derive(Template)]
#[template(path = "partials/confirm_form.html")]
struct ConfirmForm {
    csrf_token: String,
    error: Option<String>,
    card: KeyCard,
    revoke: bool,
}

async fn confirm_form(
    req: &HttpRequest,
    user: &CurrentUser,
    state: &AppState,
    row: &KeyRow,
    action: Irreversible,
    refused: Option<(StatusCode, String)>,
) -> Result<HttpResponse, WebError> {
    let policy = policy_of(state, &row.merchant_id).await?;
    let (status, error) = refused.map_or((StatusCode::OK, None), |(status, message)| {
        (status, Some(message))
    });
    let form = ConfirmForm {
        csrf_token: user.session.csrf_token(),
        error,
        card: card(row, &policy, state.clock.now())?,
        revoke: action == Irreversible::Revoke,
    };
    modal(req, user, status, action.title(), &form)
}

/// `GET /settings/api-credentials/{key_id}/revoke` and `…/delete`.
pub async fn confirm_page(
    req: HttpRequest,
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
    action: Irreversible,
) -> Result<HttpResponse, WebError> {
    let (_, row) = managed_key(&user, &state, &path).await?;
    confirm_form(&req, &user, &state, &row, action, None).await
}

/// `POST /settings/api-credentials/{key_id}/revoke` (field `confirm`, exactly
/// `REVOKE`) and `…/delete` (checkbox `understood`).
pub async fn confirm(
    req: HttpRequest,
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: FormFields,
    action: Irreversible,
) -> Result<HttpResponse, WebError> {
    let (merchant, row) = managed_key(&user, &state, &path).await?;
    let now = state.clock.now();
    let (actor, merchant_id, key_id) = (user.actor(&req), merchant.merchant_id.clone(), row.id.clone());
    let (confirmation, understood) = (form.get("confirm").to_owned(), form.checked("understood"));
    let outcome = state
        .change_keys(move |conn| match action {
            Irreversible::Revoke => {
                keys::revoke(conn, &merchant_id, &key_id, &confirmation, &actor, now).map(|_| ())
            }
            Irreversible::Delete => keys::delete(conn, &merchant_id, &key_id, understood, &actor, now),
        })
        .await;
    match outcome {
        Ok(()) => {
            let message = match action {
                Irreversible::Revoke => {
                    format!(
                        "\"{}\" was revoked. Requests with it are refused from now on.",
                        row.name
                    )
                }
                Irreversible::Delete => format!("\"{}\" was deleted.", row.name),
            };
            Ok(done(&req, &user, &message))
        }
        Err(err) => confirm_form(&req, &user, &state, &row, action, Some(in_place(err)?)).await,
    }
}

/// The Edit form's body.
#[derive(Template)]
#[template(path = "partials/edit_form.html")]
struct EditForm {
    csrf_token: String,
    error: Option<String>,
    card: KeyCard,
    name: String,
    description: String,
    scopes: Vec<ScopeChoice>,
    scopes_editable: bool,
}

/// `GET /settings/api-credentials/{key_id}/edit`.
pub async fn edit_page(
    req: HttpRequest,
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let (merchant, row) = managed_key(&user, &state, &path).await?;
    let policy = policy_of(&state, &merchant.merchant_id).await?;
    let selected: Vec<String> = row.scopes()?.names().into_iter().map(str::to_owned).collect();
    let form = EditForm {
        csrf_token: user.session.csrf_token(),
        error: None,
        name: row.name.clone(),
        description: row.description.clone(),
        scopes: scope_choices(&selected),
        scopes_editable: policy.scopes_editable,
        card: card(&row, &policy, state.clock.now())?,
    };
    modal(&req, &user, StatusCode::OK, "Edit API Key", &form)
}

/// `POST /settings/api-credentials/{key_id}/edit`.
pub async fn edit(
    req: HttpRequest,
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: FormFields,
) -> Result<HttpResponse, WebError> {
    let (merchant, row) = managed_key(&user, &state, &path).await?;
    let now = state.clock.now();
    let request = EditRequest {
        name: form.get("name").to_owned(),
        description: form.get("description").to_owned(),
        scopes: form.all("scopes"),
    };
    let (actor, merchant_id, key_id, attempt) = (
        user.actor(&req),
        merchant.merchant_id.clone(),
        row.id.clone(),
        request.clone(),
    );
    let outcome = state
        .change_keys(move |conn| keys::edit(conn, &merchant_id, &key_id, &attempt, &actor, now))
        .await;
    match outcome {
        Ok(edited) => Ok(done(&req, &user, &format!("\"{}\" was saved.", edited.name))),
        Err(err) => {
            let (status, message) = in_place(err)?;
            let policy = policy_of(&state, &merchant.merchant_id).await?;
            let form = EditForm {
                csrf_token: user.session.csrf_token(),
                error: Some(message),
                name: request.name,
                description: request.description,
                scopes: scope_choices(&request.scopes),
                scopes_editable: policy.scopes_editable,
                card: card(&row, &policy, now)?,
            };
            modal(&req, &user, status, "Edit API Key", &form)
        }
    }
}

/// A reversible change made straight from a card: Disable, Enable, Renew.
#[derive(Clone, Copy)]
pub enum QuickAction {
    /// Switch an active key off.
    Disable,
    /// Switch a disabled key on.
    Enable,
    /// Move a key's expiry one lifetime ahead.
    Renew,
}

/// `POST /settings/api-credentials/{key_id}/disable`, `…/enable` and `…/renew`.
pub async fn quick(
    req: HttpRequest,
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
    action: QuickAction,
) -> Result<HttpResponse, WebError> {
    let key_id = path.into_inner();
    let (merchant, _) = managed_key(&user, &state, &key_id).await?;
    let now = state.clock.now();
    let (actor, merchant_id) = (user.actor(&req), merchant.merchant_id.clone());
    let outcome = state
        .change_keys(move |conn| match action {
            QuickAction::Disable => keys::disable(conn, &merchant_id, &key_id, &actor, now),
            QuickAction::Enable => keys::enable(conn, &merchant_id, &key_id, &actor, now),
            QuickAction::Renew => keys::renew(conn, &merchant_id, &key_id, &actor, now),
        })
        .await;
    match outcome {
        Ok(row) => {
            let message = match action {
                QuickAction::Disable => {
                    format!("\"{}\" was disabled. Enable it again at any time.", row.name)
                }
                QuickAction::Enable => format!("\"{}\" was enabled.", row.name),
                QuickAction::Renew => format!(
                    "\"{}\" was renewed; it now expires {}.",
                    row.name,
                    row.expires_at.map(format::datetime).unwrap_or_default()
                ),
            };
            Ok(done(&req, &user, &message))
        }
        Err(err) => {
            let (status, message) = in_place(err)?;
            list_page(&user, &state, status, Some(message), None).await
        }
    }
}

/// A version in the lineage list.
pub struct VersionView {
    /// ID.
    pub id: String,
    /// Version number.
    pub version: i32,
    /// Masked key.
    pub masked: String,
    /// Status badge.
    pub status: &'static str,
    /// Created.
    pub created: String,
    /// This is the page's key.
    pub current: bool,
}

/// The key page.
#[derive(Template)]
#[template(path = "settings/key_detail.html")]
struct KeyDetailPage {
    shell: Shell,
    card: KeyCard,
    versions: Vec<VersionView>,
    chart: UsageChart,
    events: Vec<history::EventView>,
}

/// `GET /settings/api-credentials/{key_id}`: the developers corner (ID, masked key,
/// version, earlier versions), the 24-hour chart and the key's history.
pub async fn detail(
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let merchant = user.merchant()?.clone();
    // Deleted keys keep their page: their history stays readable.
    let row = any_key_of(&state, &merchant.merchant_id, &path).await?;
    let now = state.clock.now();
    let (merchant_id, lineage_id, key_id) = (
        merchant.merchant_id.clone(),
        row.lineage_id.clone(),
        row.id.clone(),
    );
    let (policy, lineage, hours, events) = state
        .db
        .run(move |conn| -> Result<_, DbError> {
            Ok((
                key_policies::get(conn, &merchant_id)?,
                key_rows::lineage(conn, &merchant_id, &lineage_id)?,
                db_usage::hourly(conn, &key_id, usage_hour(now - time::Duration::hours(23)))?,
                crate::db::key_events::for_key(conn, &merchant_id, &key_id)?,
            ))
        })
        .await?;
    let versions = lineage
        .iter()
        .rev()
        .map(|version| {
            Ok(VersionView {
                id: version.id.clone(),
                version: version.version,
                masked: version.masked_key.clone(),
                status: version.facts()?.display_status(now).label(),
                created: format::datetime(version.created_at),
                current: version.id == row.id,
            })
        })
        .collect::<Result<Vec<_>, DbError>>()?;
    let labels = lineage
        .iter()
        .map(|version| {
            (
                version.id.clone(),
                KeyLabel {
                    id: version.id.clone(),
                    name: version.name.clone(),
                    version: version.version,
                    masked_key: version.masked_key.clone(),
                },
            )
        })
        .collect();
    let events = events
        .iter()
        .rev()
        .map(|event| history::view(event, &labels))
        .collect();
    let mut card = card(&row, &policy, now)?;
    let chart = UsageChart::new(now, &hours);
    card.succeeded_24h = chart.succeeded;
    card.failed_24h = chart.failed;
    render(
        StatusCode::OK,
        &KeyDetailPage {
            shell: Shell::new(&user, "api-credentials"),
            card,
            versions,
            chart,
            events,
        },
    )
}
