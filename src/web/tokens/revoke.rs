//! Revoke: confirmed by typing REVOKE; the token is refused by the API from its next
//! request on.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use super::shared::{LIST, Refused, TokenView, in_place, modal, token_of, view};
use crate::db::management_tokens::TokenRow;
use crate::domain::TokenId;
use crate::service::tokens::{self, TokenError};
use crate::web::current_user::CurrentUser;
use crate::web::error::WebError;
use crate::web::forms::Form;
use crate::web::modal as modals;
use crate::web::state::AppState;

const TITLE: &str = "Revoke Management Token";

/// The Revoke form's body.
#[derive(Template)]
#[template(path = "partials/token_revoke.html")]
struct RevokeForm {
    csrf_token: String,
    error: Option<String>,
    token: TokenView,
}

/// Why the token cannot be revoked (it is already), with the way back.
#[derive(Template)]
#[template(path = "partials/token_refused.html")]
struct RefusedView {
    token: TokenView,
    message: String,
}

/// The form, or, for a token revoked already, why there is nothing to do.
fn answer(
    req: &HttpRequest,
    user: &CurrentUser,
    state: &AppState,
    row: &TokenRow,
    refused: Option<Refused>,
) -> Result<HttpResponse, WebError> {
    let token = view(row, state.clock.now());
    if row.revoked_at.is_some() {
        let message = in_place(TokenError::AlreadyRevoked)?;
        let body = RefusedView {
            token,
            message: message.message,
        };
        return modal(req, user, message.status, TITLE, &body);
    }
    let (status, error) = refused.map_or((StatusCode::OK, None), |refused| {
        (refused.status, Some(refused.message))
    });
    let form = RevokeForm {
        csrf_token: user.session.csrf_token(),
        error,
        token,
    };
    modal(req, user, status, TITLE, &form)
}

/// `GET /settings/management-tokens/{token_id}/revoke`: the confirmation.
pub async fn revoke_page(
    req: HttpRequest,
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<TokenId>,
) -> Result<HttpResponse, WebError> {
    let (_, row) = token_of(&user, &state, &path).await?;
    answer(&req, &user, &state, &row, None)
}

/// The Revoke form as sent: the typed word.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct RevokeFields {
    confirm: String,
}

/// `POST /settings/management-tokens/{token_id}/revoke` (field `confirm`, exactly
/// `REVOKE`): revokes the token; a wrong word asks again and changes nothing.
pub async fn revoke(
    req: HttpRequest,
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<TokenId>,
    Form(form): Form<RevokeFields>,
) -> Result<HttpResponse, WebError> {
    let (merchant_id, row) = token_of(&user, &state, &path).await?;
    let (actor, now) = (user.actor(&req), state.clock.now());
    let token_id = row.id.clone();
    let outcome = state
        .db
        .run(move |conn| tokens::revoke(conn, &merchant_id, &token_id, &form.confirm, &actor, now))
        .await;
    match outcome {
        Ok(revoked) => {
            let message = format!(
                "\"{}\" was revoked. Requests with it are refused from now on.",
                revoked.name
            );
            Ok(modals::after_change(&req, &user, LIST, &message))
        }
        Err(err) => {
            let refused = in_place(err)?;
            // Revoked meanwhile (another tab, another admin): the page says so.
            let row = token_of(&user, &state, &row.id).await?.1;
            answer(&req, &user, &state, &row, Some(refused))
        }
    }
}
