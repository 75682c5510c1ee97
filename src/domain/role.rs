use std::fmt;
use std::str::FromStr;

/// What a change asks of the member who makes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Generating, rotating, editing, disabling, revoking and deleting keys.
    ManageKeys,
    /// Changing members and management tokens.
    Admin,
    /// Changing the key policy (admins; a token with `policy:write`).
    ChangePolicy,
}

/// A member's role in a merchant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Everything, including members and key policy.
    Admin,
    /// Generates and manages keys.
    Developer,
    /// Reads only.
    Viewer,
}

impl Role {
    /// Every role, most powerful first.
    pub const ALL: [Role; 3] = [Role::Admin, Role::Developer, Role::Viewer];

    /// The role as stored and as typed on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Developer => "developer",
            Role::Viewer => "viewer",
        }
    }

    /// Admins and developers generate, rotate, edit, disable, revoke and delete keys.
    pub fn can_manage_keys(self) -> bool {
        matches!(self, Role::Admin | Role::Developer)
    }

    /// Only admins change the key policy and members.
    pub fn is_admin(self) -> bool {
        self == Role::Admin
    }

    /// True when this role may make changes that ask for `permission`.
    pub fn allows(self, permission: Permission) -> bool {
        match permission {
            Permission::ManageKeys => self.can_manage_keys(),
            Permission::Admin | Permission::ChangePolicy => self.is_admin(),
        }
    }

    /// The role as shown on a page.
    pub fn label(self) -> &'static str {
        match self {
            Role::Admin => "Admin",
            Role::Developer => "Developer",
            Role::Viewer => "Viewer",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text was not one of `admin`, `developer` or `viewer`.
#[derive(Debug, thiserror::Error)]
#[error("unknown role `{0}` (expected admin, developer or viewer)")]
pub struct UnknownRole(String);

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == raw)
            .ok_or_else(|| UnknownRole(raw.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_round_trips_through_its_text() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
        }
    }

    #[test]
    fn unknown_and_miscased_roles_are_refused() {
        assert!("owner".parse::<Role>().is_err());
        assert!("Admin".parse::<Role>().is_err());
    }
}
