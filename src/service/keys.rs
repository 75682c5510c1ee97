//! Every key action as one transaction: lock the merchant, read, check the domain's
//! rules, write the change and its history event together. The dashboard and the CLI
//! both go through here.

use serde_json::json;
use time::PrimitiveDateTime;

use super::authority::Denied;
use super::change::Change;
use super::lapses;
use crate::db::key_events::EventType;
use crate::db::keys::{self, KeyRow, NewKey, Transition};
use crate::db::{DbConnection, DbError, key_policies, write_transaction};
use crate::domain::{
    Actor, ApiKey, Expiry, GracePeriod, KeyDescription, KeyName, KeyPepper, KeyPolicy, KeyStatus, Permission,
    Refusal, Scopes, ValidationError, check_delete, check_disable, check_edit, check_enable, check_limit,
    check_renew, check_revoke, check_rotate, parse_rate_limit, renewed_expiry, rotated_expiry,
};

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
    pub duplicated_from: Option<String>,
    /// The one-time value of the form, so the same form never makes two keys.
    pub request_id: Option<String>,
    /// Requests allowed per minute; empty for no limit.
    pub rate_limit: String,
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

/// What the Edit form asks for, as typed.
#[derive(Debug, Clone, Default)]
pub struct EditRequest {
    /// New name.
    pub name: String,
    /// New description.
    pub description: String,
    /// New scope names.
    pub scopes: Vec<String>,
}

/// The key an action works on, read inside the action's transaction; deleted keys are
/// not found. Any lapse it shows that history lacks is recorded first, as its own step,
/// so the action cannot hide it.
fn load(
    conn: &mut DbConnection,
    merchant_id: &str,
    key_id: &str,
    now: PrimitiveDateTime,
) -> Result<KeyRow, KeyError> {
    if uuid::Uuid::parse_str(key_id).is_err() {
        return Err(KeyError::NotFound);
    }
    let row = keys::find(conn, merchant_id, key_id)?.ok_or(KeyError::NotFound)?;
    if row.status()? == KeyStatus::Deleted {
        return Err(KeyError::NotFound);
    }
    lapses::record_lapses_of(conn, &row, now)?;
    Ok(row)
}

fn reload(conn: &mut DbConnection, row: &KeyRow) -> Result<KeyRow, KeyError> {
    keys::find(conn, &row.merchant_id, &row.id)?.ok_or(KeyError::NotFound)
}

/// Applies a state change read as `from`; a concurrent change that got there first
/// makes this one fail rather than overwrite it.
fn apply(
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

fn unique_name(
    conn: &mut DbConnection,
    merchant_id: &str,
    name: Option<KeyName>,
    except_lineage: Option<&str>,
) -> Result<KeyName, KeyError> {
    match name {
        Some(name) => {
            if keys::name_taken(conn, merchant_id, name.as_str(), except_lineage)? {
                return Err(KeyError::NameTaken(name.as_str().to_owned()));
            }
            Ok(name)
        }
        None => {
            let mut n = keys::count_lineages(conn, merchant_id)? + 1;
            loop {
                let candidate = KeyName::numbered(n);
                if !keys::name_taken(conn, merchant_id, candidate.as_str(), None)? {
                    return Ok(candidate);
                }
                n += 1;
            }
        }
    }
}

/// Maps a unique-index violation on insert to what a person can act on: the same form
/// sent twice at once, or two requests racing for one name.
fn insert_race(err: DbError, name: &str) -> KeyError {
    match err {
        DbError::UniqueViolation(message) if message.contains("request_id") => KeyError::AlreadySubmitted,
        DbError::UniqueViolation(_) => KeyError::NameTaken(name.to_owned()),
        other => KeyError::Db(other),
    }
}

/// What the caller decides about a new key version; [`mint`] adds the key itself.
struct Version<'a> {
    /// The lineage it continues; `None` starts a new one.
    lineage_id: Option<&'a str>,
    number: i32,
    name: &'a str,
    description: &'a str,
    scopes: &'a str,
    lifetime_days: Option<u32>,
    expires_at: Option<PrimitiveDateTime>,
    request_id: Option<&'a str>,
    rate_limit_per_minute: Option<i32>,
}

/// Makes a new key and stores it as an active version: only its digest and masked form
/// are kept. Returns the key, to show once, and the version's ID.
fn mint(
    conn: &mut DbConnection,
    merchant_id: &str,
    version: Version<'_>,
    actor: &Actor,
    pepper: &KeyPepper,
    now: PrimitiveDateTime,
) -> Result<(ApiKey, String), KeyError> {
    let key = ApiKey::generate();
    let id = uuid::Uuid::new_v4().to_string();
    keys::insert(
        conn,
        NewKey {
            id: &id,
            merchant_id,
            lineage_id: version.lineage_id.unwrap_or(&id),
            version: version.number,
            name: version.name,
            description: version.description,
            scopes: version.scopes,
            key_hash: &key.digest(pepper),
            masked_key: &key.masked(),
            lifetime_days: version
                .lifetime_days
                .map(|days| i32::try_from(days).unwrap_or(i32::MAX)),
            expires_at: version.expires_at,
            created_at: now,
            created_by: &actor.name,
            request_id: version.request_id,
            rate_limit_per_minute: version.rate_limit_per_minute,
        },
    )
    .map_err(|err| insert_race(err, version.name))?;
    Ok((key, id))
}

/// Generates a key: checks the policy's limit, the name and the expiry, stores the
/// digest and records the event. The plaintext is returned once and kept nowhere.
pub fn generate(
    conn: &mut DbConnection,
    merchant_id: &str,
    request: &GenerateRequest,
    actor: &Actor,
    pepper: &KeyPepper,
    now: PrimitiveDateTime,
) -> Result<Generated, KeyError> {
    write_transaction(conn, |conn| {
        let change = Change::begin(conn, merchant_id, actor, Permission::ManageKeys, now)?;
        let policy = key_policies::get(conn, merchant_id)?;
        let name = KeyName::parse(&request.name, policy.name_required)?;
        let description = KeyDescription::parse(&request.description)?;
        let scopes = Scopes::parse(&request.scopes)?;
        let (expires_at, lifetime_days) =
            Expiry::parse(&request.expires, &request.expires_on)?.resolve(now, &policy)?;
        let rate_limit = parse_rate_limit(&request.rate_limit)?;
        check_limit(keys::count_active(conn, merchant_id, now)?, &policy)?;
        let name = unique_name(conn, merchant_id, name, None)?;
        let duplicated_from = match &request.duplicated_from {
            Some(source) => Some(load(conn, merchant_id, source, now)?),
            None => None,
        };

        let (key, id) = mint(
            conn,
            merchant_id,
            Version {
                lineage_id: None,
                number: 1,
                name: name.as_str(),
                description: description.as_str(),
                scopes: &scopes.to_stored(),
                lifetime_days,
                expires_at,
                request_id: request.request_id.as_deref(),
                rate_limit_per_minute: rate_limit.map(|limit| i32::try_from(limit).unwrap_or(i32::MAX)),
            },
            actor,
            pepper,
            now,
        )?;
        let details = json!({
            "name": name.as_str(),
            "version": 1,
            "scopes": scopes.names(),
            "expires_at": expires_at.map(|at| at.to_string()),
            "duplicated_from": duplicated_from.as_ref().map(|source| &source.id),
        });
        change.record(conn, Some(&id), EventType::Generated, &details)?;
        if let Some(source) = &duplicated_from {
            let details = json!({ "source_key_id": source.id, "source_name": source.name });
            change.record(conn, Some(&id), EventType::DuplicatedFrom, &details)?;
        }
        // The one time the plaintext is handed over.
        change.record(conn, Some(&id), EventType::Revealed, &json!({}))?;
        let row = keys::find(conn, merchant_id, &id)?.ok_or(KeyError::NotFound)?;
        Ok(Generated { key, row, policy })
    })
}

/// What a rotation asks for.
#[derive(Debug, Clone, Copy)]
pub struct Rotate<'a> {
    /// The version to rotate.
    pub key_id: &'a str,
    /// How long the old version keeps working.
    pub grace: GracePeriod,
    /// The one-time value of the form, so the same form never rotates twice.
    pub request_id: Option<&'a str>,
}

/// Rotates a key: a new version with the same name, description, scopes and lifetime;
/// the old one keeps working until the grace period ends (never past its own expiry).
pub fn rotate(
    conn: &mut DbConnection,
    merchant_id: &str,
    command: &Rotate<'_>,
    actor: &Actor,
    pepper: &KeyPepper,
    now: PrimitiveDateTime,
) -> Result<Generated, KeyError> {
    let Rotate {
        key_id,
        grace,
        request_id,
    } = *command;
    write_transaction(conn, |conn| {
        let change = Change::begin(conn, merchant_id, actor, Permission::ManageKeys, now)?;
        let old = load(conn, merchant_id, key_id, now)?;
        let facts = old.facts()?;
        check_rotate(&facts, keys::lineage_in_grace(conn, &old.lineage_id, now)?, now)?;
        let grace_ends_at = grace.ends_at(now, old.expires_at);
        apply(
            conn,
            &change,
            &old,
            KeyStatus::Active,
            Transition::Rotated { grace_ends_at },
        )?;

        let version = old.version + 1;
        let policy = key_policies::get(conn, merchant_id)?;
        let (expires_at, lifetime_days) = rotated_expiry(&facts, &policy, now);
        let (key, id) = mint(
            conn,
            merchant_id,
            Version {
                lineage_id: Some(&old.lineage_id),
                number: version,
                name: &old.name,
                description: &old.description,
                scopes: &old.scopes,
                lifetime_days,
                expires_at,
                request_id,
                rate_limit_per_minute: old.rate_limit_per_minute,
            },
            actor,
            pepper,
            now,
        )?;
        let details = json!({
            "from_version": old.version,
            "to_version": version,
            "new_key_id": id,
            "grace": grace.as_str(),
            "grace_ends_at": grace_ends_at.to_string(),
        });
        change.record(conn, Some(&old.id), EventType::Rotated, &details)?;
        let generated = json!({ "name": old.name, "version": version, "rotated_from": old.id });
        change.record(conn, Some(&id), EventType::Generated, &generated)?;
        // The one time the plaintext is handed over.
        change.record(conn, Some(&id), EventType::Revealed, &json!({}))?;
        let row = keys::find(conn, merchant_id, &id)?.ok_or(KeyError::NotFound)?;
        Ok(Generated { key, row, policy })
    })
}

/// Revokes a key for good, once `REVOKE` was typed exactly.
pub fn revoke(
    conn: &mut DbConnection,
    merchant_id: &str,
    key_id: &str,
    confirmation: &str,
    actor: &Actor,
    now: PrimitiveDateTime,
) -> Result<KeyRow, KeyError> {
    write_transaction(conn, |conn| {
        let change = Change::begin(conn, merchant_id, actor, Permission::ManageKeys, now)?;
        let row = load(conn, merchant_id, key_id, now)?;
        let policy = key_policies::get(conn, merchant_id)?;
        let facts = row.facts()?;
        check_revoke(&facts, confirmation, &policy)?;
        apply(conn, &change, &row, facts.status, Transition::Revoked)?;
        let details = json!({ "from": facts.status.as_str(), "version": row.version });
        change.record(conn, Some(&row.id), EventType::Revoked, &details)?;
        reload(conn, &row)
    })
}

/// Disables an active key.
pub fn disable(
    conn: &mut DbConnection,
    merchant_id: &str,
    key_id: &str,
    actor: &Actor,
    now: PrimitiveDateTime,
) -> Result<KeyRow, KeyError> {
    write_transaction(conn, |conn| {
        let change = Change::begin(conn, merchant_id, actor, Permission::ManageKeys, now)?;
        let row = load(conn, merchant_id, key_id, now)?;
        check_disable(&row.facts()?)?;
        apply(conn, &change, &row, KeyStatus::Active, Transition::Disabled)?;
        change.record(conn, Some(&row.id), EventType::Disabled, &json!({}))?;
        reload(conn, &row)
    })
}

/// Enables a disabled key, within the policy's limit.
pub fn enable(
    conn: &mut DbConnection,
    merchant_id: &str,
    key_id: &str,
    actor: &Actor,
    now: PrimitiveDateTime,
) -> Result<KeyRow, KeyError> {
    write_transaction(conn, |conn| {
        let change = Change::begin(conn, merchant_id, actor, Permission::ManageKeys, now)?;
        let row = load(conn, merchant_id, key_id, now)?;
        let policy = key_policies::get(conn, merchant_id)?;
        check_enable(
            &row.facts()?,
            keys::count_active(conn, merchant_id, now)?,
            &policy,
            now,
        )?;
        apply(conn, &change, &row, KeyStatus::Disabled, Transition::Enabled)?;
        change.record(conn, Some(&row.id), EventType::Enabled, &json!({}))?;
        reload(conn, &row)
    })
}

/// Changes a key's name, description and (where the policy allows) scopes.
pub fn edit(
    conn: &mut DbConnection,
    merchant_id: &str,
    key_id: &str,
    request: &EditRequest,
    actor: &Actor,
    now: PrimitiveDateTime,
) -> Result<KeyRow, KeyError> {
    write_transaction(conn, |conn| {
        let change = Change::begin(conn, merchant_id, actor, Permission::ManageKeys, now)?;
        let row = load(conn, merchant_id, key_id, now)?;
        let policy = key_policies::get(conn, merchant_id)?;
        let name = KeyName::parse(&request.name, true)?;
        let description = KeyDescription::parse(&request.description)?;
        let scopes = Scopes::parse(&request.scopes)?;
        let old_scopes = row.scopes()?;
        check_edit(&row.facts()?, scopes != old_scopes, &policy)?;
        let name = unique_name(conn, merchant_id, name, Some(&row.lineage_id))?;
        let details_changed = name.as_str() != row.name || description.as_str() != row.description;
        if !details_changed && scopes == old_scopes {
            return Ok(row);
        }
        keys::update_details(
            conn,
            &row.id,
            name.as_str(),
            description.as_str(),
            &scopes.to_stored(),
            now,
            &actor.name,
        )
        .map_err(|err| insert_race(err, name.as_str()))?;
        if details_changed {
            let details = json!({
                "before": {"name": row.name, "description": row.description},
                "after": {"name": name.as_str(), "description": description.as_str()},
            });
            change.record(conn, Some(&row.id), EventType::Edited, &details)?;
        }
        if scopes != old_scopes {
            let details = json!({
                "before": {"scopes": old_scopes.names()},
                "after": {"scopes": scopes.names()},
            });
            change.record(conn, Some(&row.id), EventType::ScopesChanged, &details)?;
        }
        reload(conn, &row)
    })
}

/// Renews a key with a lifetime: its expiry becomes one lifetime from now.
pub fn renew(
    conn: &mut DbConnection,
    merchant_id: &str,
    key_id: &str,
    actor: &Actor,
    now: PrimitiveDateTime,
) -> Result<KeyRow, KeyError> {
    write_transaction(conn, |conn| {
        let change = Change::begin(conn, merchant_id, actor, Permission::ManageKeys, now)?;
        let row = load(conn, merchant_id, key_id, now)?;
        let policy = key_policies::get(conn, merchant_id)?;
        let facts = row.facts()?;
        check_renew(&facts, keys::count_active(conn, merchant_id, now)?, &policy, now)?;
        let lifetime = facts.lifetime_days.ok_or(Refusal::NoLifetime)?;
        let expires_at = renewed_expiry(lifetime, &policy, now);
        keys::update_expiry(conn, &row.id, expires_at, now, &actor.name)?;
        let details = json!({
            "before": row.expires_at.map(|at| at.to_string()),
            "after": expires_at.to_string(),
        });
        change.record(conn, Some(&row.id), EventType::Renewed, &details)?;
        reload(conn, &row)
    })
}

/// Deletes a key (hidden from lists, kept for history), once the box was ticked.
pub fn delete(
    conn: &mut DbConnection,
    merchant_id: &str,
    key_id: &str,
    understood: bool,
    actor: &Actor,
    now: PrimitiveDateTime,
) -> Result<(), KeyError> {
    write_transaction(conn, |conn| {
        let change = Change::begin(conn, merchant_id, actor, Permission::ManageKeys, now)?;
        let row = load(conn, merchant_id, key_id, now)?;
        let policy = key_policies::get(conn, merchant_id)?;
        let facts = row.facts()?;
        check_delete(&facts, understood, &policy, now)?;
        apply(conn, &change, &row, facts.status, Transition::Deleted)?;
        let details = json!({ "from": facts.status.as_str(), "name": row.name });
        change.record(conn, Some(&row.id), EventType::Deleted, &details)?;
        Ok(())
    })
}
