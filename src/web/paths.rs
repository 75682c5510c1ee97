//! The dashboard's own addresses, named once: handlers redirect to these and link to
//! them, so a route that moves moves everywhere.

/// Where a signed-in user lands: Settings → API Credentials.
pub const HOME: &str = API_CREDENTIALS;

/// The sign-in page.
pub const LOGIN: &str = "/login";

/// Settings → API Credentials.
pub const API_CREDENTIALS: &str = "/settings/api-credentials";

/// Settings → Key Policy.
pub const KEY_POLICY: &str = "/settings/key-policy";

/// Settings → Members.
pub const MEMBERS: &str = "/settings/members";

/// Settings → Audit Log.
pub const AUDIT_LOG: &str = "/settings/audit-log";

/// Switches the merchant a member works in.
pub const MERCHANT: &str = "/settings/merchant";

/// Settings, which opens on API Credentials.
pub const SETTINGS: &str = "/settings";

/// Signs out.
pub const LOGOUT: &str = "/logout";

/// The invitations waiting for the signed-in account.
pub const INVITATIONS: &str = "/invitations";

/// The support console.
pub const SUPPORT: &str = "/support";

/// The Change password page; the one page an account on its one-time password may open.
pub const PASSWORD: &str = "/account/password";

/// A key's own page.
pub fn key(key_id: &str) -> String {
    format!("{API_CREDENTIALS}/{key_id}")
}

/// A merchant's overview in the support console.
pub fn support_merchant(merchant_id: &str) -> String {
    format!("{SUPPORT}/merchants/{merchant_id}")
}
