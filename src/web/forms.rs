//! Form bodies and query strings read into typed structs at the edge (`Form<T>`,
//! `Query<T>`), with the body rules every dashboard change shares: urlencoded only, at
//! most [`MAX_FORM_BYTES`], within the body deadline. `serde_html_form` reads repeated
//! fields (scope checkboxes) into a `Vec`; a field sent twice where one is expected is
//! a 400, not a guess.

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

use crate::domain::ValidationError;
use crate::web::error::WebError;

/// The largest form body accepted.
pub const MAX_FORM_BYTES: usize = 64 * 1024;

/// A validation error as a sentence for a page: capitalised, ending in a full stop.
pub fn sentence(err: &ValidationError) -> String {
    let text = err.to_string();
    let mut chars = text.chars();
    let first = chars
        .next()
        .map(|c| c.to_uppercase().collect::<String>())
        .unwrap_or_default();
    let stop = if text.ends_with('.') { "" } else { "." };
    format!("{first}{}{stop}", chars.as_str())
}

/// A urlencoded form body read into `T` (its fields `#[serde(default)]` where a missing
/// field means empty, as browsers leave out unticked checkboxes).
#[derive(Debug)]
pub struct Form<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for Form<T> {
    type Error = WebError;
    type Future = LocalBoxFuture<'static, Result<Self, WebError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = form_body(req, payload);
        Box::pin(async move {
            let body = body.await?;
            serde_html_form::from_bytes(&body)
                .map(Form)
                .map_err(|_| UNREADABLE_FORM)
        })
    }
}

/// A query string read into `T`; one that does not fit is a 400 page.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned> FromRequest for Query<T> {
    type Error = WebError;
    type Future = std::future::Ready<Result<Self, WebError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(
            serde_html_form::from_str(req.query_string())
                .map(Query)
                .map_err(|_| {
                    WebError::BadRequest("The address could not be read. Check the link and try again.")
                }),
        )
    }
}

const UNREADABLE_FORM: WebError =
    WebError::BadRequest("The form could not be read. Reload the page and try again.");

/// The body of a dashboard form, under the rules every change shares.
fn form_body(req: &HttpRequest, payload: &mut Payload) -> LocalBoxFuture<'static, Result<Bytes, WebError>> {
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/x-www-form-urlencoded"));
    let body = Bytes::from_request(req, payload);
    Box::pin(async move {
        if !is_form {
            return Err(WebError::UnsupportedMediaType);
        }
        let body = body.await.map_err(|err| {
            if crate::web::body::timed_out(&err) {
                WebError::BodyTimeout
            } else {
                WebError::PayloadTooLarge
            }
        })?;
        if body.len() > MAX_FORM_BYTES {
            return Err(WebError::PayloadTooLarge);
        }
        Ok(body)
    })
}
