//! Management tokens: what automation uses to manage a merchant's keys through the
//! management API. `kw_mgmt_` + the key format's secret and CRC32 checksum, so a secret
//! scanner tells a token from a key by its prefix alone; stored, like keys, as a
//! peppered digest.

use std::fmt;

use super::key::{
    CHECKSUM_CHARS, KeyDigest, KeyFormatError, KeyPepper, SECRET_CHARS, check_secret, find_secret,
    generate_secret, mask_secret,
};
use super::role::Permission;
use super::validation::ValidationError;

/// The prefix of every management token. It must never change, like the key prefix.
pub const TOKEN_PREFIX: &str = "kw_mgmt_";
/// Length of a whole token.
pub const TOKEN_CHARS: usize = TOKEN_PREFIX.len() + SECRET_CHARS + CHECKSUM_CHARS;

/// A whole management token. `Debug` and `Display` show only its masked form.
#[derive(Clone, PartialEq, Eq)]
pub struct ManagementToken(String);

impl fmt::Debug for ManagementToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ManagementToken({})", self.masked())
    }
}

impl fmt::Display for ManagementToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl ManagementToken {
    /// A new token with a secret from the operating system's random source.
    pub fn generate() -> Self {
        Self(generate_secret(TOKEN_PREFIX))
    }

    /// Parses a token as presented: prefix, length, alphabet, then checksum, before any
    /// hashing or query.
    pub fn parse(raw: &str) -> Result<Self, KeyFormatError> {
        check_secret(TOKEN_PREFIX, raw)?;
        Ok(Self(raw.to_owned()))
    }

    /// The first whole token written anywhere in `text`, so that one pasted into a name
    /// or a description is recognised and refused.
    pub fn find_in(text: &str) -> Option<Self> {
        find_secret(TOKEN_PREFIX, text).map(|found| Self(found.to_owned()))
    }

    /// The whole token, for the one time it is shown.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The prefix, the four characters after it and the token's last four.
    pub fn masked(&self) -> String {
        mask_secret(TOKEN_PREFIX, &self.0)
    }

    /// The stored digest, peppered like a key's.
    pub fn digest(&self, pepper: &KeyPepper) -> KeyDigest {
        pepper.digest(&self.0)
    }
}

/// What a management token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TokenScope {
    /// List and read keys, their usage and history.
    KeysRead,
    /// Create, change, rotate, revoke and delete keys.
    KeysWrite,
    /// Read the Audit Log.
    AuditRead,
    /// List members.
    MembersRead,
    /// Read the key policy.
    PolicyRead,
    /// Replace the key policy.
    PolicyWrite,
}

impl TokenScope {
    /// Every scope, in the order the page lists them.
    pub const ALL: [TokenScope; 6] = [
        TokenScope::KeysRead,
        TokenScope::KeysWrite,
        TokenScope::AuditRead,
        TokenScope::MembersRead,
        TokenScope::PolicyRead,
        TokenScope::PolicyWrite,
    ];

    /// The scope's name, as stored, sent and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenScope::KeysRead => "keys:read",
            TokenScope::KeysWrite => "keys:write",
            TokenScope::AuditRead => "audit:read",
            TokenScope::MembersRead => "members:read",
            TokenScope::PolicyRead => "policy:read",
            TokenScope::PolicyWrite => "policy:write",
        }
    }

    /// What the scope allows, in a few words.
    pub fn description(self) -> &'static str {
        match self {
            TokenScope::KeysRead => "List keys and read their details, usage and history",
            TokenScope::KeysWrite => "Create, edit, rotate, disable, enable, renew, revoke and delete keys",
            TokenScope::AuditRead => "Read the Audit Log",
            TokenScope::MembersRead => "List the merchant's members",
            TokenScope::PolicyRead => "Read the key policy",
            TokenScope::PolicyWrite => "Replace the key policy",
        }
    }

    /// The scope a change asking for `permission` needs from a token; `None` where no
    /// token may make it (members and tokens are changed by people only).
    pub fn for_permission(permission: Permission) -> Option<Self> {
        match permission {
            Permission::ManageKeys => Some(TokenScope::KeysWrite),
            Permission::ChangePolicy => Some(TokenScope::PolicyWrite),
            Permission::Admin => None,
        }
    }

    /// Parses one scope name exactly.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        TokenScope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == raw)
            .ok_or_else(|| ValidationError::UnknownScope(raw.chars().take(40).collect()))
    }
}

impl fmt::Display for TokenScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The scopes a token carries: at least one, each once, in catalogue order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TokenScopes(Vec<TokenScope>);

impl TokenScopes {
    /// Parses the scopes asked for; a token without any could do nothing.
    pub fn parse<S: AsRef<str>>(raw: &[S]) -> Result<Self, ValidationError> {
        let mut scopes = raw
            .iter()
            .map(|name| TokenScope::parse(name.as_ref().trim()))
            .collect::<Result<Vec<_>, _>>()?;
        scopes.sort();
        scopes.dedup();
        if scopes.is_empty() {
            return Err(ValidationError::Empty { field: "Scopes" });
        }
        Ok(Self(scopes))
    }

    /// Reads the stored form (space-separated names).
    pub fn from_stored(stored: &str) -> Result<Self, ValidationError> {
        let names: Vec<&str> = stored.split_whitespace().collect();
        Self::parse(&names)
    }

    /// The stored form.
    pub fn to_stored(&self) -> String {
        self.names().join(" ")
    }

    /// The scope names, in catalogue order.
    pub fn names(&self) -> Vec<&'static str> {
        self.0.iter().map(|scope| scope.as_str()).collect()
    }

    /// Whether the token carries `scope`.
    pub fn contains(&self, scope: TokenScope) -> bool {
        self.0.contains(&scope)
    }
}

impl TryFrom<String> for TokenScopes {
    type Error = ValidationError;

    fn try_from(stored: String) -> Result<Self, ValidationError> {
        Self::from_stored(&stored)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ApiKey;

    #[test]
    fn tokens_parse_and_keys_are_not_tokens() {
        let token = ManagementToken::generate();
        assert_eq!(token.expose().len(), TOKEN_CHARS);
        assert_eq!(ManagementToken::parse(token.expose()), Ok(token.clone()));
        let key = ApiKey::generate();
        assert_eq!(ManagementToken::parse(key.expose()), Err(KeyFormatError::Prefix));
        assert!(ApiKey::parse(token.expose()).is_err());
        let mut wrong = token.expose().to_owned();
        wrong.replace_range(TOKEN_CHARS - 1.., if wrong.ends_with('A') { "B" } else { "A" });
        assert_eq!(ManagementToken::parse(&wrong), Err(KeyFormatError::Checksum));
    }

    #[test]
    fn debug_and_display_show_only_the_mask() {
        let token = ManagementToken::generate();
        for shown in [format!("{token:?}"), format!("{token}")] {
            assert!(!shown.contains(token.expose()), "{shown}");
            assert!(shown.contains(&token.masked()), "{shown}");
        }
        assert!(token.masked().starts_with("kw_mgmt_"));
    }

    #[test]
    fn a_token_and_a_key_with_one_secret_have_different_digests() {
        let pepper = KeyPepper::new([3; 64]);
        let token = ManagementToken::generate();
        assert_eq!(token.digest(&pepper), token.digest(&pepper));
        assert_ne!(token.digest(&pepper), ManagementToken::generate().digest(&pepper));
    }

    #[test]
    fn scopes_are_parsed_once_each_and_never_empty() {
        let scopes = TokenScopes::parse(&["policy:read", "keys:read", "keys:read"]).unwrap();
        assert_eq!(scopes.names(), ["keys:read", "policy:read"]);
        assert_eq!(TokenScopes::from_stored(&scopes.to_stored()), Ok(scopes));
        assert!(TokenScopes::parse::<&str>(&[]).is_err());
        assert!(TokenScopes::parse(&["orders:read"]).is_err());
    }
}
