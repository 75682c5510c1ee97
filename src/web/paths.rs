//! The dashboard's own addresses, named once: the route table registers these patterns,
//! handlers redirect to these addresses and templates link to them, so a route that
//! moves moves everywhere.
//!
//! Each base is a macro as well as a constant so that route patterns can be built from
//! it with `concat!` at compile time.

use crate::domain::Environment;

macro_rules! api_credentials {
    () => {
        "/settings/api-credentials"
    };
}
macro_rules! members {
    () => {
        "/settings/members"
    };
}
macro_rules! management_tokens {
    () => {
        "/settings/management-tokens"
    };
}
macro_rules! audit_log {
    () => {
        "/settings/audit-log"
    };
}
macro_rules! invitations {
    () => {
        "/invitations"
    };
}
macro_rules! support {
    () => {
        "/support"
    };
}

/// Where a signed-in user lands: Settings → API Credentials.
pub const HOME: &str = API_CREDENTIALS;

/// The front door, which sends each user where they belong.
pub const ROOT: &str = "/";

/// The sign-in page.
pub const LOGIN: &str = "/login";

/// Settings → API Credentials.
pub const API_CREDENTIALS: &str = api_credentials!();

/// The Generate New API Key form as a page of its own.
pub const NEW_KEY: &str = concat!(api_credentials!(), "/new");

/// API Credentials showing the keys of `environment`.
pub fn key_list(environment: Environment) -> String {
    match environment {
        Environment::Live => API_CREDENTIALS.to_owned(),
        _ => format!("{API_CREDENTIALS}?environment={environment}"),
    }
}

/// The Generate form for a key of `environment` (live keys' form is [`NEW_KEY`] itself).
pub fn new_key(environment: Environment) -> String {
    match environment {
        Environment::Live => NEW_KEY.to_owned(),
        _ => format!("{NEW_KEY}?environment={environment}"),
    }
}

/// Settings → Key Policy.
pub const KEY_POLICY: &str = "/settings/key-policy";

/// Settings → Management Tokens.
pub const MANAGEMENT_TOKENS: &str = management_tokens!();

/// The New Management Token form as a page of its own.
pub const NEW_MANAGEMENT_TOKEN: &str = concat!(management_tokens!(), "/new");

/// Settings → Members.
pub const MEMBERS: &str = members!();

/// Settings → Audit Log.
pub const AUDIT_LOG: &str = audit_log!();

/// Settings → Request Log: a request explained by its ID, and the merchant's log searched.
pub const REQUEST_LOG: &str = "/settings/request-log";

/// Switches the merchant a member works in.
pub const MERCHANT: &str = "/settings/merchant";

/// Settings, which opens on API Credentials.
pub const SETTINGS: &str = "/settings";

/// Signs out.
pub const LOGOUT: &str = "/logout";

/// The invitations waiting for the signed-in account.
pub const INVITATIONS: &str = invitations!();

/// The support console.
pub const SUPPORT: &str = support!();

/// The Change password page; the one page an account on its one-time password may open.
pub const PASSWORD: &str = "/account/password";

/// The management API's OpenAPI document, which Management Tokens points automation to.
pub const OPENAPI_DOCUMENT: &str = "/api/v1/openapi.json";

/// Liveness, for load balancers.
pub const HEALTHZ: &str = "/healthz";

/// Readiness: 503 while the database cannot be written.
pub const READYZ: &str = "/readyz";

/// Prometheus metrics: on a listener of their own, or behind a bearer token.
pub const METRICS: &str = "/metrics";

/// The static assets, by file name.
pub const STATIC_ASSET: &str = "/static/{name}";

/// Route patterns with parameters, as the route table registers them.
pub mod route {
    /// A key's own page.
    pub const KEY: &str = concat!(api_credentials!(), "/{key_id}");
    /// A key's request log as CSV.
    pub const KEY_REQUESTS_CSV: &str = concat!(api_credentials!(), "/{key_id}/requests.csv");
    /// Duplicating a key (the Generate form, filled in from it).
    pub const KEY_DUPLICATE: &str = concat!(api_credentials!(), "/{key_id}/duplicate");
    /// Editing a key.
    pub const KEY_EDIT: &str = concat!(api_credentials!(), "/{key_id}/edit");
    /// Rotating a key.
    pub const KEY_ROTATE: &str = concat!(api_credentials!(), "/{key_id}/rotate");
    /// Revoking a key.
    pub const KEY_REVOKE: &str = concat!(api_credentials!(), "/{key_id}/revoke");
    /// Disabling a key.
    pub const KEY_DISABLE: &str = concat!(api_credentials!(), "/{key_id}/disable");
    /// Enabling a key.
    pub const KEY_ENABLE: &str = concat!(api_credentials!(), "/{key_id}/enable");
    /// Revealing a test key again.
    pub const KEY_REVEAL: &str = concat!(api_credentials!(), "/{key_id}/reveal");
    /// Renewing a key.
    pub const KEY_RENEW: &str = concat!(api_credentials!(), "/{key_id}/renew");
    /// Deleting a key.
    pub const KEY_DELETE: &str = concat!(api_credentials!(), "/{key_id}/delete");
    /// Revoking a management token.
    pub const MANAGEMENT_TOKEN_REVOKE: &str = concat!(management_tokens!(), "/{token_id}/revoke");
    /// Changing a member's role.
    pub const MEMBER_ROLE: &str = concat!(members!(), "/{user_id}/role");
    /// Disabling a member.
    pub const MEMBER_DISABLE: &str = concat!(members!(), "/{user_id}/disable");
    /// Enabling a member.
    pub const MEMBER_ENABLE: &str = concat!(members!(), "/{user_id}/enable");
    /// Removing a member.
    pub const MEMBER_REMOVE: &str = concat!(members!(), "/{user_id}/remove");
    /// Cancelling an invitation the merchant sent.
    pub const CANCEL_INVITATION: &str = concat!(members!(), "/invitations/{invitation_id}/cancel");
    /// Accepting an invitation.
    pub const ACCEPT_INVITATION: &str = concat!(invitations!(), "/{invitation_id}/accept");
    /// Declining an invitation.
    pub const DECLINE_INVITATION: &str = concat!(invitations!(), "/{invitation_id}/decline");
    /// One event of the Audit Log.
    pub const AUDIT_EVENT: &str = concat!(audit_log!(), "/{event_id}");
    /// A merchant in the support console.
    pub const SUPPORT_MERCHANT: &str = concat!(support!(), "/merchants/{merchant_id}");
    /// A key found by the support console.
    pub const SUPPORT_KEY: &str = concat!(support!(), "/merchants/{merchant_id}/keys/{key_id}");
    /// A refused request found by the support console.
    pub const SUPPORT_REQUEST: &str = concat!(support!(), "/merchants/{merchant_id}/requests/{request_id}");
    /// Every address under a merchant of the support console: support staff may open
    /// these whichever merchant they are looking at.
    pub const SUPPORT_MERCHANTS_PREFIX: &str = concat!(support!(), "/merchants/");
}

/// A key's own page.
pub fn key(key_id: impl std::fmt::Display) -> String {
    format!("{API_CREDENTIALS}/{key_id}")
}

/// An action on one key: `key_action(id, "rotate")`.
pub fn key_action(key_id: impl std::fmt::Display, action: &str) -> String {
    format!("{API_CREDENTIALS}/{key_id}/{action}")
}

/// A key's request log as CSV.
pub fn key_requests_csv(key_id: impl std::fmt::Display) -> String {
    format!("{API_CREDENTIALS}/{key_id}/requests.csv")
}

/// Revoking a management token.
pub fn management_token_revoke(token_id: impl std::fmt::Display) -> String {
    format!("{MANAGEMENT_TOKENS}/{token_id}/revoke")
}

/// An action on one member: `member_action(id, "remove")`.
pub fn member_action(user_id: impl std::fmt::Display, action: &str) -> String {
    format!("{MEMBERS}/{user_id}/{action}")
}

/// Cancelling an invitation the merchant sent.
pub fn cancel_invitation(invitation_id: impl std::fmt::Display) -> String {
    format!("{MEMBERS}/invitations/{invitation_id}/cancel")
}

/// Answering an invitation: `answer_invitation(id, "accept")`.
pub fn answer_invitation(invitation_id: impl std::fmt::Display, answer: &str) -> String {
    format!("{INVITATIONS}/{invitation_id}/{answer}")
}

/// One event of the Audit Log.
pub fn audit_event(event_id: impl std::fmt::Display) -> String {
    format!("{AUDIT_LOG}/{event_id}")
}

/// A merchant's overview in the support console.
pub fn support_merchant(merchant_id: impl std::fmt::Display) -> String {
    format!("{SUPPORT}/merchants/{merchant_id}")
}

/// A refused request found by the support console.
pub fn support_request(merchant_id: impl std::fmt::Display, request_id: impl std::fmt::Display) -> String {
    format!("{SUPPORT}/merchants/{merchant_id}/requests/{request_id}")
}

/// A key found by the support console.
pub fn support_key(merchant_id: impl std::fmt::Display, key_id: impl std::fmt::Display) -> String {
    format!("{SUPPORT}/merchants/{merchant_id}/keys/{key_id}")
}
