//! Rotate: a new version, the old one kept for the chosen grace period.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use time::PrimitiveDateTime;

use super::cards::{KeyCard, card};
use super::generate::reveal;
use super::origin::Origin;
use super::shared::{in_place, managed_key, modal, offered_key, policy_of};
use crate::db::keys::KeyRow;
use crate::domain::{GracePeriod, KeyId};
use crate::service::keys::{self, KeyError, Rotate};
use crate::web::current_user::CurrentUser;
use crate::web::error::WebError;
use crate::web::forms::Form;
use crate::web::state::AppState;

const TITLE: &str = "Rotate API Key";

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
    from: Origin,
}

fn rotate_form(
    user: &CurrentUser,
    row: &KeyRow,
    now: PrimitiveDateTime,
    chosen: GracePeriod,
    error: Option<String>,
    from: Origin,
) -> Result<RotateForm, WebError> {
    Ok(RotateForm {
        from,
        csrf_token: user.session.csrf_token(),
        nonce: user.session.issue_form_nonce(),
        error,
        card: card(row, now)?,
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

/// `GET /settings/api-credentials/{key_id}/rotate`: the form, or why the key cannot be
/// rotated now.
pub async fn rotate_page(
    req: HttpRequest,
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<KeyId>,
) -> Result<HttpResponse, WebError> {
    let (merchant, row) =
        match offered_key(&req, &user, &state, &path, TITLE, |allowed| &allowed.rotate).await? {
            Ok(offered) => offered,
            Err(refused) => return Ok(refused),
        };
    let policy = policy_of(&state, &merchant.merchant_id).await?;
    let from = Origin::of_query(&req);
    let form = rotate_form(&user, &row, state.clock.now(), policy.default_grace, None, from)?;
    modal(&req, &user, StatusCode::OK, TITLE, &form)
}

/// The Rotate form as sent.
#[derive(Default, serde::Deserialize)]
#[serde(default)]
pub struct RotateFields {
    nonce: String,
    grace: String,
}

/// `POST /settings/api-credentials/{key_id}/rotate`: answers with the new key's Reveal.
pub async fn rotate(
    req: HttpRequest,
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<KeyId>,
    Form(form): Form<RotateFields>,
) -> Result<HttpResponse, WebError> {
    let (merchant, row) = managed_key(&user, &state, &path).await?;
    let nonce = form.nonce;
    let from = Origin::of_query(&req);
    if !user.session.consume_form_nonce(&nonce) {
        return Err(WebError::AlreadySubmitted);
    }
    let now = state.clock.now();
    let grace = GracePeriod::parse(&form.grace);
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
                    let command = Rotate {
                        key_id: &key_id,
                        grace,
                        request_id: Some(&nonce),
                    };
                    keys::rotate(conn, &merchant_id, &command, &actor, &pepper, now)
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
            let form = rotate_form(&user, &row, now, chosen, Some(message), from)?;
            modal(&req, &user, status, TITLE, &form)
        }
    }
}
