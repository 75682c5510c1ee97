//! One log line per request: method, path, status, latency and a request ID. Never the
//! query string, a header value, a cookie or a body, so no secret reaches the logs.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::HeaderValue;
use actix_web::middleware::Next;

use crate::error::Failure;

/// The response header that carries the request ID.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Middleware: logs each request once it is answered; a server-side failure also logs
/// its error ID and the whole cause chain.
pub async fn log(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let request_id = uuid::Uuid::new_v4().simple().to_string();
    let method = req.method().to_string();
    // A key sent in an address (by mistake, or to probe) is logged masked.
    let path = crate::domain::ApiKey::mask_in(req.path());
    let mut res = next.call(req).await?;
    let status = res.status().as_u16();
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
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
