//! What every area of API Credentials shares: finding the key, the scope choices, and
//! showing a refusal in place or a finished change.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use askama::Template;

use crate::db::keys::KeyRow;
use crate::db::memberships::MerchantAccess;
use crate::db::{key_policies, keys as key_rows};
use crate::domain::{KeyId, KeyPolicy, KeyStatus, MerchantId, Scope};
use crate::service::keys::KeyError;
use crate::web::current_user::CurrentUser;
use crate::web::error::WebError;
use crate::web::forms::sentence;
use crate::web::modal;
use crate::web::shell::Area;
use crate::web::state::AppState;

pub(super) const LIST: &str = crate::web::paths::API_CREDENTIALS;

/// One scope as a checkbox.
pub struct ScopeChoice {
    /// `orders:read`.
    pub name: &'static str,
    /// What it allows.
    pub description: &'static str,
    /// Ticked.
    pub checked: bool,
}

pub(super) fn scope_choices(selected: &[String]) -> Vec<ScopeChoice> {
    Scope::ALL
        .into_iter()
        .map(|scope| ScopeChoice {
            name: scope.as_str(),
            description: scope.description(),
            checked: selected.iter().any(|name| name == scope.as_str()),
        })
        .collect()
}

/// A modal in its frame (for htmx) or as a page of its own (without JavaScript).
pub(super) fn modal(
    req: &HttpRequest,
    user: &CurrentUser,
    status: StatusCode,
    title: &str,
    body: &impl Template,
) -> Result<HttpResponse, WebError> {
    modal::show(req, user, Area::ApiCredentials, status, title, body)
}

/// After a change: back to the list with a message (htmx reloads the page).
pub(super) fn done(req: &HttpRequest, user: &CurrentUser, message: &str) -> HttpResponse {
    modal::after_change(req, user, LIST, message)
}

/// How a refused or invalid action is shown in place: its message and status.
pub(super) fn in_place(err: KeyError) -> Result<(StatusCode, String), WebError> {
    match err {
        KeyError::Invalid(err) => Ok((StatusCode::UNPROCESSABLE_ENTITY, sentence(&err))),
        KeyError::NameTaken(_) | KeyError::Refused(_) => Ok((StatusCode::CONFLICT, err.to_string())),
        KeyError::NotFound => Err(WebError::NotFound),
        KeyError::NotPermitted => Err(WebError::Forbidden),
        KeyError::AlreadySubmitted => Err(WebError::AlreadySubmitted),
        KeyError::Db(err) => Err(err.into()),
    }
}

pub(super) async fn policy_of(state: &AppState, merchant_id: &MerchantId) -> Result<KeyPolicy, WebError> {
    let merchant_id = merchant_id.to_owned();
    Ok(state
        .db
        .run(move |conn| key_policies::get(conn, &merchant_id))
        .await?)
}

/// The merchant and the key a change names, for a user who may change keys. The key is
/// looked up first: another merchant's key is not found, whatever the user's role.
pub(super) async fn managed_key(
    user: &CurrentUser,
    state: &AppState,
    key_id: &KeyId,
) -> Result<(MerchantAccess, KeyRow), WebError> {
    let merchant = user.merchant()?;
    let row = key_of(state, &merchant.merchant_id, key_id).await?;
    Ok((user.key_manager()?.clone(), row))
}

/// A key of this merchant that was not deleted: what changes act on.
pub(super) async fn key_of(
    state: &AppState,
    merchant_id: &MerchantId,
    key_id: &KeyId,
) -> Result<KeyRow, WebError> {
    let row = any_key_of(state, merchant_id, key_id).await?;
    if row.status == KeyStatus::Deleted {
        return Err(WebError::NotFound);
    }
    Ok(row)
}

/// A key of this merchant in any state, deleted included; another merchant's key is
/// not found.
pub(super) async fn any_key_of(
    state: &AppState,
    merchant_id: &MerchantId,
    key_id: &KeyId,
) -> Result<KeyRow, WebError> {
    let (merchant_id, key_id) = (merchant_id.to_owned(), key_id.to_owned());
    state
        .db
        .run(move |conn| key_rows::find(conn, &merchant_id, &key_id))
        .await?
        .ok_or(WebError::NotFound)
}
