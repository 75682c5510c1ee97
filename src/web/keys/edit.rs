//! Edit: a key's name, description, (where the policy allows) scopes, its own rate
//! limit, its allowed addresses and a new last day.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use super::cards::{KeyCard, card};
use super::generate::typed;
use super::origin::Origin;
use super::shared::{ScopeChoice, done, in_place, managed_key, modal, offered_key, policy_of, scope_choices};
use crate::domain::{IpAllowlist, KeyId};
use crate::service::keys::{self, EditRequest};
use crate::web::current_user::CurrentUser;
use crate::web::error::WebError;
use crate::web::forms::Form;
use crate::web::state::AppState;

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
    rate_limit: String,
    allowed_ips: String,
    expires_on: String,
    from: Origin,
}

const TITLE: &str = "Edit API Key";

/// `GET /settings/api-credentials/{key_id}/edit`: the form, or why the key cannot be
/// edited.
pub async fn edit_page(
    req: HttpRequest,
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<KeyId>,
) -> Result<HttpResponse, WebError> {
    let (merchant, row) =
        match offered_key(&req, &user, &state, &path, TITLE, |allowed| &allowed.edit).await? {
            Ok(offered) => offered,
            Err(refused) => return Ok(refused),
        };
    let policy = policy_of(&state, &merchant.merchant_id).await?;
    let selected: Vec<String> = row.scopes.names().into_iter().map(str::to_owned).collect();
    let form = EditForm {
        csrf_token: user.session.csrf_token(),
        error: None,
        name: row.name.clone(),
        description: row.description.clone(),
        scopes: scope_choices(&selected),
        scopes_editable: policy.scopes_editable,
        rate_limit: row
            .rate_limit_per_minute
            .map(|limit| limit.to_string())
            .unwrap_or_default(),
        allowed_ips: typed(&row.allowed_ips.entries()),
        expires_on: String::new(),
        card: card(&row, state.clock.now())?,
        from: Origin::of_query(&req),
    };
    modal(&req, &user, StatusCode::OK, TITLE, &form)
}

/// The Edit form as sent.
#[derive(Default, serde::Deserialize)]
#[serde(default)]
pub struct EditFields {
    name: String,
    description: String,
    scopes: Vec<String>,
    /// Empty for no limit; a form without the field keeps the key's.
    rate_limit: Option<String>,
    /// Empty for any address; a form without the field keeps the key's.
    allowed_ips: Option<String>,
    /// Empty keeps the key's expiry.
    expires_on: String,
}

impl From<EditFields> for EditRequest {
    fn from(form: EditFields) -> Self {
        let expires_on = Some(form.expires_on).filter(|day| !day.trim().is_empty());
        EditRequest {
            name: Some(form.name),
            description: Some(form.description),
            scopes: Some(form.scopes),
            rate_limit: form.rate_limit,
            expires_on,
            allowed_ips: form.allowed_ips.as_deref().map(IpAllowlist::split),
        }
    }
}

/// `POST /settings/api-credentials/{key_id}/edit`.
pub async fn edit(
    req: HttpRequest,
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<KeyId>,
    Form(form): Form<EditFields>,
) -> Result<HttpResponse, WebError> {
    let (merchant, row) = managed_key(&user, &state, &path).await?;
    let now = state.clock.now();
    let from = Origin::of_query(&req);
    let request = EditRequest::from(form);
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
        Ok(edited) => {
            let message = format!("\"{}\" was saved.", edited.name);
            Ok(done(&req, &user, &from.after_change(&edited), &message))
        }
        Err(err) => {
            let (status, message) = in_place(err)?;
            let policy = policy_of(&state, &merchant.merchant_id).await?;
            let form = EditForm {
                csrf_token: user.session.csrf_token(),
                error: Some(message),
                name: request.name.unwrap_or_default(),
                description: request.description.unwrap_or_default(),
                scopes: scope_choices(request.scopes.as_deref().unwrap_or_default()),
                scopes_editable: policy.scopes_editable,
                rate_limit: request.rate_limit.unwrap_or_default(),
                allowed_ips: typed(request.allowed_ips.as_deref().unwrap_or_default()),
                expires_on: request.expires_on.unwrap_or_default(),
                card: card(&row, now)?,
                from,
            };
            modal(&req, &user, status, TITLE, &form)
        }
    }
}
