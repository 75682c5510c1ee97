//! The Management Tokens page: every token of the merchant, revoked ones included.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use super::shared::{TokenView, view};
use crate::db::management_tokens;
use crate::web::current_user::CurrentUser;
use crate::web::error::WebError;
use crate::web::respond::render;
use crate::web::shell::{Area, Shell};
use crate::web::state::AppState;

/// Settings → Management Tokens.
#[derive(Template)]
#[template(path = "settings/management_tokens.html")]
struct TokensPage {
    shell: Shell,
    flash: Option<String>,
    tokens: Vec<TokenView>,
}

/// `GET /settings/management-tokens`: the merchant's tokens, newest first, for admins.
pub async fn page(user: CurrentUser, state: web::Data<AppState>) -> Result<HttpResponse, WebError> {
    let merchant_id = user.admin()?.merchant_id.clone();
    let rows = state
        .db
        .run(move |conn| management_tokens::list(conn, &merchant_id))
        .await?;
    let now = state.clock.now();
    render(
        StatusCode::OK,
        &TokensPage {
            shell: Shell::new(&user, Area::ManagementTokens),
            flash: user.session.take_flash(),
            tokens: rows.iter().map(|row| view(row, now)).collect(),
        },
    )
}
