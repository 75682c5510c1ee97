//! The signed-in user's own account: choosing a new password, which an account made
//! with a one-time password must do before anything else.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use crate::db::users;
use crate::domain::{Email, Password, PasswordHash};
use crate::service::sign_in::{self, Admission, Check};
use crate::web::auth::{retry_message, too_many_attempts};
use crate::web::current_user::CurrentUser;
use crate::web::error::WebError;
use crate::web::forms::{Form, sentence};
use crate::web::paths::HOME;
use crate::web::respond::render;
use crate::web::shell::{Area, Shell};
use crate::web::state::AppState;

/// Change password.
#[derive(Template)]
#[template(path = "account/password.html")]
struct PasswordPage {
    shell: Shell,
    error: Option<String>,
    one_time: bool,
}

fn page(user: &CurrentUser, status: StatusCode, error: Option<String>) -> Result<HttpResponse, WebError> {
    render(
        status,
        &PasswordPage {
            shell: Shell::new(user, Area::Password),
            error,
            one_time: user.user.password_change_required,
        },
    )
}

/// `GET /account/password`.
pub async fn password_page(user: CurrentUser) -> Result<HttpResponse, WebError> {
    page(&user, StatusCode::OK, None)
}

/// The Change password form as sent.
#[derive(Default, serde::Deserialize)]
#[serde(default)]
pub struct PasswordForm {
    current_password: String,
    new_password: String,
    confirm_password: String,
}

/// `POST /account/password` (fields `current_password`, not asked of an account on its
/// one-time password, `new_password` and `confirm_password`): saves the new password,
/// signs out the account's other sessions and goes on to the dashboard. The current
/// password is checked under the sign-in throttle, and a wrong one is recorded.
pub async fn change_password(
    req: HttpRequest,
    user: CurrentUser,
    state: web::Data<AppState>,
    Form(form): Form<PasswordForm>,
) -> Result<HttpResponse, WebError> {
    let refuse = |message: String| page(&user, StatusCode::UNPROCESSABLE_ENTITY, Some(message));
    if form.new_password != form.confirm_password {
        return refuse("The new password and its confirmation do not match.".to_owned());
    }
    // The strength estimate is CPU work, like hashing: off the executor.
    let (typed, email) = (form.new_password, Email::from_stored(user.user.email.clone()));
    let new = match state
        .password_work(move || Password::parse_new(typed, &email))
        .await?
    {
        Ok(password) => password,
        Err(err) => return refuse(sentence(&err)),
    };
    let stored = PasswordHash::from_stored(user.user.password_hash.clone());
    if !user.user.password_change_required {
        let current = Password::attempt(form.current_password);
        if let Some(refusal) = check_current_password(&req, &user, &state, &stored, current).await? {
            return Ok(refusal);
        }
    }
    let checked = state
        .password_work(move || {
            if PasswordHash::verify(Some(&stored), &new) {
                None
            } else {
                Some(new.hash())
            }
        })
        .await?;
    let Some(hash) = checked else {
        return refuse("Choose a password other than the one you have now.".to_owned());
    };
    let user_id = user.user.id.clone();
    let changed = state
        .db
        .run(move |conn| users::set_password(conn, &user_id, &hash))
        .await?;
    if !changed {
        return Err(WebError::Forbidden);
    }
    // The old session row was deleted with the others: this one goes on under a new key.
    user.session
        .sign_in(&user.user.id, user.merchant.as_ref().map(|m| &m.merchant_id));
    user.session
        .set_flash("Your password was changed. Any other session of yours was signed out.");
    Ok(crate::web::respond::see_other(HOME))
}

/// Checks the current password under the same throttle as signing in, counted against
/// the account and the client's address. Returns the page refusing it (wrong, or too many
/// wrong ones lately), or `None` when it is right.
async fn check_current_password(
    req: &HttpRequest,
    user: &CurrentUser,
    state: &AppState,
    stored: &PasswordHash,
    current: Password,
) -> Result<Option<HttpResponse>, WebError> {
    let throttle = state.throttle;
    let admission = {
        let (email, address, now) = (
            user.user.email.clone(),
            state.client_address(req),
            state.clock.now(),
        );
        state
            .db
            .run(move |conn| sign_in::admit(conn, &throttle, &email, &address, now))
            .await?
    };
    let attempt = match admission {
        Admission::Check(attempt) => attempt,
        Admission::Refused { until } => {
            let now = state.clock.now();
            let message = retry_message("Too many wrong passwords.", now, until);
            let response = page(user, StatusCode::TOO_MANY_REQUESTS, Some(message))?;
            return Ok(Some(too_many_attempts(response, now, until)?));
        }
    };
    let stored = stored.clone();
    let verified = state
        .password_work(move || PasswordHash::verify(Some(&stored), &current))
        .await?;
    if verified {
        state
            .db
            .run(move |conn| sign_in::succeeded(conn, &attempt))
            .await?;
        return Ok(None);
    }
    let (account, actor, now) = (user.user.clone(), user.actor(req), state.clock.now());
    state
        .db
        .run(move |conn| {
            sign_in::failed(
                conn,
                &throttle,
                &attempt,
                Check::CurrentPassword,
                Some(&account),
                &actor,
                now,
            )
        })
        .await?;
    let message = "Your current password is not correct.".to_owned();
    Ok(Some(page(user, StatusCode::UNPROCESSABLE_ENTITY, Some(message))?))
}
