//! The dashboard's error type and how each error becomes a page.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use askama::Template;

use crate::db::DbError;
use crate::error::Failure;

/// Why a dashboard request could not be served.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// Nobody is signed in, or the session ended.
    #[error("sign-in required")]
    SignInRequired {
        /// The request came from htmx, which needs `HX-Redirect` to leave the page.
        htmx: bool,
    },
    /// The account still has its one-time password and must choose its own first.
    #[error("a new password is required")]
    PasswordChangeRequired {
        /// The request came from htmx, which needs `HX-Redirect` to leave the page.
        htmx: bool,
    },
    /// The signed-in user may not do this.
    #[error("forbidden")]
    Forbidden,
    /// Support staff tried a change; they read only (the attempt is in the audit log).
    #[error("support staff have read-only access")]
    ReadOnly,
    /// A change arrived without this session's CSRF token, or from another site.
    #[error("the request was refused: {0}")]
    CsrfRejected(&'static str),
    /// A visitor's form came without its cookie over plain HTTP: the browser refused the
    /// `Secure` cookie, so the form can never succeed there.
    #[error("the browser did not keep the sign-in cookie over plain HTTP")]
    CookieNotKept,
    /// Nothing here, or nothing this user may know exists.
    #[error("not found")]
    NotFound,
    /// The request body is not a form.
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// The request body is too large.
    #[error("payload too large")]
    PayloadTooLarge,
    /// The request body did not arrive within its deadline; nothing was changed.
    #[error("the request body did not arrive in time")]
    BodyTimeout,
    /// The request could not be read.
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    /// The same form was submitted twice (a refresh, the back button, a replay).
    #[error("form already submitted")]
    AlreadySubmitted,
    /// The database is out of reach, saturated or locked; retrying later may work.
    #[error("the database is unavailable")]
    Unavailable(#[source] DbError),
    /// The session could not be read because the database is out of reach.
    #[error("the session store is unavailable")]
    SessionsUnavailable,
    /// The answer was ready but the session it changed could not be saved (the database
    /// is out of reach, full or read-only).
    #[error("the session could not be saved")]
    SessionNotSaved(#[source] DbError),
    /// Anything else: a bug or an unexpected failure.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<DbError> for WebError {
    fn from(err: DbError) -> Self {
        if err.is_transient() {
            WebError::Unavailable(err)
        } else {
            WebError::Unexpected(anyhow::Error::new(err))
        }
    }
}

/// An error page in the site layout.
#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage<'a> {
    /// The status line's reason, as a title.
    pub title: &'a str,
    /// What happened and what to do.
    pub message: &'a str,
    /// For a server-side failure, the ID to quote to support.
    pub error_id: Option<&'a str>,
    /// Where the page's one link goes.
    pub next_href: &'a str,
    /// The link's label.
    pub next_label: &'a str,
}

impl ErrorPage<'_> {
    /// Renders the page with `status`. Falls back to plain text if the template fails,
    /// since an error page must never itself fail.
    pub fn respond(&self, status: StatusCode) -> HttpResponse {
        let mut response = HttpResponse::build(status);
        // An htmx request swaps its answer into a modal; an error page replaces the
        // whole page instead, as it would without JavaScript.
        response.insert_header(("HX-Retarget", "body"));
        response.insert_header(("HX-Reswap", "innerHTML"));
        match self.render() {
            Ok(body) => response.content_type("text/html; charset=utf-8").body(body),
            Err(_) => response
                .content_type("text/plain; charset=utf-8")
                .body(self.message.to_owned()),
        }
    }
}

impl ResponseError for WebError {
    fn status_code(&self) -> StatusCode {
        match self {
            WebError::SignInRequired { htmx: false } => StatusCode::SEE_OTHER,
            WebError::SignInRequired { htmx: true } => StatusCode::UNAUTHORIZED,
            WebError::PasswordChangeRequired { htmx: false } => StatusCode::SEE_OTHER,
            WebError::PasswordChangeRequired { htmx: true } => StatusCode::FORBIDDEN,
            WebError::Forbidden
            | WebError::ReadOnly
            | WebError::CsrfRejected(_)
            | WebError::CookieNotKept => StatusCode::FORBIDDEN,
            WebError::NotFound => StatusCode::NOT_FOUND,
            WebError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            WebError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            WebError::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            WebError::BadRequest(_) => StatusCode::BAD_REQUEST,
            WebError::AlreadySubmitted => StatusCode::CONFLICT,
            WebError::Unavailable(_) | WebError::SessionsUnavailable | WebError::SessionNotSaved(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            WebError::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let page = |title, message| ErrorPage {
            title,
            message,
            error_id: None,
            next_href: "/",
            next_label: "Back to the dashboard",
        };
        match self {
            WebError::SignInRequired { htmx: false } => HttpResponse::SeeOther()
                .insert_header(("Location", crate::web::paths::LOGIN))
                .finish(),
            WebError::SignInRequired { htmx: true } => HttpResponse::Unauthorized()
                .insert_header(("HX-Redirect", crate::web::paths::LOGIN))
                .finish(),
            WebError::PasswordChangeRequired { htmx: false } => HttpResponse::SeeOther()
                .insert_header(("Location", crate::web::paths::PASSWORD))
                .finish(),
            WebError::PasswordChangeRequired { htmx: true } => HttpResponse::Forbidden()
                .insert_header(("HX-Redirect", crate::web::paths::PASSWORD))
                .finish(),
            WebError::Forbidden => page("Forbidden", "You do not have permission to do this.").respond(status),
            WebError::ReadOnly => ErrorPage {
                title: "Read-only access",
                message: "Support staff can look at every merchant but change nothing. This attempt was refused and, when it concerned a merchant, recorded in that merchant's audit log.",
                error_id: None,
                next_href: crate::web::paths::SUPPORT,
                next_label: "Back to Support",
            }
            .respond(status),
            WebError::CsrfRejected(_) => ErrorPage {
                title: "Request refused",
                message: "This form has expired or did not come from this site. Reload the page and try again; if your session ended, sign in again.",
                error_id: None,
                next_href: crate::web::paths::LOGIN,
                next_label: "Go to sign-in",
            }
            .respond(status),
            WebError::CookieNotKept => ErrorPage {
                title: "Sign-in cookie not kept",
                message: "Your browser did not keep the sign-in cookie: open Keyward over HTTPS. This page came over plain HTTP, where browsers refuse Keyward's secure cookies, so signing in cannot work at this address. If Keyward is deliberately served over plain HTTP on a private network, its administrator must turn on KEYWARD_INSECURE_COOKIES.",
                error_id: None,
                next_href: crate::web::paths::LOGIN,
                next_label: "Go to sign-in",
            }
            .respond(status),
            WebError::NotFound => page("Page not found", "There is nothing at this address.").respond(status),
            WebError::UnsupportedMediaType => {
                page("Unsupported request", "This address accepts HTML form submissions only.").respond(status)
            }
            WebError::PayloadTooLarge => {
                page("Request too large", "The submitted form is larger than Keyward accepts.").respond(status)
            }
            WebError::BodyTimeout => {
                let mut response = page(
                    "Request timed out",
                    "The form took too long to arrive, so nothing was changed. Check your connection and submit it again.",
                )
                .respond(status);
                // The rest of a late body may still be on its way: the connection is not
                // reused for another request.
                response.head_mut().set_connection_type(actix_web::http::ConnectionType::Close);
                response
            }
            WebError::BadRequest(message) => page("Bad request", message).respond(status),
            WebError::AlreadySubmitted => ErrorPage {
                title: "Already submitted",
                message: "This form was already submitted, so nothing was done again. A key is shown only once: if you did not copy it, rotate the key to get a new one.",
                error_id: None,
                next_href: crate::web::paths::API_CREDENTIALS,
                next_label: "Back to API Credentials",
            }
            .respond(status),
            WebError::Unavailable(_) | WebError::SessionsUnavailable | WebError::SessionNotSaved(_) => {
                let message = match self {
                    WebError::Unavailable(DbError::Unwritable(_)) => {
                        "Keyward cannot write to its database right now: it is read-only or its disk is full. Nothing was changed; please try again later, and if it lasts, give support this error ID."
                    }
                    // A connection lost mid-work may have lost it after the commit.
                    WebError::Unavailable(DbError::Interrupted | DbError::ConnectionLost(_)) => {
                        "Keyward lost touch with its database while it was working on this, so it may or may not have been done. Reload the page in a few seconds to see where things stand before trying again; if it lasts, give support this error ID."
                    }
                    WebError::SessionNotSaved(_) => {
                        "Keyward could not save your session in its database right now. Reload the page in a few seconds to see where things stand; if it lasts, give support this error ID."
                    }
                    _ => {
                        "Keyward cannot reach its database or finds it busy right now. Nothing was changed; please try again in a few seconds."
                    }
                };
                let failure = Failure::of(self);
                let mut response = ErrorPage {
                    error_id: Some(&failure.id),
                    ..page("Temporarily unavailable", message)
                }
                .respond(status);
                response
                    .headers_mut()
                    .insert(actix_web::http::header::RETRY_AFTER, actix_web::http::header::HeaderValue::from_static("5"));
                response.extensions_mut().insert(failure);
                response
            }
            WebError::Unexpected(_) => {
                let failure = Failure::of(self);
                let mut response = ErrorPage {
                    title: "Something went wrong",
                    message: "Keyward could not complete this request and changed nothing. If it happens again, give support this error ID.",
                    error_id: Some(&failure.id),
                    next_href: "/",
                    next_label: "Back to the dashboard",
                }
                .respond(status);
                response.extensions_mut().insert(failure);
                response
            }
        }
    }
}
