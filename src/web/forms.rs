//! Form bodies as name/value pairs, so that repeated fields (scope checkboxes) and
//! missing ones are both plain to handle.

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;

use crate::domain::ValidationError;
use crate::web::error::WebError;

/// The largest form body accepted.
pub const MAX_FORM_BYTES: usize = 64 * 1024;

/// A urlencoded form body.
#[derive(Debug, Default)]
pub struct FormFields(pub(crate) Vec<(String, String)>);

impl FormFields {
    /// The first value of `name`, or "" when absent.
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(field, _)| field == name)
            .map_or("", |(_, value)| value.as_str())
    }

    /// Every value of `name`, in order.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(field, _)| field == name)
            .map(|(_, value)| value.clone())
            .collect()
    }

    /// True when a checkbox named `name` was ticked.
    pub fn checked(&self, name: &str) -> bool {
        self.0.iter().any(|(field, _)| field == name)
    }
}

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

impl FromRequest for FormFields {
    type Error = WebError;
    type Future = LocalBoxFuture<'static, Result<Self, WebError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
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
            serde_urlencoded::from_bytes(&body).map(FormFields).map_err(|_| {
                WebError::BadRequest("The form could not be read. Reload the page and try again.")
            })
        })
    }
}
