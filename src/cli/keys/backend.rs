//! What the `key` commands ask of where they act, the database or a server's management
//! API: one method a command, each answering with the API's resources.

use crate::api::manage::events::Event;
use crate::api::manage::keys::{CreatedKey, Key, LoggedRequest, RotatedKey};
use crate::cli::error::CliError;
use crate::domain::{Environment, GracePeriod, KeyId};

/// A key to generate, as the command line gives it.
pub(crate) struct NewKey {
    pub(crate) name: String,
    pub(crate) description: Option<String>,
    pub(crate) scopes: Vec<String>,
    pub(crate) expires_in_days: Option<u32>,
    pub(crate) rate_limit: Option<u32>,
    pub(crate) environment: Environment,
    /// The addresses and CIDR ranges it may be used from, canonical; none for any.
    pub(crate) allowed_ips: Vec<String>,
}

/// A key's new details; `None` keeps what it has.
pub(crate) struct KeyChanges {
    pub(crate) name: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) scopes: Option<Vec<String>>,
    /// The addresses and CIDR ranges it may be used from from now on (none for any).
    pub(crate) allowed_ips: Option<Vec<String>>,
}

/// The state changes that need nothing but the key: the API's `POST /keys/{id}/<action>`.
#[derive(Debug, Clone, Copy)]
pub(crate) enum StateChange {
    Revoke,
    Disable,
    Enable,
    Renew,
}

impl StateChange {
    /// The action's name in the API's path.
    pub(crate) fn action(self) -> &'static str {
        match self {
            StateChange::Revoke => "revoke",
            StateChange::Disable => "disable",
            StateChange::Enable => "enable",
            StateChange::Renew => "renew",
        }
    }
}

/// Where the `key` commands act: the database, or a server's management API. Each
/// answers with the API's resources, so printing them is the same for both.
pub(crate) trait KeyBackend {
    /// Generates a key for `merchant` (the token's own merchant remotely).
    fn create(&mut self, merchant: Option<&str>, key: &NewKey) -> Result<CreatedKey, CliError>;
    /// Every key of `merchant` (of `environment` only, when given), newest first,
    /// deleted ones left out.
    fn list(
        &mut self,
        merchant: Option<&str>,
        environment: Option<Environment>,
    ) -> Result<Vec<Key>, CliError>;
    /// One key.
    fn show(&mut self, key_id: &KeyId) -> Result<Key, CliError>;
    /// Changes a key's details.
    fn edit(&mut self, key_id: &KeyId, changes: &KeyChanges) -> Result<Key, CliError>;
    /// Rotates a key; `None` leaves the grace period to the merchant's policy.
    fn rotate(&mut self, key_id: &KeyId, grace: Option<GracePeriod>) -> Result<RotatedKey, CliError>;
    /// Revokes, disables, enables or renews a key.
    fn change_state(&mut self, key_id: &KeyId, change: StateChange) -> Result<Key, CliError>;
    /// Deletes a key; answers with the key as it was.
    fn delete(&mut self, key_id: &KeyId) -> Result<Key, CliError>;
    /// Generates a key from another's settings.
    fn duplicate(&mut self, key_id: &KeyId, name: Option<&str>) -> Result<CreatedKey, CliError>;
    /// A key's history, oldest first.
    fn history(&mut self, key_id: &KeyId) -> Result<Vec<Event>, CliError>;
    /// The newest rows of a key's request log (a page's worth), only those with
    /// `outcome` when given.
    fn requests(&mut self, key_id: &KeyId, outcome: Option<&str>) -> Result<Vec<LoggedRequest>, CliError>;
}

/// The key the command line names; a malformed ID is refused like an unknown one.
pub(super) fn key_id(raw: &str) -> Result<KeyId, CliError> {
    KeyId::parse(raw).map_err(|_| no_such_key(raw))
}

/// The refusal for a key that is not there (or not a key ID).
pub(super) fn no_such_key(raw: &str) -> CliError {
    CliError::Refused(format!("no key has the ID \"{raw}\""))
}
