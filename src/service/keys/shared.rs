//! What every key action shares: its errors, the requests as typed, and reading the key
//! it works on inside its transaction.

use time::PrimitiveDateTime;

use crate::db::keys::{self, KeyRow, Transition};
use crate::db::{DbConnection, DbError, key_policies, write_transaction};
use crate::domain::{
    Actor, ApiKey, Environment, KeyId, KeyPolicy, KeyStatus, MerchantId, Permission, Refusal, ValidationError,
};
use crate::service::authority::Denied;
use crate::service::change::Change;
use crate::service::lapses;

/// Why a key action did not happen. Nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// No such key for this merchant (it may belong to another).
    #[error("no such key")]
    NotFound,
    /// A field is wrong.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The form that asked for this was already used (sent twice at once).
    #[error("This form was already submitted.")]
    AlreadySubmitted,
    /// Another live key has this name.
    #[error("Another key is already named \"{0}\". Choose a different name.")]
    NameTaken(String),
    /// A rule refused the change.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The actor may no longer make this change (removed, demoted or disabled since
    /// the request began).
    #[error("You no longer have permission to make this change.")]
    NotPermitted,
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<Denied> for KeyError {
    fn from(denied: Denied) -> Self {
        match denied {
            Denied::NotPermitted => KeyError::NotPermitted,
            Denied::Db(err) => KeyError::Db(err),
        }
    }
}

impl From<diesel::result::Error> for KeyError {
    fn from(err: diesel::result::Error) -> Self {
        KeyError::Db(err.into())
    }
}

/// What the Generate form (or the CLI) asks for, as typed.
#[derive(Debug, Clone, Default)]
pub struct GenerateRequest {
    /// Name; may be empty when the policy allows.
    pub name: String,
    /// Description.
    pub description: String,
    /// Scope names.
    pub scopes: Vec<String>,
    /// `never`, a number of days, or `custom`.
    pub expires: String,
    /// The custom date (YYYY-MM-DD).
    pub expires_on: String,
    /// The key this one was duplicated from, if any.
    pub duplicated_from: Option<KeyId>,
    /// The one-time value of the form, so the same form never makes two keys.
    pub request_id: Option<String>,
    /// Requests allowed per minute; empty for no limit.
    pub rate_limit: String,
    /// Live or test. A duplicate takes its source's instead: it is a copy of that key.
    pub environment: Environment,
    /// The addresses and CIDR ranges it may be used from, one per entry; none for any.
    pub allowed_ips: Vec<String>,
}

/// A key just generated or rotated: the plaintext, to show once, and its row.
#[derive(Debug)]
pub struct Generated {
    /// The whole key. Shown once; stored nowhere.
    pub key: ApiKey,
    /// The stored version.
    pub row: KeyRow,
    /// The merchant's policy it was made under, to show the key with.
    pub policy: KeyPolicy,
}

/// What the Edit form (or the management API) asks for, as typed.
#[derive(Debug, Clone, Default)]
pub struct EditRequest {
    /// A new name; `None` keeps the key's.
    pub name: Option<String>,
    /// A new description; `None` keeps the key's.
    pub description: Option<String>,
    /// New scope names; `None` keeps the key's. What is kept is read inside the change's
    /// transaction, so two changes to different fields at once never undo each other.
    pub scopes: Option<Vec<String>>,
    /// A new limit of requests per minute (empty for none); `None` keeps the key's.
    pub rate_limit: Option<String>,
    /// A new last day (YYYY-MM-DD; empty for never); `None` keeps the key's expiry.
    pub expires_on: Option<String>,
    /// New allowed addresses and CIDR ranges, one per entry (none for any address);
    /// `None` keeps the key's.
    pub allowed_ips: Option<Vec<String>>,
}

/// The key an action works on, read inside the action's transaction; deleted keys are
/// not found. Any lapse it shows that history lacks is recorded first, as its own step,
/// so the action cannot hide it.
pub(super) fn load(
    conn: &mut DbConnection,
    merchant_id: &MerchantId,
    key_id: &KeyId,
    now: PrimitiveDateTime,
) -> Result<KeyRow, KeyError> {
    let row = keys::find(conn, merchant_id, key_id)?.ok_or(KeyError::NotFound)?;
    if row.status == KeyStatus::Deleted {
        return Err(KeyError::NotFound);
    }
    lapses::record_lapses_of(conn, &row, now)?;
    Ok(row)
}

/// Runs `work` on one of the merchant's keys as one transaction: the change begins (the
/// merchant locked, the actor checked again), then the key and the merchant's policy are
/// read, so every action decides on what it is about to change.
pub(super) fn on_key<T>(
    conn: &mut DbConnection,
    target: Target<'_>,
    work: impl FnOnce(&mut DbConnection, &Change<'_>, KeyRow, KeyPolicy) -> Result<T, KeyError>,
) -> Result<T, KeyError> {
    let Target {
        merchant_id,
        key_id,
        actor,
        now,
    } = target;
    write_transaction(conn, |conn| {
        let change = Change::begin(conn, merchant_id, actor, Permission::ManageKeys, now)?;
        let row = load(conn, merchant_id, key_id, now)?;
        let policy = key_policies::get(conn, merchant_id)?;
        work(conn, &change, row, policy)
    })
}

/// The key an action is on, and who acts when.
#[derive(Clone, Copy)]
pub(super) struct Target<'a> {
    pub(super) merchant_id: &'a MerchantId,
    pub(super) key_id: &'a KeyId,
    pub(super) actor: &'a Actor,
    pub(super) now: PrimitiveDateTime,
}

impl<'a> Target<'a> {
    pub(super) fn new(
        merchant_id: &'a MerchantId,
        key_id: &'a KeyId,
        actor: &'a Actor,
        now: PrimitiveDateTime,
    ) -> Self {
        Self {
            merchant_id,
            key_id,
            actor,
            now,
        }
    }
}

pub(super) fn reload(conn: &mut DbConnection, row: &KeyRow) -> Result<KeyRow, KeyError> {
    keys::find(conn, &row.merchant_id, &row.id)?.ok_or(KeyError::NotFound)
}

/// Applies a state change read as `from`; a concurrent change that got there first
/// makes this one fail rather than overwrite it.
pub(super) fn apply(
    conn: &mut DbConnection,
    change: &Change<'_>,
    row: &KeyRow,
    from: KeyStatus,
    transition: Transition,
) -> Result<(), KeyError> {
    if keys::transition(conn, &row.id, from, transition, change.now, &change.actor.name)? {
        Ok(())
    } else {
        Err(KeyError::Refused(Refusal::Concurrent))
    }
}
