//! Inviting by email (answered the same whatever exists behind it) and cancelling an
//! invitation.
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use super::page::{
    ACTIVE, ALREADY_SUBMITTED, AddForm, MEMBERS, invitation_refusal, members_page, parse_role,
};
use crate::db::invitations::{self as invitation_rows, Invitation};
use crate::domain::{Email, InvitationId, Password, PersonName, Role, ValidationError, generate_password};
use crate::service::invitations::{self, NewAccount};
use crate::web::current_user::CurrentUser;
use crate::web::error::WebError;
use crate::web::forms::{Form, sentence};
use crate::web::state::AppState;
use crate::web::{format, modal};

/// The Add member form, read.
struct AddRequest {
    email: Email,
    role: Role,
    /// The name of the account made when the email has none; an existing account keeps
    /// its own. Asked for every email, so the form tells nothing about which it is.
    name: PersonName,
}

impl TryFrom<&AddForm> for AddRequest {
    type Error = ValidationError;

    fn try_from(typed: &AddForm) -> Result<Self, ValidationError> {
        Ok(Self {
            email: Email::parse(&typed.email)?,
            role: parse_role(&typed.role)?,
            name: PersonName::parse(&typed.name)?,
        })
    }
}

/// A one-time password and its hash, made for every invitation whatever is behind the
/// email, so that neither the answer nor its timing depends on it. Hashed before the
/// transaction because hashing is slow.
async fn prepare_account(state: &AppState, name: PersonName) -> Result<(Password, NewAccount), WebError> {
    let password = generate_password();
    let password_hash = {
        let password = password.clone();
        state.password_work(move || password.hash()).await?
    };
    Ok((password, NewAccount { name, password_hash }))
}

/// The answer to an invitation, shown once: the same for every email.
#[derive(Template)]
#[template(path = "partials/invitation_sent.html")]
struct InvitationSent<'a> {
    email: &'a str,
    role: &'static str,
    expires: String,
    password: &'a str,
}

fn invitation_sent(
    req: &HttpRequest,
    user: &CurrentUser,
    invitation: &Invitation,
    password: &Password,
) -> Result<HttpResponse, WebError> {
    let body = InvitationSent {
        email: &invitation.email,
        role: invitation.role.label(),
        expires: format::datetime(invitation.expires_at),
        password: password.expose(),
    };
    let response = modal::show(req, user, ACTIVE, StatusCode::OK, "Invitation sent", &body)?;
    Ok(modal::no_store(response))
}

/// `POST /settings/members` (fields `email`, `name`, `role`, `nonce`): invites the
/// email and shows the invitation with a one-time password, once. The answer is the
/// same whether the email has an account, has none (one is made with that password) or
/// belongs to support staff.
pub async fn add(
    req: HttpRequest,
    user: CurrentUser,
    state: web::Data<AppState>,
    Form(typed): Form<AddForm>,
) -> Result<HttpResponse, WebError> {
    let merchant_id = user.admin()?.merchant_id.clone();
    // A refresh or a second click must neither invite twice nor show the password again.
    if !user.session.consume_form_nonce(&typed.nonce) {
        let message = Some(ALREADY_SUBMITTED.to_owned());
        return members_page(&user, &state, StatusCode::CONFLICT, message, typed).await;
    }
    let request = match AddRequest::try_from(&typed) {
        Ok(request) => request,
        Err(err) => {
            let message = Some(sentence(&err));
            return members_page(&user, &state, StatusCode::UNPROCESSABLE_ENTITY, message, typed).await;
        }
    };
    let AddRequest { email, role, name } = request;
    let (password, new_account) = prepare_account(&state, name).await?;
    let (actor, now) = (user.actor(&req), state.clock.now());
    let outcome = state
        .db
        .run(move |conn| invitations::invite(conn, &merchant_id, &email, role, new_account, &actor, now))
        .await;
    match outcome {
        Ok(invitation) => invitation_sent(&req, &user, &invitation, &password),
        Err(err) => {
            let (status, message) = invitation_refusal(err)?;
            members_page(&user, &state, status, Some(message), typed).await
        }
    }
}

/// `POST /settings/members/invitations/{invitation_id}/cancel`: the invitation can no
/// longer be accepted. Another merchant's is not found, whatever the user's role.
pub async fn cancel_invitation(
    req: HttpRequest,
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<InvitationId>,
) -> Result<HttpResponse, WebError> {
    let merchant_id = user.merchant()?.merchant_id.clone();
    let invitation_id = path.into_inner();
    let found = {
        let invitation_id = invitation_id.clone();
        state
            .db
            .run(move |conn| invitation_rows::find(conn, &invitation_id))
            .await?
    };
    if found.is_none_or(|invitation| invitation.merchant_id != merchant_id) {
        return Err(WebError::NotFound);
    }
    user.admin()?;
    let (actor, now) = (user.actor(&req), state.clock.now());
    let outcome = state
        .db
        .run(move |conn| invitations::cancel(conn, &merchant_id, &invitation_id, &actor, now))
        .await;
    match outcome {
        Ok(invitation) => {
            let message = format!("The invitation to {} was cancelled.", invitation.email);
            Ok(modal::after_change(&req, &user, MEMBERS, &message))
        }
        Err(err) => {
            let (status, message) = invitation_refusal(err)?;
            members_page(&user, &state, status, Some(message), AddForm::default()).await
        }
    }
}
