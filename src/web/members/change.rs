//! Changing a member: role, Disable / Enable, Remove.
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use time::PrimitiveDateTime;

use super::page::{ACTIVE, AddForm, MEMBERS, members_page, parse_role, refusal};
use crate::db::DbConnection;
use crate::db::memberships::{self, Member};
use crate::domain::{Actor, MerchantId, UserId};
use crate::service::members::{self, MemberError};
use crate::web::current_user::CurrentUser;
use crate::web::error::WebError;
use crate::web::forms::Form;
use crate::web::modal;
use crate::web::state::AppState;

/// A member of the admin's merchant by ID; anyone else is not found.
/// The member looked up first, as keys are (`keys::managed_key`): another merchant's
/// member is not found, whatever the user's role.
async fn member_of(user: &CurrentUser, state: &AppState, user_id: &UserId) -> Result<Member, WebError> {
    let merchant_id = user.merchant()?.merchant_id.clone();
    let user_id = user_id.clone();
    let member = state
        .db
        .run(move |conn| memberships::member(conn, &merchant_id, &user_id))
        .await?
        .ok_or(WebError::NotFound)?;
    user.admin()?;
    Ok(member)
}

/// Applies `change` to a member of the admin's merchant (anyone else's ID is not
/// found), then goes back to the table with `message`, or shows it with the refusal.
async fn change_member<F, M>(
    req: &HttpRequest,
    user: &CurrentUser,
    state: &AppState,
    user_id: &UserId,
    change: F,
    message: M,
) -> Result<HttpResponse, WebError>
where
    F: FnOnce(
            &mut DbConnection,
            &MerchantId,
            &UserId,
            &Actor,
            PrimitiveDateTime,
        ) -> Result<Member, MemberError>
        + Send
        + 'static,
    M: FnOnce(&Member) -> String,
{
    let member = member_of(user, state, user_id).await?;
    let merchant_id = user.admin()?.merchant_id.clone();
    let (actor, now) = (user.actor(req), state.clock.now());
    let outcome = state
        .db
        .run(move |conn| change(conn, &merchant_id, &member.user_id, &actor, now))
        .await;
    match outcome {
        Ok(member) => Ok(modal::after_change(req, user, MEMBERS, &message(&member))),
        Err(err) => {
            let (status, message) = refusal(err)?;
            members_page(user, state, status, Some(message), AddForm::default()).await
        }
    }
}

/// The role select's form.
#[derive(Default, serde::Deserialize)]
#[serde(default)]
pub struct RoleForm {
    role: String,
}

/// `POST /settings/members/{user_id}/role` (field `role`).
pub async fn change_role(
    req: HttpRequest,
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<UserId>,
    Form(form): Form<RoleForm>,
) -> Result<HttpResponse, WebError> {
    let role = parse_role(&form.role);
    change_member(
        &req,
        &user,
        &state,
        &path,
        move |conn, merchant_id, user_id, actor, now| {
            members::change_role(conn, merchant_id, user_id, role?, actor, now)
        },
        |member| format!("{}'s role is now {}.", member.name, member.role.label()),
    )
    .await
}

/// Disable or Enable, from the table.
#[derive(Clone, Copy)]
pub enum Switch {
    /// The member loses access to this merchant on their next request.
    Disable,
    /// A disabled member gets their access back.
    Enable,
}

/// `POST /settings/members/{user_id}/disable` and `…/enable`.
pub async fn switch(
    req: HttpRequest,
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<UserId>,
    action: Switch,
) -> Result<HttpResponse, WebError> {
    let disabled = matches!(action, Switch::Disable);
    change_member(
        &req,
        &user,
        &state,
        &path,
        move |conn, merchant_id, user_id, actor, now| {
            members::set_disabled(conn, merchant_id, user_id, disabled, actor, now)
        },
        |member| match action {
            Switch::Disable => format!(
                "{} was disabled. They lose access to this merchant on their next request.",
                member.name
            ),
            Switch::Enable => format!("{} was enabled.", member.name),
        },
    )
    .await
}

/// The Remove confirmation's body.
#[derive(Template)]
#[template(path = "partials/member_remove.html")]
struct RemoveForm<'a> {
    csrf_token: String,
    error: Option<String>,
    id: &'a str,
    name: &'a str,
    email: &'a str,
    role: &'static str,
}

fn remove_form(
    req: &HttpRequest,
    user: &CurrentUser,
    member: &Member,
    status: StatusCode,
    error: Option<String>,
) -> Result<HttpResponse, WebError> {
    let form = RemoveForm {
        csrf_token: user.session.csrf_token(),
        error,
        id: &member.user_id,
        name: &member.name,
        email: &member.email,
        role: member.role.label(),
    };
    modal::show(req, user, ACTIVE, status, "Remove member", &form)
}

/// `GET /settings/members/{user_id}/remove`: the confirmation.
pub async fn remove_page(
    req: HttpRequest,
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<UserId>,
) -> Result<HttpResponse, WebError> {
    let member = member_of(&user, &state, &path).await?;
    remove_form(&req, &user, &member, StatusCode::OK, None)
}

/// `POST /settings/members/{user_id}/remove`.
pub async fn remove(
    req: HttpRequest,
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<UserId>,
) -> Result<HttpResponse, WebError> {
    let member = member_of(&user, &state, &path).await?;
    let (actor, now) = (user.actor(&req), state.clock.now());
    let (merchant_id, user_id) = (user.admin()?.merchant_id.clone(), member.user_id.clone());
    let outcome = state
        .db
        .run(move |conn| members::remove(conn, &merchant_id, &user_id, &actor, now))
        .await;
    match outcome {
        Ok(removed) => {
            let message = format!("{} was removed from this merchant.", removed.name);
            Ok(modal::after_change(&req, &user, MEMBERS, &message))
        }
        Err(err) => {
            let (status, message) = refusal(err)?;
            remove_form(&req, &user, &member, status, Some(message))
        }
    }
}
