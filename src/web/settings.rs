//! Settings: the merchant's pages and the merchant switcher.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use serde::Deserialize;

use crate::error::WebError;
use crate::web::current_user::CurrentUser;

/// `GET /settings`: the first settings page.
pub async fn index(_user: CurrentUser) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/settings/api-credentials"))
        .finish()
}

/// The merchant switcher's field.
#[derive(Deserialize)]
pub struct SwitchMerchant {
    merchant_id: String,
}

/// `POST /settings/merchant`: works in another of the user's merchants. A merchant the
/// user does not belong to is not found, whether or not it exists.
pub async fn switch_merchant(
    user: CurrentUser,
    form: web::Form<SwitchMerchant>,
) -> Result<HttpResponse, WebError> {
    let merchant = user
        .merchants
        .iter()
        .find(|m| m.merchant_id == form.merchant_id)
        .ok_or(WebError::NotFound)?;
    user.session.set_merchant_id(&merchant.merchant_id);
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/settings/api-credentials"))
        .finish())
}
