//! Settings: the merchant's pages and the merchant switcher.

use actix_web::HttpResponse;

use crate::domain::MerchantId;
use crate::web::current_user::CurrentUser;
use crate::web::error::WebError;
use crate::web::forms::Form;
use crate::web::respond::see_other;

/// `GET /settings`: the first settings page.
pub async fn index(_user: CurrentUser) -> HttpResponse {
    see_other(crate::web::paths::API_CREDENTIALS)
}

/// The merchant switcher's form.
#[derive(serde::Deserialize)]
pub struct SwitchForm {
    #[serde(default)]
    merchant_id: String,
}

/// `POST /settings/merchant` (field `merchant_id`): works in another of the user's merchants. A merchant the
/// user does not belong to is not found, whether or not it exists.
pub async fn switch_merchant(
    user: CurrentUser,
    Form(form): Form<SwitchForm>,
) -> Result<HttpResponse, WebError> {
    let wanted = MerchantId::parse(&form.merchant_id).map_err(|_| WebError::NotFound)?;
    let merchant = user
        .merchants
        .iter()
        .find(|m| m.merchant_id == wanted)
        .ok_or(WebError::NotFound)?;
    user.session.set_merchant_id(&merchant.merchant_id);
    Ok(see_other(crate::web::paths::API_CREDENTIALS))
}
