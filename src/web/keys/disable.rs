//! Disable asks first: integrations using the key stop working until it is enabled
//! again, so the first click opens a confirmation whose button disables (VTEX: "click
//! Deactivate again to confirm"). Enable needs none.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use super::cards::{KeyCard, card};
use super::origin::Origin;
use super::shared::{modal, offered_key};
use crate::domain::KeyId;
use crate::web::current_user::CurrentUser;
use crate::web::error::WebError;
use crate::web::state::AppState;

const TITLE: &str = "Disable API Key";

/// The Disable confirmation's body.
#[derive(Template)]
#[template(path = "partials/disable_form.html")]
struct DisableForm {
    csrf_token: String,
    card: KeyCard,
    from: Origin,
}

/// `GET /settings/api-credentials/{key_id}/disable`: what disabling does, and the
/// button that does it (a `POST` to the same address), or why the key cannot be
/// disabled.
pub async fn disable_page(
    req: HttpRequest,
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<KeyId>,
) -> Result<HttpResponse, WebError> {
    let (_, row) = match offered_key(&req, &user, &state, &path, TITLE, |allowed| &allowed.disable).await? {
        Ok(offered) => offered,
        Err(refused) => return Ok(refused),
    };
    let form = DisableForm {
        csrf_token: user.session.csrf_token(),
        card: card(&row, state.clock.now())?,
        from: Origin::of_query(&req),
    };
    modal(&req, &user, StatusCode::OK, TITLE, &form)
}
