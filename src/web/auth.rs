//! Sign-in and sign-out.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use time::PrimitiveDateTime;
use time::macros::format_description;

use crate::db::{DbError, invitations, login_failures, memberships, users};
use crate::domain::{Email, Password, PasswordHash};
use crate::error::WebError;
use crate::web::forms::FormFields;
use crate::web::session::TypedSession;
use crate::web::{AppState, render, see_other};

/// Where a signed-in user lands.
pub const HOME: &str = "/settings/api-credentials";

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

/// `GET /login`.
pub async fn login_form(session: TypedSession) -> Result<HttpResponse, WebError> {
    session.require_store()?;
    if session.user_id().is_some() {
        return Ok(see_other(HOME));
    }
    render(
        StatusCode::OK,
        &LoginPage {
            csrf_token: &session.csrf_token(),
            email: "",
            error: None,
        },
    )
}

/// `POST /login` (fields `email`, `password`; `csrf_token` is checked by the CSRF
/// middleware): the attempt is recorded first, so parallel guesses count each other;
/// then argon2id runs off the executor; success renews the session.
pub async fn login(
    req: HttpRequest,
    form: FormFields,
    state: web::Data<AppState>,
    session: TypedSession,
) -> Result<HttpResponse, WebError> {
    let email = form.get("email").to_owned();
    let typed_email: String = email.trim().to_lowercase().chars().take(254).collect();
    let address = state.client_address(&req);
    let now = state.clock.now();
    let throttle = state.throttle;
    let page = |status, error: &str| {
        render(
            status,
            &LoginPage {
                csrf_token: &session.csrf_token(),
                email: &typed_email,
                error: Some(error),
            },
        )
    };

    let (attempt_id, blocked_until) = {
        let (email, address) = (typed_email.clone(), address.clone());
        let since = throttle.window_start(now);
        let limit = i64::try_from(throttle.max_failures + 1).unwrap_or(i64::MAX);
        state
            .db
            .run(move |conn| -> Result<_, DbError> {
                let id = login_failures::record(conn, &email, &address, now)?;
                let (for_email, for_address) =
                    login_failures::newest_since(conn, &email, &address, since, limit)?;
                let blocked = [
                    throttle.blocked_until(&for_email),
                    throttle.blocked_until(&for_address),
                ]
                .into_iter()
                .flatten()
                .max();
                if blocked.is_some() {
                    // A refused attempt is not a failure: it must not extend the lock.
                    login_failures::forget(conn, &id)?;
                }
                Ok((id, blocked))
            })
            .await?
    };
    if let Some(until) = blocked_until {
        let mut response = page(StatusCode::TOO_MANY_REQUESTS, &retry_message(now, until))?;
        let seconds = (until - now).whole_seconds().max(1);
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
        return Ok(response);
    }

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
    let password = Password::attempt(form.get("password").to_owned());
    let verified = state
        .password_work(move || PasswordHash::verify(hash.as_ref(), &password))
        .await?;

    let Some(user) = user.filter(|user| verified && user.is_active()) else {
        return page(StatusCode::UNAUTHORIZED, GENERIC_FAILURE);
    };

    let user_id = user.id.clone();
    let email = user.email.clone();
    let (merchants, invited) = state
        .db
        .run(move |conn| -> Result<_, DbError> {
            let merchants = memberships::for_user(conn, &user_id)?;
            let invited = invitations::count_pending_for(conn, &email, now)? > 0;
            users::record_sign_in(conn, &user_id, now)?;
            login_failures::forget(conn, &attempt_id)?;
            login_failures::clear_for_email(conn, &email)?;
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
    session.sign_in(&user.id, merchants.first().map(|m| m.merchant_id.as_str()));
    tracing::info!(user_id = %user.id, "signed in");
    Ok(see_other(HOME))
}

fn retry_message(now: PrimitiveDateTime, until: PrimitiveDateTime) -> String {
    let minutes = ((until - now).whole_seconds() + 59) / 60;
    let clock = until
        .format(format_description!("[hour]:[minute]"))
        .unwrap_or_default();
    let unit = if minutes == 1 { "minute" } else { "minutes" };
    format!("Too many failed sign-in attempts. Try again in {minutes} {unit} (after {clock} UTC).")
}

/// `POST /logout`: deletes the session everywhere and returns to the sign-in page.
pub async fn logout(session: TypedSession) -> HttpResponse {
    session.sign_out();
    see_other("/login")
}
