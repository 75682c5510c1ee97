//! The signed-in user's invitations to join merchants: Accept or Decline each. An
//! account in no merchant yet signs in to this page alone.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use time::PrimitiveDateTime;

use crate::db::invitations::{self as invitation_rows, Invitation};
use crate::domain::InvitationId;
use crate::service::invitations::{self, InvitationError};
use crate::web::current_user::CurrentUser;
use crate::web::error::WebError;
use crate::web::format;
use crate::web::paths::{HOME, INVITATIONS};
use crate::web::respond::{render, see_other};
use crate::web::shell::{Area, Shell};
use crate::web::state::AppState;

/// An invitation as the invitee reads it.
pub struct InvitationCard {
    /// The invitation's ID, for its buttons.
    pub id: InvitationId,
    /// The merchant it invites to.
    pub merchant_name: String,
    /// The role it gives.
    pub role: &'static str,
    /// Who sent it.
    pub invited_by: String,
    /// When it was sent.
    pub sent: String,
    /// When it expires or expired.
    pub expires: String,
    /// When it expires, as RFC 3339.
    pub expires_iso: String,
    /// It can no longer be accepted.
    pub expired: bool,
}

fn card(invitation: &Invitation, now: PrimitiveDateTime) -> InvitationCard {
    InvitationCard {
        id: invitation.id.clone(),
        merchant_name: invitation.merchant_name.clone(),
        role: invitation.role.label(),
        invited_by: invitation.invited_by.clone(),
        sent: format::datetime(invitation.created_at),
        expires: format::datetime(invitation.expires_at),
        expires_iso: format::iso(invitation.expires_at),
        expired: invitation.is_expired(now),
    }
}

/// The Invitations page.
#[derive(Template)]
#[template(path = "account/invitations.html")]
struct InvitationsPage {
    shell: Shell,
    flash: Option<String>,
    error: Option<String>,
    invitations: Vec<InvitationCard>,
}

async fn invitations_page(
    user: &CurrentUser,
    state: &AppState,
    status: StatusCode,
    error: Option<String>,
) -> Result<HttpResponse, WebError> {
    // Support staff are invited nowhere.
    if user.is_support() {
        return Err(WebError::Forbidden);
    }
    let email = user.user.email.clone();
    let invitations = state
        .db
        .run(move |conn| invitation_rows::for_email(conn, &email))
        .await?;
    let now = state.clock.now();
    render(
        status,
        &InvitationsPage {
            shell: Shell::new(user, Area::Invitations),
            flash: user.session.take_flash(),
            error,
            invitations: invitations
                .iter()
                .map(|invitation| card(invitation, now))
                .collect(),
        },
    )
}

/// `GET /invitations`.
pub async fn page(user: CurrentUser, state: web::Data<AppState>) -> Result<HttpResponse, WebError> {
    invitations_page(&user, &state, StatusCode::OK, None).await
}

/// How a refused answer is shown: on the page with its message, or not found.
async fn refused(
    user: &CurrentUser,
    state: &AppState,
    err: InvitationError,
) -> Result<HttpResponse, WebError> {
    match err {
        InvitationError::NotFound => Err(WebError::NotFound),
        InvitationError::NotPermitted => Err(WebError::Forbidden),
        InvitationError::Db(err) => Err(err.into()),
        InvitationError::Expired(_)
        | InvitationError::AlreadyJoined(_)
        | InvitationError::AlreadyMember(_)
        | InvitationError::AlreadyInvited(_) => {
            invitations_page(user, state, StatusCode::CONFLICT, Some(err.to_string())).await
        }
    }
}

/// `POST /invitations/{invitation_id}/accept`: joins the merchant and goes on working in it.
pub async fn accept(
    req: HttpRequest,
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<InvitationId>,
) -> Result<HttpResponse, WebError> {
    let (actor, now) = (user.actor(&req), state.clock.now());
    let (invitation_id, user_id) = (path.into_inner(), user.user.id.clone());
    let outcome = state
        .db
        .run(move |conn| invitations::accept(conn, &invitation_id, &user_id, &actor, now))
        .await;
    match outcome {
        Ok(invitation) => {
            user.session.set_merchant_id(&invitation.merchant_id);
            user.session.set_flash(&format!(
                "You joined {} as {}.",
                invitation.merchant_name,
                invitation.role.label()
            ));
            Ok(see_other(HOME))
        }
        Err(err) => refused(&user, &state, err).await,
    }
}

/// `POST /invitations/{invitation_id}/decline`.
pub async fn decline(
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<InvitationId>,
) -> Result<HttpResponse, WebError> {
    let now = state.clock.now();
    let (invitation_id, user_id) = (path.into_inner(), user.user.id.clone());
    let outcome = state
        .db
        .run(move |conn| invitations::decline(conn, &invitation_id, &user_id, now))
        .await;
    match outcome {
        Ok(invitation) => {
            user.session.set_flash(&format!(
                "You declined the invitation to {}.",
                invitation.merchant_name
            ));
            Ok(see_other(INVITATIONS))
        }
        Err(err) => refused(&user, &state, err).await,
    }
}
