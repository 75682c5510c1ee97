//! The dashboard's own addresses, named once.

/// Where a signed-in user lands: Settings → API Credentials.
pub const HOME: &str = "/settings/api-credentials";

/// The Change password page; the one page an account on its one-time password may open.
pub const PASSWORD: &str = "/account/password";
