//! New key versions: generating a key, and rotating one into its next version.

use serde_json::json;
use time::PrimitiveDateTime;

use super::shared::{GenerateRequest, Generated, KeyError, apply, load};
use crate::db::key_events::EventType;
use crate::db::keys::{self, NewKey, Transition};
use crate::db::{DbConnection, DbError, key_policies, write_transaction};
use crate::domain::{
    Actor, ApiKey, Environment, Expiry, GracePeriod, IpAllowlist, KeyDescription, KeyId, KeyName, KeyPepper,
    KeyStatus, MerchantId, Permission, Scopes, SealingKey, check_duplicate, check_limit, check_rotate,
    parse_rate_limit, rotated_expiry,
};
use crate::service::change::Change;

pub(super) fn unique_name(
    conn: &mut DbConnection,
    merchant_id: &MerchantId,
    name: Option<KeyName>,
    except_lineage: Option<&KeyId>,
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
pub(super) fn insert_race(err: DbError, name: &str) -> KeyError {
    match err {
        DbError::UniqueViolation(message) if message.contains("request_id") => KeyError::AlreadySubmitted,
        DbError::UniqueViolation(_) => KeyError::NameTaken(name.to_owned()),
        other => KeyError::Db(other),
    }
}

/// What the caller decides about a new key version; [`mint`] adds the key itself.
struct Version<'a> {
    /// The lineage it continues; `None` starts a new one.
    lineage_id: Option<&'a KeyId>,
    number: i32,
    name: &'a str,
    description: &'a str,
    scopes: &'a str,
    lifetime_days: Option<u32>,
    expires_at: Option<PrimitiveDateTime>,
    request_id: Option<&'a str>,
    rate_limit_per_minute: Option<i32>,
    environment: Environment,
    allowed_ips: &'a IpAllowlist,
}

/// Makes a new key and stores it as an active version: only its digest and masked form
/// are kept, and for a test key its sealed secret (which the Key Policy may let be
/// revealed again). Returns the key, to show once, and the version's ID.
fn mint(
    conn: &mut DbConnection,
    merchant_id: &MerchantId,
    version: Version<'_>,
    actor: &Actor,
    pepper: &KeyPepper,
    now: PrimitiveDateTime,
) -> Result<(ApiKey, KeyId), KeyError> {
    let key = ApiKey::generate_in(version.environment);
    let id = KeyId::generate();
    let sealed = SealingKey::derive(pepper).seal(&key, &id);
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
            environment: version.environment,
            sealed_secret: sealed.as_deref(),
            allowed_ips: &version.allowed_ips.to_stored(),
        },
    )
    .map_err(|err| insert_race(err, version.name))?;
    Ok((key, id))
}

/// Generates a key: checks the policy's limit, the name and the expiry, stores the
/// digest and records the event. The plaintext is returned once and kept nowhere.
pub fn generate(
    conn: &mut DbConnection,
    merchant_id: &MerchantId,
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
        let allowed_ips = IpAllowlist::parse_entries(&request.allowed_ips)?;
        let source = match &request.duplicated_from {
            Some(source) => Some(load(conn, merchant_id, source, now)?),
            None => None,
        };
        let environment = source
            .as_ref()
            .map_or(request.environment, |source| source.environment);
        // The limit counts the keys of the new key's environment only.
        let active_keys = keys::count_active(conn, merchant_id, environment, now)?;
        let duplicated_from = match source {
            Some(source) => {
                check_duplicate(&source.facts(), active_keys, &policy)?;
                Some(source)
            }
            None => {
                check_limit(active_keys, &policy)?;
                None
            }
        };
        let name = unique_name(conn, merchant_id, name, None)?;

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
                environment,
                allowed_ips: &allowed_ips,
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
            "environment": environment.as_str(),
            "allowed_ips": allowed_ips.entries(),
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
    pub key_id: &'a KeyId,
    /// How long the old version keeps working.
    pub grace: GracePeriod,
    /// The one-time value of the form, so the same form never rotates twice.
    pub request_id: Option<&'a str>,
}

/// Rotates a key: a new version with the same name, description, scopes, lifetime, rate
/// limit and allowed addresses;
/// the old one keeps working until the grace period ends (never past its own expiry).
pub fn rotate(
    conn: &mut DbConnection,
    merchant_id: &MerchantId,
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
        let facts = old.facts();
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
                scopes: &old.scopes.to_stored(),
                lifetime_days,
                expires_at,
                request_id,
                rate_limit_per_minute: old.rate_limit_per_minute,
                environment: old.environment,
                allowed_ips: &old.allowed_ips,
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
