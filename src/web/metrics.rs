//! `GET /metrics`: the server's metrics in the Prometheus text format. Served on the main
//! listener only behind the operator's bearer token, or without one on a listener of its
//! own (`KEYWARD_METRICS_BIND`) that is not the public port.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};

use crate::config::MetricsToken;
use crate::db::Db;
use crate::telemetry::Metrics;
use crate::web::paths;

/// The Prometheus text format's media type.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What a scrape reads, and the token it must present (none on a listener of its own).
#[derive(Debug, Clone)]
pub struct Scrape {
    /// The server's metrics.
    pub metrics: Metrics,
    /// The pool whose connections are reported at each scrape.
    pub db: Db,
    /// The bearer token asked for, if any.
    pub token: Option<MetricsToken>,
}

/// Why a scrape was refused.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// No `Authorization: Bearer …` header.
    #[error("Send the metrics token in the header `Authorization: Bearer <token>`.")]
    MissingToken,
    /// A token that is not the metrics token.
    #[error("This is not the metrics token.")]
    InvalidToken,
}

impl MetricsError {
    /// The stable error code, as the management API names the same refusals.
    pub fn code(&self) -> &'static str {
        match self {
            MetricsError::MissingToken => "missing_token",
            MetricsError::InvalidToken => "invalid_token",
        }
    }
}

impl ResponseError for MetricsError {
    fn status_code(&self) -> StatusCode {
        StatusCode::UNAUTHORIZED
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::Unauthorized()
            .insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")))
            .json(serde_json::json!({"error": {"code": self.code(), "message": self.to_string()}}))
    }
}

/// Registers `GET /metrics`, answered from `scrape`.
pub fn routes(cfg: &mut web::ServiceConfig, scrape: Scrape) {
    cfg.app_data(web::Data::new(scrape))
        .service(web::resource(paths::METRICS).route(web::get().to(render)));
}

/// Checks the bearer token when one is asked for. The token is compared in constant
/// time and never logged.
fn check(req: &HttpRequest, token: &MetricsToken) -> Result<(), MetricsError> {
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or(MetricsError::MissingToken)?
        .as_bytes();
    let presented = value
        .get(..7)
        .filter(|scheme| scheme.eq_ignore_ascii_case(b"Bearer "))
        .and_then(|_| value.get(7..))
        .ok_or(MetricsError::InvalidToken)?;
    if token.matches(presented.trim_ascii()) {
        Ok(())
    } else {
        Err(MetricsError::InvalidToken)
    }
}

async fn render(req: HttpRequest, scrape: web::Data<Scrape>) -> Result<HttpResponse, MetricsError> {
    if let Some(token) = &scrape.token {
        check(&req, token)?;
    }
    let (in_use, idle) = scrape.db.pool_connections();
    scrape.metrics.pool_connections(in_use, idle);
    Ok(HttpResponse::Ok()
        .content_type(CONTENT_TYPE)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(scrape.metrics.render()))
}
