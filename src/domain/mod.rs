//! Pure logic with no I/O: values parsed from raw input, roles, passwords, the key
//! format, key states and their rules, and the key policy.

mod actions;
mod actor;
mod allowlist;
pub mod diagnosis;
mod email;
mod environment;
mod grace;
mod ids;
mod key;
mod lifecycle;
mod names;
mod password;
mod policy;
#[cfg(test)]
mod properties;
mod role;
mod scope;
mod sealing;
mod search;
mod throttle;
mod token;
mod validation;

pub use actions::{AllowedActions, KeySurroundings, allowed_actions, allowed_generate, allowed_reveal};
pub use actor::{Actor, ActorKind};
pub use allowlist::{ALLOWLIST_FIELD, IpAllowlist, MAX_ALLOWLIST_ENTRIES};
pub use email::Email;
pub use environment::{Environment, UnknownEnvironment};
pub use grace::GracePeriod;
pub use ids::{EventId, InvitationId, KeyId, MalformedId, MerchantId, TokenId, UserId};
pub use key::{ApiKey, KEY_PREFIX, KeyDigest, KeyFormatError, KeyPepper, MalformedDigest};
pub use lifecycle::{
    DisplayStatus, Expiry, KeyDescription, KeyFacts, KeyName, KeyStatus, LIFETIME_CHOICES, Refusal,
    check_delete, check_disable, check_duplicate, check_edit, check_enable, check_expiry_change, check_limit,
    check_renew, check_reveal, check_revoke, check_rotate, parse_rate_limit, renewed_expiry, rotated_expiry,
};
pub use names::{MerchantName, PersonName};
pub use password::{Password, PasswordHash, generate_password, prepare_password_checks, random_token};
pub use policy::{KeyPolicy, MAX_ACTIVE_KEYS_LIMIT, MAX_LIFETIME_DAYS, PolicyPreset};
pub use role::{Permission, Role, UnknownRole};
pub use scope::{Scope, Scopes};
pub use sealing::SealingKey;
pub use search::SupportQuery;
pub use throttle::{AttemptRecord, Held, SignInThrottle, Verdict};
pub use token::{ManagementToken, TOKEN_CHARS, TOKEN_PREFIX, TokenScope, TokenScopes};
pub use validation::{ValidationError, is_bidi_control};
