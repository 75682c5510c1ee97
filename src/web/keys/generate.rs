//! Generate and Duplicate: the form, the key made, and its one-time Reveal.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use time::PrimitiveDateTime;

use super::cards::{KeyCard, card};
use super::origin::Origin;
use super::shared::{ScopeChoice, in_place, modal, offered_key, policy_of, refused, scope_choices};
use crate::db::keys as key_rows;
use crate::domain::{KeyId, KeyPolicy, LIFETIME_CHOICES, MalformedId, allowed_generate};
use crate::service::keys::{self, GenerateRequest, Generated};
use crate::web::current_user::CurrentUser;
use crate::web::error::WebError;
use crate::web::forms::Form;
use crate::web::modal;
use crate::web::state::AppState;

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
    description: String,
    scopes: Vec<String>,
    expires: String,
    duplicated_from: Option<KeyId>,
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
    };
    modal(req, user, StatusCode::OK, TITLE, &form)
}

/// `GET /settings/api-credentials/new`: the Generate form, or, at the active-key limit,
/// why no key can be generated now.
pub async fn new_form(
    req: HttpRequest,
    user: CurrentUser,
    state: web::Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let merchant = user.key_manager()?;
    let policy = policy_of(&state, &merchant.merchant_id).await?;
    let merchant_id = merchant.merchant_id.clone();
    let now = state.clock.now();
    let active = state
        .db
        .run(move |conn| key_rows::count_active(conn, &merchant_id, now))
        .await?;
    if let Err(refusal) = allowed_generate(merchant.role, active, &policy) {
        return refused(&req, &user, TITLE, None, &refusal, Origin::List, now);
    }
    let defaults = GenerateDefaults {
        rate_limit: String::new(),
        description: String::new(),
        scopes: Vec::new(),
        expires: String::new(),
        duplicated_from: None,
    };
    generate_form(&req, &user, &policy, defaults).await
}

/// `GET /settings/api-credentials/{key_id}/duplicate`: the Generate form, prefilled
/// with the key's description, scopes and lifetime, or why no key can be made from it
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
        description: row.description.clone(),
        scopes: row.scopes.names().into_iter().map(str::to_owned).collect(),
        expires: row
            .lifetime_days
            .map(|days| days.to_string())
            .unwrap_or_else(|| "never".to_owned()),
        duplicated_from: Some(row.id),
    };
    generate_form(&req, &user, &policy, defaults).await
}

/// The Reveal: the whole key, once.
#[derive(Template)]
#[template(path = "partials/reveal.html")]
struct Reveal<'a> {
    key: &'a str,
    card: KeyCard,
    rotated: bool,
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
    };
    let response = modal(req, user, StatusCode::OK, "Your New API Key", &body)?;
    Ok(modal::no_store(response))
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
    duplicated_from: String,
}

impl TryFrom<GenerateFields> for GenerateRequest {
    type Error = MalformedId;

    fn try_from(form: GenerateFields) -> Result<Self, MalformedId> {
        Ok(GenerateRequest {
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
    let request = GenerateRequest::try_from(form).map_err(|_| WebError::NotFound)?;
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
            };
            modal(&req, &user, status, TITLE, &form)
        }
    }
}
