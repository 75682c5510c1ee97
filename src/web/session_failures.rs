//! The answer when the session cannot be written: the error page in place of the
//! response, instead of the empty 500 actix-session would send without the security
//! headers, the request ID or a log line.

use actix_web::ResponseError;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;

use crate::web::error::WebError;
use crate::web::session_store::watching_writes;

/// Middleware around the session middleware: when the store could not write the
/// session, answers the error page with the store's cause (the response and the cookie
/// it would have set are dropped), so the request log writes it with an error ID.
pub async fn answer(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let (outcome, write_failure) = watching_writes(next.call(req)).await;
    let res = outcome?;
    let Some(err) = write_failure else {
        return Ok(res.map_into_left_body());
    };
    let error = if err.is_transient() {
        WebError::SessionNotSaved(err)
    } else {
        WebError::Unexpected(anyhow::Error::new(err).context("Failed to save the session"))
    };
    let (request, _) = res.into_parts();
    Ok(ServiceResponse::new(request, error.error_response()).map_into_right_body())
}
