//! `/api/v1/members`: who belongs to the merchant, with their roles; never anything about
//! their passwords or sessions.

use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa::openapi::schema::Object;

use super::ManageState;
use super::auth::Caller;
use super::error::ManageError;
use super::keys::rfc3339;
use crate::db::memberships::{self, Member as MemberRow, MemberStatus};
use crate::domain::{Role, TokenScope};

/// Registers the Members route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/members").route(web::get().to(list_members)));
}

fn roles() -> Object {
    super::openapi::string_enum(Role::ALL.map(Role::as_str))
}

fn statuses() -> Object {
    super::openapi::string_enum(["active", "disabled"])
}

/// A member of the merchant.
#[derive(Debug, Serialize, ToSchema)]
pub struct Member {
    /// The member's user ID (the Audit Log's `actor_id` filter takes it).
    #[schema(format = Uuid)]
    pub user_id: String,
    /// The member's name.
    pub name: String,
    /// The member's sign-in email.
    pub email: String,
    /// `admin`, `developer` or `viewer`.
    #[schema(schema_with = roles)]
    pub role: &'static str,
    /// `disabled` when the member, or their whole account, is disabled.
    #[schema(schema_with = statuses)]
    pub status: &'static str,
    /// When the member joined the merchant.
    #[schema(format = DateTime)]
    pub joined_at: String,
}

impl From<&MemberRow> for Member {
    fn from(member: &MemberRow) -> Self {
        let status = match member.status() {
            MemberStatus::Active | MemberStatus::MustSetPassword => "active",
            MemberStatus::Disabled | MemberStatus::AccountDisabled => "disabled",
        };
        Self {
            user_id: member.user_id.to_string(),
            name: member.name.clone(),
            email: member.email.clone(),
            role: member.role.as_str(),
            status,
            joined_at: rfc3339(member.joined_at),
        }
    }
}

/// The merchant's members.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberList {
    /// Every member, disabled ones included, by name then email.
    pub data: Vec<Member>,
}

/// List the members.
#[utoipa::path(
    get,
    path = "/api/v1/members",
    tag = "Members",
    responses(
        (status = 200, description = "The merchant's members", body = MemberList),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 429, response = super::openapi::TooManyRequests),
    ),
    security(("management_token" = ["members:read"]))
)]
pub async fn list_members(
    state: web::Data<ManageState>,
    caller: Caller,
) -> Result<HttpResponse, ManageError> {
    caller.require(TokenScope::MembersRead)?;
    let merchant_id = caller.token.merchant_id.clone();
    let members = state
        .db
        .run(move |conn| memberships::members(conn, &merchant_id))
        .await?;
    Ok(HttpResponse::Ok().json(MemberList {
        data: members.iter().map(Member::from).collect(),
    }))
}
