//! What the layout around every signed-in page shows: the user, their merchants, and
//! the CSRF token its forms carry.

use crate::db::memberships::MerchantAccess;
use crate::web::current_user::CurrentUser;

/// The area of the dashboard a page belongs to, marked in the navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    /// Settings → API Credentials and each key's page.
    ApiCredentials,
    /// Settings → Members.
    Members,
    /// Settings → Key Policy.
    KeyPolicy,
    /// Settings → Management Tokens.
    ManagementTokens,
    /// Settings → Audit Log.
    AuditLog,
    /// Settings → Request Log.
    RequestLog,
    /// The support console.
    Support,
    /// A merchant opened in the support console.
    SupportMerchant,
    /// The invitations waiting for the user.
    Invitations,
    /// Change password.
    Password,
}

/// The shell's data, built from the signed-in user.
pub struct Shell {
    /// The user's display name, in the bottom-left corner.
    pub user_name: String,
    /// The user's email, in the profile menu.
    pub user_email: String,
    /// The token every form and htmx request carries.
    pub csrf_token: String,
    /// The user's merchants, for the switcher.
    pub merchants: Vec<MerchantAccess>,
    /// The merchant being worked in.
    pub merchant: Option<MerchantAccess>,
    /// The area being shown, to mark it in the navigation.
    pub active: Area,
    /// Support staff, who see the merchant they opened read only.
    pub support: bool,
    /// Invitations waiting for the user's answer.
    pub invitations: i64,
}

impl Shell {
    /// The shell for `user` on a page of the area `active`.
    pub fn new(user: &CurrentUser, active: Area) -> Self {
        Self {
            user_name: user.user.name.clone(),
            user_email: user.user.email.clone(),
            csrf_token: user.session.csrf_token(),
            merchants: user.merchants.clone(),
            merchant: user.merchant.clone(),
            active,
            support: user.is_support(),
            invitations: user.invitations,
        }
    }

    /// The `hx-headers` value that sends the CSRF token with every htmx request.
    pub fn hx_headers(&self) -> String {
        serde_json::json!({ crate::web::csrf::CSRF_HEADER: self.csrf_token }).to_string()
    }

    /// The first letter of the user's name, for the avatar.
    pub fn initial(&self) -> String {
        self.user_name
            .chars()
            .next()
            .map(|c| c.to_uppercase().collect())
            .unwrap_or_default()
    }

    /// True when the user administers the merchant being worked in.
    pub fn is_admin(&self) -> bool {
        self.merchant.as_ref().is_some_and(|m| m.role.is_admin())
    }

    /// True when the sidebar links to the user's invitations: while some wait for an
    /// answer, and always for an account in no merchant yet.
    pub fn shows_invitations(&self) -> bool {
        !self.support && (self.invitations > 0 || self.merchant.is_none())
    }

    /// True when the user can switch between merchants.
    pub fn can_switch_merchant(&self) -> bool {
        self.merchants.len() > 1
    }

    /// True for the merchant being worked in.
    pub fn is_current(&self, merchant: &MerchantAccess) -> bool {
        self.merchant
            .as_ref()
            .is_some_and(|current| current.merchant_id == merchant.merchant_id)
    }
}
