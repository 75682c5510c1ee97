//! Settings → Members (admins only): the merchant's members and invitations, inviting
//! by email (answered the same whatever exists behind it), role changes, Disable /
//! Enable, Remove, and cancelling an invitation.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use time::PrimitiveDateTime;

use crate::db::invitations::{self as invitation_rows, Invitation};
use crate::db::memberships::{self, Member, MemberStatus};
use crate::db::{DbConnection, DbError};
use crate::domain::{Actor, Email, Password, PersonName, Role, ValidationError, generate_password};
use crate::error::WebError;
use crate::invitations::{self, InvitationError, NewAccount};
use crate::members::{self, MemberError};
use crate::web::current_user::CurrentUser;
use crate::web::forms::{FormFields, sentence};
use crate::web::shell::Shell;
use crate::web::{AppState, format, modal, render};

const MEMBERS: &str = "/settings/members";
const ACTIVE: &str = "members";

/// What a second submission of one Add member form is told.
const ALREADY_SUBMITTED: &str =
    "This form was already submitted, so nothing was done again. A one-time password is shown only once.";

/// A role as a select option.
pub struct RoleChoice {
    /// Form value.
    pub value: &'static str,
    /// Label.
    pub label: &'static str,
    /// Chosen.
    pub selected: bool,
}

fn role_choices(selected: &str) -> Vec<RoleChoice> {
    Role::ALL
        .into_iter()
        .map(|role| RoleChoice {
            value: role.as_str(),
            label: role.label(),
            selected: role.as_str() == selected,
        })
        .collect()
}

/// A member as a table row.
pub struct MemberRow {
    /// The user's ID.
    pub id: String,
    /// Name.
    pub name: String,
    /// Email.
    pub email: String,
    /// The signed-in admin's own row.
    pub you: bool,
    /// Role, as the row's select.
    pub roles: Vec<RoleChoice>,
    /// Last sign-in, relative ("5 minutes ago"); empty when never.
    pub last_sign_in: String,
    /// Last sign-in exactly, for the hover text.
    pub last_sign_in_exact: String,
    /// Last sign-in as RFC 3339; empty when never.
    pub last_sign_in_iso: String,
    /// Status badge text.
    pub status: &'static str,
    /// Status for CSS.
    pub status_class: &'static str,
    /// Disabled in this merchant: Enable is offered instead of Disable.
    pub disabled: bool,
}

fn row(member: &Member, you: &str, now: PrimitiveDateTime) -> MemberRow {
    let status = member.status();
    let status_class = match status {
        MemberStatus::Active => "active",
        MemberStatus::Disabled | MemberStatus::AccountDisabled => "disabled",
        MemberStatus::MustSetPassword => "rotated",
    };
    MemberRow {
        id: member.user_id.clone(),
        name: member.name.clone(),
        email: member.email.clone(),
        you: member.user_id == you,
        roles: role_choices(member.role.as_str()),
        last_sign_in: member
            .last_sign_in_at
            .map(|at| format::ago(now, at))
            .unwrap_or_default(),
        last_sign_in_exact: member.last_sign_in_at.map(format::datetime).unwrap_or_default(),
        last_sign_in_iso: member.last_sign_in_at.map(format::iso).unwrap_or_default(),
        status: status.label(),
        status_class,
        disabled: member.disabled_at.is_some(),
    }
}

/// An invitation as a row of the Invitations table: the email alone, whatever account
/// is behind it.
pub struct InvitationRow {
    /// The invitation's ID.
    pub id: String,
    /// The invited email.
    pub email: String,
    /// The role it gives.
    pub role: &'static str,
    /// When it was sent.
    pub sent: String,
    /// When it expires or expired.
    pub expires: String,
    /// When it expires, as RFC 3339.
    pub expires_iso: String,
    /// It can no longer be accepted.
    pub expired: bool,
}

fn invitation_row(invitation: &Invitation, now: PrimitiveDateTime) -> InvitationRow {
    InvitationRow {
        id: invitation.id.clone(),
        email: invitation.email.clone(),
        role: invitation.role.label(),
        sent: format::datetime(invitation.created_at),
        expires: format::datetime(invitation.expires_at),
        expires_iso: format::iso(invitation.expires_at),
        expired: invitation.is_expired(now),
    }
}

/// The Add member form as typed, to show again after a refusal.
#[derive(Default)]
struct AddForm {
    email: String,
    name: String,
    role: String,
}

/// Settings → Members.
#[derive(Template)]
#[template(path = "settings/members.html")]
struct MembersPage {
    shell: Shell,
    flash: Option<String>,
    error: Option<String>,
    members: Vec<MemberRow>,
    invitations: Vec<InvitationRow>,
    nonce: String,
    email: String,
    name: String,
    roles: Vec<RoleChoice>,
}

async fn members_page(
    user: &CurrentUser,
    state: &AppState,
    status: StatusCode,
    error: Option<String>,
    typed: AddForm,
) -> Result<HttpResponse, WebError> {
    let merchant_id = user.admin()?.merchant_id.clone();
    let (members, invitations) = state
        .db
        .run(move |conn| -> Result<_, DbError> {
            Ok((
                memberships::members(conn, &merchant_id)?,
                invitation_rows::of_merchant(conn, &merchant_id)?,
            ))
        })
        .await?;
    let now = state.clock.now();
    let role = if typed.role.is_empty() {
        Role::Viewer.as_str()
    } else {
        &typed.role
    };
    render(
        status,
        &MembersPage {
            shell: Shell::new(user, ACTIVE),
            flash: user.session.take_flash(),
            error,
            members: members
                .iter()
                .map(|member| row(member, &user.user.id, now))
                .collect(),
            invitations: invitations
                .iter()
                .map(|invitation| invitation_row(invitation, now))
                .collect(),
            nonce: user.session.issue_form_nonce(),
            roles: role_choices(role),
            email: typed.email,
            name: typed.name,
        },
    )
}

/// `GET /settings/members`.
pub async fn page(user: CurrentUser, state: web::Data<AppState>) -> Result<HttpResponse, WebError> {
    members_page(&user, &state, StatusCode::OK, None, AddForm::default()).await
}

fn parse_role(raw: &str) -> Result<Role, ValidationError> {
    raw.parse().map_err(|_| ValidationError::Invalid {
        field: "Role",
        reason: "choose Admin, Developer or Viewer",
    })
}

/// How a refused change is shown: its status and message.
fn refusal(err: MemberError) -> Result<(StatusCode, String), WebError> {
    match err {
        MemberError::Invalid(err) => Ok((StatusCode::UNPROCESSABLE_ENTITY, sentence(&err))),
        MemberError::LastAdmin { .. } => Ok((StatusCode::CONFLICT, err.to_string())),
        MemberError::NotFound => Err(WebError::NotFound),
        MemberError::Db(err) => Err(err.into()),
    }
}

/// How a refused invitation step is shown: its status and message.
fn invitation_refusal(err: InvitationError) -> Result<(StatusCode, String), WebError> {
    match err {
        InvitationError::AlreadyMember(_)
        | InvitationError::AlreadyInvited(_)
        | InvitationError::Expired(_)
        | InvitationError::AlreadyJoined(_) => Ok((StatusCode::CONFLICT, err.to_string())),
        InvitationError::NotFound => Err(WebError::NotFound),
        InvitationError::Db(err) => Err(err.into()),
    }
}

/// The Add member form, read.
struct AddRequest {
    email: Email,
    role: Role,
    /// The name of the account made when the email has none; an existing account keeps
    /// its own. Asked for every email, so the form tells nothing about which it is.
    name: PersonName,
}

impl AddRequest {
    fn parse(typed: &AddForm) -> Result<Self, ValidationError> {
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
    form: FormFields,
) -> Result<HttpResponse, WebError> {
    let merchant_id = user.admin()?.merchant_id.clone();
    let typed = AddForm {
        email: form.get("email").to_owned(),
        name: form.get("name").to_owned(),
        role: form.get("role").to_owned(),
    };
    // A refresh or a second click must neither invite twice nor show the password again.
    if !user.session.consume_form_nonce(form.get("nonce")) {
        let message = Some(ALREADY_SUBMITTED.to_owned());
        return members_page(&user, &state, StatusCode::CONFLICT, message, typed).await;
    }
    let request = match AddRequest::parse(&typed) {
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
    path: web::Path<String>,
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
    found
        .filter(|invitation| invitation.merchant_id == merchant_id)
        .ok_or(WebError::NotFound)?;
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

/// A member of the admin's merchant by ID; anyone else is not found.
/// The member looked up first, as keys are (`keys::managed_key`): another merchant's
/// member is not found, whatever the user's role.
async fn member_of(user: &CurrentUser, state: &AppState, user_id: &str) -> Result<Member, WebError> {
    let merchant_id = user.merchant()?.merchant_id.clone();
    if uuid::Uuid::parse_str(user_id).is_err() {
        return Err(WebError::NotFound);
    }
    let user_id = user_id.to_owned();
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
    user_id: &str,
    change: F,
    message: M,
) -> Result<HttpResponse, WebError>
where
    F: FnOnce(&mut DbConnection, &str, &str, &Actor, PrimitiveDateTime) -> Result<Member, MemberError>
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

/// `POST /settings/members/{user_id}/role` (field `role`).
pub async fn change_role(
    req: HttpRequest,
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: FormFields,
) -> Result<HttpResponse, WebError> {
    let role = parse_role(form.get("role"));
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
    path: web::Path<String>,
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
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let member = member_of(&user, &state, &path).await?;
    remove_form(&req, &user, &member, StatusCode::OK, None)
}

/// `POST /settings/members/{user_id}/remove`.
pub async fn remove(
    req: HttpRequest,
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
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
