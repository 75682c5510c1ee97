//! What every area of API Credentials shares: finding the key, the scope choices, and
//! showing a refusal in place or a finished change.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use askama::Template;

use super::cards::{KeyCard, card};
use super::origin::Origin;
use crate::db::keys::KeyRow;
use crate::db::memberships::MerchantAccess;
use crate::db::{DbError, key_policies, keys as key_rows};
use crate::domain::{
    AllowedActions, KeyId, KeyPolicy, KeyStatus, KeySurroundings, MerchantId, Refusal, Scope, allowed_actions,
};
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

/// After a change: back to `location` with a message (htmx reloads the page there).
pub(super) fn done(req: &HttpRequest, user: &CurrentUser, location: &str, message: &str) -> HttpResponse {
    modal::after_change(req, user, location, message)
}

/// What `row` offers the user now: [`allowed_actions`] asked with what the rules look
/// at, read as the list reads it.
pub(super) async fn offers(
    state: &AppState,
    merchant: &MerchantAccess,
    row: &KeyRow,
) -> Result<AllowedActions, WebError> {
    let now = state.clock.now();
    let facts = row.facts();
    let (merchant_id, lineage_id, environment) = (
        merchant.merchant_id.clone(),
        row.lineage_id.clone(),
        row.environment,
    );
    let (policy, active_keys, lineage_in_grace) = state
        .db
        .run(move |conn| -> Result<_, DbError> {
            Ok((
                key_policies::get(conn, &merchant_id)?,
                key_rows::count_active(conn, &merchant_id, environment, now)?,
                key_rows::lineage_in_grace(conn, &lineage_id, now)?,
            ))
        })
        .await?;
    Ok(allowed_actions(
        &facts,
        &KeySurroundings {
            // A version in its own grace period does not hold its lineage back.
            lineage_in_grace: lineage_in_grace && !facts.in_grace(now),
            active_keys,
            policy: &policy,
            role: merchant.role,
            now,
        },
    ))
}

/// Why an action is not offered, with the way back.
#[derive(Template)]
#[template(path = "partials/refused.html")]
struct RefusedView {
    card: Option<KeyCard>,
    message: String,
    back: String,
    back_label: &'static str,
}

/// The answer to an action's address when the rules refuse the action: the refusal's
/// message and a link back, where the form would only fail once sent (409).
pub(super) fn refused(
    req: &HttpRequest,
    user: &CurrentUser,
    title: &str,
    row: Option<&KeyRow>,
    refusal: &Refusal,
    origin: Origin,
    now: time::PrimitiveDateTime,
) -> Result<HttpResponse, WebError> {
    let view = RefusedView {
        card: row.map(|row| card(row, now)).transpose()?,
        message: refusal.to_string(),
        back: row.map_or_else(|| LIST.to_owned(), |row| origin.after_change(row)),
        back_label: origin.back_label(),
    };
    modal(req, user, StatusCode::CONFLICT, title, &view)
}

/// The key a form acts on, for a user who may change keys, when the rule `pick` names
/// lets the action through; otherwise the page that says why ([`refused`]).
pub(super) async fn offered_key(
    req: &HttpRequest,
    user: &CurrentUser,
    state: &AppState,
    key_id: &KeyId,
    title: &str,
    pick: fn(&AllowedActions) -> &Result<(), Refusal>,
) -> Result<Result<(MerchantAccess, KeyRow), HttpResponse>, WebError> {
    let (merchant, row) = managed_key(user, state, key_id).await?;
    let allowed = offers(state, &merchant, &row).await?;
    match pick(&allowed) {
        Ok(()) => Ok(Ok((merchant, row))),
        Err(refusal) => {
            let origin = Origin::of_query(req);
            refused(req, user, title, Some(&row), refusal, origin, state.clock.now()).map(Err)
        }
    }
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
