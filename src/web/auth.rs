//! Sign-in and sign-out.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use anyhow::Context;
use askama::Template;
use time::PrimitiveDateTime;
use time::macros::format_description;

use crate::db::{DbError, invitations, memberships, users};
use crate::domain::{Actor, Email, Password, PasswordHash};
use crate::service::sign_in::{self, Admission, Check};
use crate::web::error::WebError;
use crate::web::forms::Form;
use crate::web::paths::HOME;
use crate::web::respond::{render, see_other, user_agent};
use crate::web::session::TypedSession;
use crate::web::state::AppState;

/// The one message for every failed sign-in, so it tells nobody which accounts exist.
const GENERIC_FAILURE: &str = "Incorrect email or password.";

/// The sign-in page.
#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    csrf_token: &'a str,
    email: &'a str,
    error: Option<&'a str>,
}

/// `GET /`: the dashboard for a signed-in user, the sign-in page for anyone else.
pub async fn home(session: TypedSession) -> Result<HttpResponse, WebError> {
    session.require_store()?;
    Ok(match session.user_id() {
        Some(_) => see_other(HOME),
        None => see_other("/login"),
    })
}

/// `GET /login`: the form's CSRF token comes in a signed cookie of its own, so showing
/// it stores nothing.
pub async fn login_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: TypedSession,
) -> Result<HttpResponse, WebError> {
    session.require_store()?;
    // Nothing here reads the database, but signing in does: without it, the form would
    // only fail once sent.
    state.db.answers().await?;
    if session.user_id().is_some() {
        return Ok(see_other(HOME));
    }
    login_page(&req, &state, StatusCode::OK, "", None)
}

/// The sign-in page with `email` filled in and `error` shown, carrying the visitor's
/// CSRF token (and the cookie that holds it, when the browser has none yet).
fn login_page(
    req: &HttpRequest,
    state: &AppState,
    status: StatusCode,
    email: &str,
    error: Option<&str>,
) -> Result<HttpResponse, WebError> {
    let (csrf_token, cookie) = state.visitor_tokens.issue(req);
    let mut response = render(
        status,
        &LoginPage {
            csrf_token: &csrf_token,
            email,
            error,
        },
    )?;
    if let Some(cookie) = cookie {
        response
            .add_cookie(&cookie)
            .context("Failed to set the CSRF cookie")?;
    }
    Ok(response)
}

/// The sign-in form as sent (its `csrf_token` is the CSRF middleware's).
#[derive(Default, serde::Deserialize)]
#[serde(default)]
pub struct SignInForm {
    email: String,
    password: String,
}

/// `POST /login` (fields `email`, `password`; `csrf_token` is checked by the CSRF
/// middleware): the attempt goes through the sign-in throttle first, then argon2id runs
/// off the executor; success renews the session.
pub async fn login(
    req: HttpRequest,
    Form(form): Form<SignInForm>,
    state: web::Data<AppState>,
    session: TypedSession,
) -> Result<HttpResponse, WebError> {
    let SignInForm { email, password } = form;
    let typed_email: String = email.trim().to_lowercase().chars().take(254).collect();
    let address = state.client_address(&req);
    let throttle = state.throttle;
    let page = |status, error: &str| login_page(&req, &state, status, &typed_email, Some(error));

    let admission = {
        let (email, address, now) = (typed_email.clone(), address.clone(), state.clock.now());
        state
            .db
            .run(move |conn| sign_in::admit(conn, &throttle, &email, &address, now))
            .await?
    };
    let attempt = match admission {
        Admission::Check(attempt) => attempt,
        Admission::Refused { until } => {
            let now = state.clock.now();
            let message = retry_message("Too many failed sign-in attempts.", now, until);
            return too_many_attempts(page(StatusCode::TOO_MANY_REQUESTS, &message)?, now, until);
        }
    };

    let user = match Email::parse(&email) {
        Ok(email) => {
            state
                .db
                .run(move |conn| users::find_by_email(conn, &email))
                .await?
        }
        Err(_) => None,
    };
    let hash = user
        .as_ref()
        .map(|user| PasswordHash::from_stored(user.password_hash.clone()));
    let password = Password::attempt(password);
    let verified = state
        .password_work(move || PasswordHash::verify(hash.as_ref(), &password))
        .await?;

    let Some(user) = user.clone().filter(|user| verified && user.is_active()) else {
        let actor = Actor {
            address: Some(address),
            user_agent: user_agent(&req),
            ..Actor::system()
        };
        let now = state.clock.now();
        state
            .db
            .run(move |conn| {
                sign_in::failed(
                    conn,
                    &throttle,
                    &attempt,
                    Check::SignIn,
                    user.as_ref(),
                    &actor,
                    now,
                )
            })
            .await?;
        return page(StatusCode::UNAUTHORIZED, GENERIC_FAILURE);
    };

    let user_id = user.id.clone();
    let now = state.clock.now();
    let email = user.email.clone();
    let (merchants, invited) = state
        .db
        .run(move |conn| -> Result<_, DbError> {
            let merchants = memberships::for_user(conn, &user_id)?;
            let invited = invitations::count_pending_for(conn, &email, now)? > 0;
            users::record_sign_in(conn, &user_id, now)?;
            sign_in::succeeded(conn, &attempt)?;
            Ok((merchants, invited))
        })
        .await?;
    // An account in no merchant signs in only to answer the invitations waiting for it.
    if merchants.is_empty() && !user.is_support && !invited {
        return page(
            StatusCode::FORBIDDEN,
            "Your account is not a member of any merchant. Ask a merchant admin to invite you.",
        );
    }
    session.sign_in(&user.id, merchants.first().map(|m| &m.merchant_id));
    tracing::info!(user_id = %user.id, "signed in");
    Ok(see_other(HOME))
}

/// "Too many failed sign-in attempts. Try again in 5 minutes (after 14:07 UTC)."
pub(crate) fn retry_message(what: &str, now: PrimitiveDateTime, until: PrimitiveDateTime) -> String {
    let minutes = ((until - now).whole_seconds() + 59) / 60;
    let clock = until
        .format(format_description!("[hour]:[minute]"))
        .unwrap_or_default();
    let unit = if minutes == 1 { "minute" } else { "minutes" };
    format!("{what} Try again in {minutes} {unit} (after {clock} UTC).")
}

/// `response` (a 429 page) with `Retry-After`: the seconds until `until`.
pub(crate) fn too_many_attempts(
    mut response: HttpResponse,
    now: PrimitiveDateTime,
    until: PrimitiveDateTime,
) -> Result<HttpResponse, WebError> {
    let seconds = (until - now).whole_seconds().max(1);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
    Ok(response)
}

/// `POST /logout`: deletes the session everywhere and returns to the sign-in page.
pub async fn logout(session: TypedSession) -> HttpResponse {
    session.sign_out();
    see_other("/login")
}
