//! What every layer shares about errors. Imports nothing of ours, so any layer may use
//! it; each layer's own error type lives in that layer (`web::error`, `api::error`).

use std::error::Error as StdError;

/// An error and its sources on one line: `outer: cause: root cause`. Messages that
/// span lines (libpq's do) are folded, so a log line or a CLI error stays one line.
pub fn cause_chain(err: &(dyn StdError + 'static)) -> String {
    let mut parts = vec![one_line(&err.to_string())];
    let mut source = err.source();
    while let Some(cause) = source {
        parts.push(one_line(&cause.to_string()));
        source = cause.source();
    }
    parts.join(": ")
}

fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A server-side failure as its response carries it: the ID the page or the JSON error
/// shows, and the cause chain the request log writes beside it on the request's line.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The error ID to quote to support.
    pub id: String,
    /// The error and its sources on one line.
    pub cause: String,
}

impl Failure {
    /// A new error ID for `err`.
    pub fn of(err: &(dyn StdError + 'static)) -> Self {
        Self {
            id: uuid::Uuid::new_v4().simple().to_string(),
            cause: cause_chain(err),
        }
    }
}
