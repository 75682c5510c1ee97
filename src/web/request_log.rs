//! One log line per request: method, path, status, latency and a request ID. Never the
//! query string, a header value, a cookie or a body, so no secret reaches the logs.
//! Each request is also counted in the server's metrics under its route pattern.

use std::time::Instant;

use actix_web::HttpMessage;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::HeaderValue;
use actix_web::middleware::Next;
use actix_web::web::Data;

use crate::api::RequestId;

use crate::error::Failure;
use crate::telemetry::{Metrics, UNMATCHED_ROUTE};

/// The response header that carries the request ID.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Middleware: logs each request once it is answered; a server-side failure also logs
/// its error ID and the whole cause chain.
pub async fn log(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let request_id = RequestId::new();
    req.extensions_mut().insert(request_id.clone());
    let request_id = request_id.as_str().to_owned();
    let method = req.method().to_string();
    // A key sent in an address (by mistake, or to probe) is logged masked.
    let path = crate::domain::ApiKey::mask_in(req.path());
    let metrics = req.app_data::<Data<Metrics>>().cloned();
    let mut res = next.call(req).await?;
    let status = res.status().as_u16();
    let took = started.elapsed();
    let latency_ms = took.as_secs_f64() * 1000.0;
    if let Some(metrics) = metrics {
        // The pattern, never the path: one label per route however many IDs are asked for.
        let route = res.request().match_pattern();
        metrics.http_request(route.as_deref().unwrap_or(UNMATCHED_ROUTE), status, took);
    }
    let failure = res.response().extensions().get::<Failure>().cloned();
    if let Some(Failure { id: error_id, cause }) = failure {
        tracing::error!(%request_id, %method, %path, status, latency_ms, %error_id, %cause, "request failed");
    } else {
        tracing::info!(%request_id, %method, %path, status, latency_ms, "request");
    }
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        res.headers_mut().insert(
            actix_web::http::header::HeaderName::from_static(REQUEST_ID_HEADER),
            value,
        );
    }
    Ok(res)
}
