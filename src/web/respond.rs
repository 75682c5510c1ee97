//! How the dashboard answers: a rendered page, a redirect, the page for an unknown path,
//! and what it reads of every request.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use anyhow::Context;
use askama::Template;

use crate::web::error::{ErrorPage, WebError};

/// The request's user agent as history keeps it: at most 300 characters.
pub fn user_agent(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(actix_web::http::header::USER_AGENT)
        .and_then(|value| value.to_str().ok())
        .map(|agent| agent.chars().take(300).collect())
}

/// A 303 to `location`: where a plain form post or a page without content of its own
/// sends the browser.
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((actix_web::http::header::LOCATION, location))
        .finish()
}

/// True for requests made by htmx, which get a partial instead of a whole page.
pub fn is_htmx(req: &HttpRequest) -> bool {
    req.headers().contains_key("HX-Request")
}

/// Renders a template as an HTML response with `status`.
pub fn render(status: StatusCode, template: &impl Template) -> Result<HttpResponse, WebError> {
    let body = template.render().context("Failed to render a page template")?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(body))
}

/// The answer to any path no route serves: a JSON error under `/api/`, a page elsewhere.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    if req.path().starts_with("/api/") {
        return HttpResponse::NotFound().json(serde_json::json!({
            "error": {"code": "not_found", "message": "There is no API endpoint at this path."}
        }));
    }
    ErrorPage {
        title: "Page not found",
        message: "There is nothing at this address.",
        error_id: None,
        next_href: "/",
        next_label: "Back to the dashboard",
    }
    .respond(StatusCode::NOT_FOUND)
}
