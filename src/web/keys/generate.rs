//! Generate and Duplicate: the form, the key made, and its one-time Reveal.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use time::PrimitiveDateTime;

use super::cards::{KeyCard, card};
use super::origin::Origin;
use super::shared::{ScopeChoice, in_place, modal, offered_key, policy_of, refused, scope_choices};
use crate::db::keys as key_rows;
use crate::domain::{
    Environment, IpAllowlist, KeyId, KeyPolicy, LIFETIME_CHOICES, MalformedId, allowed_generate,
};
use crate::service::keys::{self, GenerateRequest, Generated};
use crate::web::current_user::CurrentUser;
use crate::web::error::WebError;
use crate::web::forms::{Form, Query};
use crate::web::state::AppState;
use crate::web::{modal, paths};

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
    duplicated_from: Option<KeyId>,
    rate_limit: String,
    environment: Environment,
    allowed_ips: String,
}

const TITLE: &str = "Generate New API Key";

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
    allowed_ips: String,
    description: String,
    scopes: Vec<String>,
    expires: String,
    duplicated_from: Option<KeyId>,
    environment: Environment,
}

/// Which environment a form or a list is for, as an address or a form names it: live
/// when left out.
fn environment_named(raw: &str) -> Result<Environment, WebError> {
    match raw {
        "" => Ok(Environment::Live),
        raw => raw
            .parse()
            .map_err(|_| WebError::BadRequest("Choose live or test as the key's environment.")),
    }
}

/// The Generate form's address: `?environment=test` for a test key.
#[derive(Default, serde::Deserialize)]
#[serde(default)]
pub struct NewKeyParams {
    environment: String,
}

async fn generate_form(
    req: &HttpRequest,
    user: &CurrentUser,
    policy: &KeyPolicy,
    defaults: GenerateDefaults,
) -> Result<HttpResponse, WebError> {
    let form = GenerateForm {
        csrf_token: user.session.csrf_token(),
        nonce: user.session.issue_form_nonce(),
        error: None,
        name: String::new(),
        description: defaults.description,
        name_required: policy.name_required,
        scopes: scope_choices(&defaults.scopes),
        expiry_choices: expiry_choices(policy, &defaults.expires),
        expires_on: String::new(),
        duplicated_from: defaults.duplicated_from,
        rate_limit: defaults.rate_limit,
        environment: defaults.environment,
        allowed_ips: defaults.allowed_ips,
    };
    modal(req, user, StatusCode::OK, TITLE, &form)
}

/// `GET /settings/api-credentials/new` (`?environment=test` for a test key): the
/// Generate form, or, at the environment's active-key limit, why no key can be
/// generated now.
pub async fn new_form(
    req: HttpRequest,
    user: CurrentUser,
    state: web::Data<AppState>,
    Query(params): Query<NewKeyParams>,
) -> Result<HttpResponse, WebError> {
    let environment = environment_named(&params.environment)?;
    let merchant = user.key_manager()?;
    let policy = policy_of(&state, &merchant.merchant_id).await?;
    let merchant_id = merchant.merchant_id.clone();
    let now = state.clock.now();
    let active = state
        .db
        .run(move |conn| key_rows::count_active(conn, &merchant_id, environment, now))
        .await?;
    if let Err(refusal) = allowed_generate(merchant.role, active, &policy) {
        return refused(&req, &user, TITLE, None, &refusal, Origin::List, now);
    }
    let defaults = GenerateDefaults {
        rate_limit: String::new(),
        allowed_ips: String::new(),
        description: String::new(),
        scopes: Vec::new(),
        expires: String::new(),
        duplicated_from: None,
        environment,
    };
    generate_form(&req, &user, &policy, defaults).await
}

/// `GET /settings/api-credentials/{key_id}/duplicate`: the Generate form, prefilled
/// with the key's description, scopes, lifetime, rate limit and allowed addresses, or why no key can be made from it
/// now.
pub async fn duplicate_form(
    req: HttpRequest,
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<KeyId>,
) -> Result<HttpResponse, WebError> {
    let (merchant, row) =
        match offered_key(&req, &user, &state, &path, TITLE, |allowed| &allowed.duplicate).await? {
            Ok(offered) => offered,
            Err(refused) => return Ok(refused),
        };
    let policy = policy_of(&state, &merchant.merchant_id).await?;
    let defaults = GenerateDefaults {
        rate_limit: row
            .rate_limit_per_minute
            .map(|limit| limit.to_string())
            .unwrap_or_default(),
        allowed_ips: typed(&row.allowed_ips.entries()),
        description: row.description.clone(),
        scopes: row.scopes.names().into_iter().map(str::to_owned).collect(),
        expires: row
            .lifetime_days
            .map(|days| days.to_string())
            .unwrap_or_else(|| "never".to_owned()),
        duplicated_from: Some(row.id),
        environment: row.environment,
    };
    generate_form(&req, &user, &policy, defaults).await
}

/// Allowlist entries as the form's text area shows them: one a line.
pub(super) fn typed(entries: &[String]) -> String {
    entries.join("\n")
}

/// The Reveal: the whole key, once (or, for a test key the Key Policy lets be revealed
/// again, once more).
#[derive(Template)]
#[template(path = "partials/reveal.html")]
struct Reveal<'a> {
    key: &'a str,
    card: KeyCard,
    rotated: bool,
    again: bool,
    /// Where Done leads: the list of the key's environment.
    back: String,
}

pub(super) fn reveal(
    req: &HttpRequest,
    user: &CurrentUser,
    generated: &Generated,
    now: PrimitiveDateTime,
    rotated: bool,
) -> Result<HttpResponse, WebError> {
    let body = Reveal {
        key: generated.key.expose(),
        card: card(&generated.row, now)?,
        rotated,
        again: false,
        back: paths::key_list(generated.row.environment),
    };
    show(req, user, "Your New API Key", &body)
}

/// The Reveal of a test key shown again: the same panel, with Copy.
pub(super) fn reveal_again(
    req: &HttpRequest,
    user: &CurrentUser,
    revealed: &Generated,
    now: PrimitiveDateTime,
) -> Result<HttpResponse, WebError> {
    let body = Reveal {
        key: revealed.key.expose(),
        card: card(&revealed.row, now)?,
        rotated: false,
        again: true,
        back: paths::key_list(revealed.row.environment),
    };
    show(req, user, "Your Test API Key", &body)
}

/// The Reveal as a modal, never stored by a browser or proxy.
fn show(
    req: &HttpRequest,
    user: &CurrentUser,
    title: &str,
    body: &Reveal<'_>,
) -> Result<HttpResponse, WebError> {
    Ok(modal::no_store(modal(req, user, StatusCode::OK, title, body)?))
}

/// The Generate New API Key form as sent.
#[derive(Default, serde::Deserialize)]
#[serde(default)]
pub struct GenerateFields {
    nonce: String,
    name: String,
    description: String,
    scopes: Vec<String>,
    expires: String,
    expires_on: String,
    rate_limit: String,
    allowed_ips: String,
    duplicated_from: String,
    environment: String,
}

impl TryFrom<GenerateFields> for GenerateRequest {
    type Error = MalformedId;

    /// Reads every field but the environment, which [`environment_named`] reads first.
    fn try_from(form: GenerateFields) -> Result<Self, MalformedId> {
        Ok(GenerateRequest {
            environment: Environment::Live,
            duplicated_from: match form.duplicated_from.as_str() {
                "" => None,
                raw => Some(KeyId::parse(raw)?),
            },
            request_id: Some(form.nonce),
            name: form.name,
            description: form.description,
            scopes: form.scopes,
            expires: form.expires,
            expires_on: form.expires_on,
            rate_limit: form.rate_limit,
            allowed_ips: IpAllowlist::split(&form.allowed_ips),
        })
    }
}

/// `POST /settings/api-credentials`: generates a key and answers with the Reveal.
pub async fn generate(
    req: HttpRequest,
    user: CurrentUser,
    state: web::Data<AppState>,
    Form(form): Form<GenerateFields>,
) -> Result<HttpResponse, WebError> {
    let merchant = user.key_manager()?.clone();
    // A malformed source is not found, like a missing one; read before the form's
    // one-time value is spent, so the form can still be sent once corrected.
    let environment = environment_named(&form.environment)?;
    let request = GenerateRequest {
        environment,
        ..GenerateRequest::try_from(form).map_err(|_| WebError::NotFound)?
    };
    if !user
        .session
        .consume_form_nonce(request.request_id.as_deref().unwrap_or_default())
    {
        return Err(WebError::AlreadySubmitted);
    }
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
                rate_limit: request.rate_limit,
                environment: request.environment,
                allowed_ips: typed(&request.allowed_ips),
            };
            modal(&req, &user, status, TITLE, &form)
        }
    }
}
