//! Modals: a dialog fragment for htmx, a page of its own without JavaScript, and the
//! answer after a change made from one.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse};
use askama::Template;

use crate::web::current_user::CurrentUser;
use crate::web::error::WebError;
use crate::web::respond::{is_htmx, render};
use crate::web::shell::{Area, Shell};

/// A modal in its frame, for htmx.
#[derive(Template)]
#[template(path = "partials/modal.html")]
struct ModalFrame<'a> {
    title: &'a str,
    body: &'a str,
}

/// A modal as a page of its own, in the settings layout.
#[derive(Template)]
#[template(path = "settings/modal_page.html")]
struct ModalPage<'a> {
    shell: Shell,
    title: &'a str,
    body: &'a str,
}

/// Renders `body` as a modal for htmx and as a page under the settings page `active`
/// otherwise.
pub fn show(
    req: &HttpRequest,
    user: &CurrentUser,
    active: Area,
    status: StatusCode,
    title: &str,
    body: &impl Template,
) -> Result<HttpResponse, WebError> {
    let body = body.render().map_err(|err| WebError::Unexpected(err.into()))?;
    if is_htmx(req) {
        render(status, &ModalFrame { title, body: &body })
    } else {
        render(
            status,
            &ModalPage {
                shell: Shell::new(user, active),
                title,
                body: &body,
            },
        )
    }
}

/// Marks an answer that carries a secret shown once (a key, a one-time password): no
/// cache may keep it, since the server keeps no copy.
pub fn no_store(mut response: HttpResponse) -> HttpResponse {
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}

/// After a change: to `location` with a message (htmx reloads the page there).
pub fn after_change(req: &HttpRequest, user: &CurrentUser, location: &str, message: &str) -> HttpResponse {
    user.session.set_flash(message);
    if is_htmx(req) {
        HttpResponse::Ok()
            .insert_header(("HX-Redirect", location))
            .finish()
    } else {
        crate::web::respond::see_other(location)
    }
}
