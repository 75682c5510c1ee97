//! The irreversible actions, Revoke and Delete, each confirmed in its dialog.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use super::cards::{KeyCard, card};
use super::origin::Origin;
use super::shared::{LIST, done, in_place, managed_key, modal, offered_key};
use crate::db::keys::KeyRow;
use crate::domain::{AllowedActions, KeyId, Refusal};
use crate::service::keys;
use crate::web::current_user::CurrentUser;
use crate::web::error::WebError;
use crate::web::forms::Form;
use crate::web::state::AppState;

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

    /// The rule that decides whether the action is offered.
    fn rule(self) -> fn(&AllowedActions) -> &Result<(), Refusal> {
        match self {
            Irreversible::Revoke => |allowed| &allowed.revoke,
            Irreversible::Delete => |allowed| &allowed.delete,
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
    from: Origin,
}

async fn confirm_form(
    req: &HttpRequest,
    user: &CurrentUser,
    state: &AppState,
    row: &KeyRow,
    action: Irreversible,
    refused: Option<(StatusCode, String)>,
    from: Origin,
) -> Result<HttpResponse, WebError> {
    let (status, error) = refused.map_or((StatusCode::OK, None), |(status, message)| {
        (status, Some(message))
    });
    let form = ConfirmForm {
        csrf_token: user.session.csrf_token(),
        error,
        card: card(row, state.clock.now())?,
        revoke: action == Irreversible::Revoke,
        from,
    };
    modal(req, user, status, action.title(), &form)
}

/// `GET /settings/api-credentials/{key_id}/revoke` and `…/delete`: the form, or why
/// the key cannot be revoked or deleted now.
pub async fn confirm_page(
    req: HttpRequest,
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<KeyId>,
    action: Irreversible,
) -> Result<HttpResponse, WebError> {
    let (_, row) = match offered_key(&req, &user, &state, &path, action.title(), action.rule()).await? {
        Ok(offered) => offered,
        Err(refused) => return Ok(refused),
    };
    let from = Origin::of_query(&req);
    confirm_form(&req, &user, &state, &row, action, None, from).await
}

/// The Revoke and Delete confirmations as sent: the typed word, or the ticked box.
#[derive(Default, serde::Deserialize)]
#[serde(default)]
pub struct ConfirmFields {
    confirm: String,
    understood: Option<String>,
}

/// `POST /settings/api-credentials/{key_id}/revoke` (field `confirm`, exactly
/// `REVOKE`) and `…/delete` (checkbox `understood`).
pub async fn confirm(
    req: HttpRequest,
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<KeyId>,
    Form(form): Form<ConfirmFields>,
    action: Irreversible,
) -> Result<HttpResponse, WebError> {
    let (merchant, row) = managed_key(&user, &state, &path).await?;
    let now = state.clock.now();
    let (actor, merchant_id, key_id) = (user.actor(&req), merchant.merchant_id.clone(), row.id.clone());
    let (confirmation, understood) = (form.confirm, form.understood.is_some());
    let from = Origin::of_query(&req);
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
            // A deleted key leaves the lists: the list is where its deletion is seen.
            let location = match action {
                Irreversible::Revoke => from.after_change(&row),
                Irreversible::Delete => LIST.to_owned(),
            };
            Ok(done(&req, &user, &location, &message))
        }
        Err(err) => confirm_form(&req, &user, &state, &row, action, Some(in_place(err)?), from).await,
    }
}
