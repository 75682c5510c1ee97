//! Reveal on a test key's card: the key shown once more, where the Key Policy lets test
//! keys be revealed again. A `POST` (with the CSRF token), so that no link, prefetch or
//! back button shows a key; the answer is the Reveal panel, never stored.

use actix_web::{HttpRequest, HttpResponse, web};

use super::generate::reveal_again;
use super::origin::Origin;
use super::shared::{in_place, managed_key, refused};
use crate::domain::KeyId;
use crate::service::keys::{self, KeyError};
use crate::web::current_user::CurrentUser;
use crate::web::error::WebError;
use crate::web::state::AppState;

const TITLE: &str = "Reveal API Key";

/// `POST /settings/api-credentials/{key_id}/reveal`: the test key once more, or why it
/// cannot be shown.
pub async fn reveal(
    req: HttpRequest,
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<KeyId>,
) -> Result<HttpResponse, WebError> {
    let (merchant, row) = managed_key(&user, &state, &path).await?;
    let now = state.clock.now();
    let (actor, pepper, merchant_id, key_id) = (
        user.actor(&req),
        state.pepper.clone(),
        merchant.merchant_id.clone(),
        row.id.clone(),
    );
    let outcome = state
        .db
        .run(move |conn| keys::reveal(conn, &merchant_id, &key_id, &actor, &pepper, now))
        .await;
    match outcome {
        Ok(revealed) => reveal_again(&req, &user, &revealed, now),
        Err(KeyError::Refused(refusal)) => refused(
            &req,
            &user,
            TITLE,
            Some(&row),
            &refusal,
            Origin::of_query(&req),
            now,
        ),
        Err(err) => Err(in_place(err).err().unwrap_or(WebError::NotFound)),
    }
}
