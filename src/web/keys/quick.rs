//! The reversible actions: Enable and Renew straight from a card or the key's page, and
//! Disable once its confirmation (`disable`) was answered.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::detail::key_page;
use super::list::list_page;
use super::list_query::ListQuery;
use super::origin::Origin;
use super::shared::{done, in_place, managed_key};
use crate::domain::KeyId;
use crate::service::keys;
use crate::web::current_user::CurrentUser;
use crate::web::error::WebError;
use crate::web::format;
use crate::web::state::AppState;

/// A reversible change to a key: Disable, Enable, Renew.
#[derive(Clone, Copy)]
pub enum QuickAction {
    /// Switch an active key off.
    Disable,
    /// Switch a disabled key on.
    Enable,
    /// Move a key's expiry one lifetime ahead.
    Renew,
}

/// `POST /settings/api-credentials/{key_id}/disable`, `…/enable` and `…/renew`; back to
/// where the action was started (`from=key`: the key's page).
pub async fn quick(
    req: HttpRequest,
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<KeyId>,
    action: QuickAction,
) -> Result<HttpResponse, WebError> {
    let key_id = path.into_inner();
    let (merchant, key_row) = managed_key(&user, &state, &key_id).await?;
    let now = state.clock.now();
    let from = Origin::of_query(&req);
    let (actor, merchant_id, id) = (user.actor(&req), merchant.merchant_id.clone(), key_id.clone());
    let outcome = state
        .change_keys(move |conn| match action {
            QuickAction::Disable => keys::disable(conn, &merchant_id, &id, &actor, now),
            QuickAction::Enable => keys::enable(conn, &merchant_id, &id, &actor, now),
            QuickAction::Renew => keys::renew(conn, &merchant_id, &id, &actor, now),
        })
        .await;
    match outcome {
        Ok(row) => {
            let message = match action {
                QuickAction::Disable => {
                    format!("\"{}\" was disabled. Enable it again at any time.", row.name)
                }
                QuickAction::Enable => format!("\"{}\" was enabled.", row.name),
                QuickAction::Renew => format!(
                    "\"{}\" was renewed; it now expires {}.",
                    row.name,
                    row.expires_at.map(format::datetime).unwrap_or_default()
                ),
            };
            Ok(done(&req, &user, &from.after_change(&row), &message))
        }
        Err(err) => {
            let (status, message): (StatusCode, String) = in_place(err)?;
            match from {
                Origin::KeyPage => {
                    key_page(&user, &state, &key_id, status, Some(message), &Default::default()).await
                }
                Origin::List => {
                    let list = ListQuery {
                        environment: key_row.environment,
                        ..ListQuery::default()
                    };
                    list_page(&user, &state, status, Some(message), &list).await
                }
            }
        }
    }
}
