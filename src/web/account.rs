//! The signed-in user's own account: choosing a new password, which an account made
//! with a one-time password must do before anything else.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use crate::db::users;
use crate::domain::{Email, Password, PasswordHash};
use crate::error::WebError;
use crate::web::auth::HOME;
use crate::web::current_user::CurrentUser;
use crate::web::forms::{FormFields, sentence};
use crate::web::shell::Shell;
use crate::web::{AppState, render};

/// The Change password page; the one page an account on its one-time password may open.
pub const PASSWORD: &str = "/account/password";

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
            shell: Shell::new(user, "password"),
            error,
            one_time: user.user.password_change_required,
        },
    )
}

/// `GET /account/password`.
pub async fn password_page(user: CurrentUser) -> Result<HttpResponse, WebError> {
    page(&user, StatusCode::OK, None)
}

/// `POST /account/password` (fields `current_password`, not asked of an account on its
/// one-time password, `new_password` and `confirm_password`): saves the new password,
/// signs out the account's other sessions and goes on to the dashboard.
pub async fn change_password(
    user: CurrentUser,
    state: web::Data<AppState>,
    form: FormFields,
) -> Result<HttpResponse, WebError> {
    let refuse = |message: String| page(&user, StatusCode::UNPROCESSABLE_ENTITY, Some(message));
    if form.get("new_password") != form.get("confirm_password") {
        return refuse("The new password and its confirmation do not match.".to_owned());
    }
    let email = Email::from_stored(user.user.email.clone());
    let new = match Password::parse_new(form.get("new_password").to_owned(), &email) {
        Ok(password) => password,
        Err(err) => return refuse(sentence(&err)),
    };
    let current = (!user.user.password_change_required)
        .then(|| Password::attempt(form.get("current_password").to_owned()));
    let stored = PasswordHash::from_stored(user.user.password_hash.clone());
    let checked = state
        .password_work(move || {
            if let Some(current) = current
                && !PasswordHash::verify(Some(&stored), &current)
            {
                return Err("Your current password is not correct.");
            }
            if PasswordHash::verify(Some(&stored), &new) {
                return Err("Choose a password other than the one you have now.");
            }
            Ok(new.hash())
        })
        .await?;
    let hash = match checked {
        Ok(hash) => hash,
        Err(message) => return refuse(message.to_owned()),
    };
    let user_id = user.user.id.clone();
    state
        .db
        .run(move |conn| users::set_password(conn, &user_id, &hash))
        .await?;
    // The old session row was deleted with the others: this one goes on under a new key.
    user.session.sign_in(
        &user.user.id,
        user.merchant.as_ref().map(|m| m.merchant_id.as_str()),
    );
    user.session
        .set_flash("Your password was changed. Any other session of yours was signed out.");
    Ok(crate::web::see_other(HOME))
}
