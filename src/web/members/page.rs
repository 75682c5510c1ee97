//! The Members page: the merchant's members and invitations, and the Add member form.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use time::PrimitiveDateTime;

use crate::db::DbError;
use crate::db::invitations::{self as invitation_rows, Invitation};
use crate::db::memberships::{self, Member, MemberStatus};
use crate::domain::{InvitationId, Role, UserId, ValidationError};
use crate::service::invitations::InvitationError;
use crate::service::members::MemberError;
use crate::web::current_user::CurrentUser;
use crate::web::error::WebError;
use crate::web::format;
use crate::web::forms::sentence;
use crate::web::respond::render;
use crate::web::shell::{Area, Shell};
use crate::web::state::AppState;

pub(super) const MEMBERS: &str = crate::web::paths::MEMBERS;
pub(super) const ACTIVE: Area = Area::Members;

/// What a second submission of one Add member form is told.
pub(super) const ALREADY_SUBMITTED: &str =
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
    pub id: UserId,
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
    pub id: InvitationId,
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

/// The Add member form as sent, kept to show again after a refusal.
#[derive(Default, serde::Deserialize)]
#[serde(default)]
pub struct AddForm {
    pub(super) email: String,
    pub(super) name: String,
    pub(super) role: String,
    /// The form's one-time value, so one form invites once.
    pub(super) nonce: String,
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

pub(super) async fn members_page(
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

pub(super) fn parse_role(raw: &str) -> Result<Role, ValidationError> {
    raw.parse().map_err(|_| ValidationError::Invalid {
        field: "Role",
        reason: "choose Admin, Developer or Viewer",
    })
}

/// How a refused change is shown: its status and message.
pub(super) fn refusal(err: MemberError) -> Result<(StatusCode, String), WebError> {
    match err {
        MemberError::Invalid(err) => Ok((StatusCode::UNPROCESSABLE_ENTITY, sentence(&err))),
        MemberError::LastAdmin { .. } => Ok((StatusCode::CONFLICT, err.to_string())),
        MemberError::NotFound => Err(WebError::NotFound),
        MemberError::NotPermitted => Err(WebError::Forbidden),
        MemberError::Db(err) => Err(err.into()),
    }
}

/// How a refused invitation step is shown: its status and message.
pub(super) fn invitation_refusal(err: InvitationError) -> Result<(StatusCode, String), WebError> {
    match err {
        InvitationError::AlreadyMember(_)
        | InvitationError::AlreadyInvited(_)
        | InvitationError::Expired(_)
        | InvitationError::AlreadyJoined(_) => Ok((StatusCode::CONFLICT, err.to_string())),
        InvitationError::NotFound => Err(WebError::NotFound),
        InvitationError::NotPermitted => Err(WebError::Forbidden),
        InvitationError::Db(err) => Err(err.into()),
    }
}
