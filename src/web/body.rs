//! A deadline on every dashboard request body. Who may make a change is read when the
//! request starts; a body held back for minutes must not carry a change made with a
//! role the member has since lost (the change's transaction checks again, see
//! [`crate::service::authority`]), nor keep a worker's connection busy for as long as a client
//! likes. A body that has not arrived in time ends the request with 408.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::middleware::Next;
use actix_web::web::{Bytes, Data};
use actix_web::{Error, HttpMessage};
use futures_util::Stream;
use tokio::time::Sleep;

/// How long a request body may take to arrive, from the end of its head.
#[derive(Debug, Clone, Copy)]
pub struct BodyDeadline(pub Duration);

/// Middleware: the request's body ends with a timed-out error once its deadline passes;
/// the reader of the body (the CSRF check or the form extractor) answers 408.
pub async fn deadline(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let limit = req.app_data::<Data<BodyDeadline>>().map(|data| data.0);
    if let Some(limit) = limit.filter(|_| !req.method().is_safe()) {
        let inner = req.take_payload();
        req.set_payload(Payload::from(Box::pin(Deadline {
            inner,
            sleep: Box::pin(tokio::time::sleep(limit)),
            expired: false,
        })
            as Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>>));
    }
    next.call(req).await
}

/// True when reading a body failed because its deadline passed.
pub fn timed_out(err: &Error) -> bool {
    matches!(
        err.as_error::<PayloadError>(),
        Some(PayloadError::Io(io)) if io.kind() == io::ErrorKind::TimedOut
    )
}

struct Deadline {
    inner: Payload,
    sleep: Pin<Box<Sleep>>,
    expired: bool,
}

impl Stream for Deadline {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.expired {
            return Poll::Ready(None);
        }
        if let Poll::Ready(item) = Pin::new(&mut self.inner).poll_next(cx) {
            return Poll::Ready(item);
        }
        if self.sleep.as_mut().poll(cx).is_ready() {
            self.expired = true;
            return Poll::Ready(Some(Err(PayloadError::Io(io::Error::new(
                io::ErrorKind::TimedOut,
                "the request body did not arrive in time",
            )))));
        }
        Poll::Pending
    }
}
