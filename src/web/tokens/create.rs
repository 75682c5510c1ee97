//! New Management Token: the form, the token made, and its one-time Reveal.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use super::shared::{Refused, TokenView, in_place, modal, view};
use crate::domain::{TokenScope, ValidationError};
use crate::service::tokens::{self, CreateToken, CreatedToken, TOKEN_LIFETIMES, TokenError};
use crate::web::current_user::CurrentUser;
use crate::web::error::WebError;
use crate::web::forms::Form;
use crate::web::modal as modals;
use crate::web::state::AppState;

const TITLE: &str = "New Management Token";

/// The Expiration choice that never expires.
const NO_EXPIRY: &str = "never";

/// One scope as a checkbox.
pub struct ScopeChoice {
    /// `keys:read`.
    pub name: &'static str,
    /// What it allows.
    pub description: &'static str,
    /// Ticked.
    pub checked: bool,
}

/// An Expiration option.
pub struct ExpiryChoice {
    /// Form value: days, or `never`.
    pub value: String,
    /// Label.
    pub label: String,
    /// Chosen.
    pub selected: bool,
}

/// The New Management Token form's body, with each refusal next to its field.
#[derive(Template)]
#[template(path = "partials/token_form.html")]
struct TokenForm {
    csrf_token: String,
    nonce: String,
    /// A refusal about the whole form (sent twice).
    error: Option<String>,
    name: String,
    name_error: Option<String>,
    scopes: Vec<ScopeChoice>,
    scopes_error: Option<String>,
    expiry_choices: Vec<ExpiryChoice>,
    expires_error: Option<String>,
}

/// The New Management Token form as sent.
#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(default)]
pub struct TokenFields {
    nonce: String,
    name: String,
    scopes: Vec<String>,
    expires: String,
}

impl TryFrom<&TokenFields> for CreateToken {
    type Error = ValidationError;

    fn try_from(form: &TokenFields) -> Result<Self, ValidationError> {
        let expires_in_days = match form.expires.trim() {
            "" | NO_EXPIRY => None,
            days => Some(days.parse().map_err(|_| ValidationError::Invalid {
                field: "Expiration",
                reason: "choose No expiry or one of the listed lifetimes",
            })?),
        };
        Ok(CreateToken {
            name: form.name.clone(),
            scopes: form.scopes.clone(),
            expires_in_days,
            request_id: Some(form.nonce.clone()),
        })
    }
}

fn scope_choices(ticked: &[String]) -> Vec<ScopeChoice> {
    TokenScope::ALL
        .into_iter()
        .map(|scope| ScopeChoice {
            name: scope.as_str(),
            description: scope.description(),
            checked: ticked.iter().any(|name| name == scope.as_str()),
        })
        .collect()
}

fn expiry_choices(selected: &str) -> Vec<ExpiryChoice> {
    let selected = if selected.is_empty() { NO_EXPIRY } else { selected };
    std::iter::once((NO_EXPIRY.to_owned(), "No expiry".to_owned()))
        .chain(
            TOKEN_LIFETIMES
                .into_iter()
                .map(|days| (days.to_string(), format!("{days} days"))),
        )
        .map(|(value, label)| ExpiryChoice {
            selected: value == selected,
            value,
            label,
        })
        .collect()
}

/// The form, filled in with what was typed, each refusal next to its field and a fresh
/// one-time value.
fn form_page(
    req: &HttpRequest,
    user: &CurrentUser,
    typed: &TokenFields,
    refused: Option<Refused>,
) -> Result<HttpResponse, WebError> {
    let status = refused.as_ref().map_or(StatusCode::OK, |refused| refused.status);
    let mut form = TokenForm {
        csrf_token: user.session.csrf_token(),
        nonce: user.session.issue_form_nonce(),
        error: None,
        name: typed.name.clone(),
        name_error: None,
        scopes: scope_choices(&typed.scopes),
        scopes_error: None,
        expiry_choices: expiry_choices(typed.expires.trim()),
        expires_error: None,
    };
    if let Some(Refused { message, field, .. }) = refused {
        let place = match field {
            Some("Name") => &mut form.name_error,
            Some("Scopes") => &mut form.scopes_error,
            Some("Expiration") => &mut form.expires_error,
            _ => &mut form.error,
        };
        *place = Some(message);
    }
    modal(req, user, status, TITLE, &form)
}

/// `GET /settings/management-tokens/new`: the form, nothing ticked, for admins.
pub async fn new_form(req: HttpRequest, user: CurrentUser) -> Result<HttpResponse, WebError> {
    user.admin()?;
    form_page(&req, &user, &TokenFields::default(), None)
}

/// The Reveal: the whole token, once.
#[derive(Template)]
#[template(path = "partials/token_reveal.html")]
struct Reveal<'a> {
    token: &'a str,
    view: TokenView,
}

fn reveal(
    req: &HttpRequest,
    user: &CurrentUser,
    created: &CreatedToken,
    now: time::PrimitiveDateTime,
) -> Result<HttpResponse, WebError> {
    let body = Reveal {
        token: created.token.expose(),
        view: view(&created.row, now),
    };
    let response = modal(req, user, StatusCode::OK, "Your New Management Token", &body)?;
    Ok(modals::no_store(response))
}

/// `POST /settings/management-tokens` (fields `name`, `scopes`, `expires`, `nonce`):
/// creates the token and answers with the Reveal, once. A refusal shows the form again
/// with the message next to its field, and nothing is created.
pub async fn create(
    req: HttpRequest,
    user: CurrentUser,
    state: web::Data<AppState>,
    Form(typed): Form<TokenFields>,
) -> Result<HttpResponse, WebError> {
    let merchant_id = user.admin()?.merchant_id.clone();
    // A refresh, the back button or a second click must neither make another token nor
    // show one again.
    if !user.session.consume_form_nonce(&typed.nonce) {
        return form_page(&req, &user, &typed, Some(in_place(TokenError::AlreadySubmitted)?));
    }
    let request = match CreateToken::try_from(&typed) {
        Ok(request) => request,
        Err(invalid) => return form_page(&req, &user, &typed, Some(in_place(invalid.into())?)),
    };
    let (actor, now, pepper) = (user.actor(&req), state.clock.now(), state.pepper.clone());
    let outcome = state
        .db
        .run(move |conn| tokens::create(conn, &merchant_id, &request, &actor, &pepper, now))
        .await;
    match outcome {
        Ok(created) => reveal(&req, &user, &created, now),
        Err(err) => form_page(&req, &user, &typed, Some(in_place(err)?)),
    }
}
