//! Changes to an existing key version: its state (revoke, disable, enable, delete), its
//! details (edit) and its expiry (renew).

use serde_json::json;
use time::PrimitiveDateTime;

use super::create::{insert_race, unique_name};
use super::shared::{EditRequest, KeyError, Target, apply, on_key, reload};
use crate::db::DbConnection;
use crate::db::key_events::EventType;
use crate::db::keys::{self, KeyRow, Transition};
use crate::domain::{
    Actor, Expiry, IpAllowlist, KeyDescription, KeyId, KeyName, KeyPolicy, KeyStatus, MerchantId, Refusal,
    Scopes, check_delete, check_disable, check_edit, check_enable, check_expiry_change, check_renew,
    check_revoke, parse_rate_limit, renewed_expiry,
};

/// Revokes a key for good, once `REVOKE` was typed exactly.
pub fn revoke(
    conn: &mut DbConnection,
    merchant_id: &MerchantId,
    key_id: &KeyId,
    confirmation: &str,
    actor: &Actor,
    now: PrimitiveDateTime,
) -> Result<KeyRow, KeyError> {
    let target = Target::new(merchant_id, key_id, actor, now);
    on_key(conn, target, |conn, change, row, policy| {
        let facts = row.facts();
        check_revoke(&facts, confirmation, &policy)?;
        apply(conn, change, &row, facts.status, Transition::Revoked)?;
        let details = json!({ "from": facts.status.as_str(), "version": row.version });
        change.record(conn, Some(&row.id), EventType::Revoked, &details)?;
        reload(conn, &row)
    })
}

/// Disables an active key.
pub fn disable(
    conn: &mut DbConnection,
    merchant_id: &MerchantId,
    key_id: &KeyId,
    actor: &Actor,
    now: PrimitiveDateTime,
) -> Result<KeyRow, KeyError> {
    let target = Target::new(merchant_id, key_id, actor, now);
    on_key(conn, target, |conn, change, row, _policy| {
        check_disable(&row.facts())?;
        apply(conn, change, &row, KeyStatus::Active, Transition::Disabled)?;
        change.record(conn, Some(&row.id), EventType::Disabled, &json!({}))?;
        reload(conn, &row)
    })
}

/// Enables a disabled key, within the policy's limit.
pub fn enable(
    conn: &mut DbConnection,
    merchant_id: &MerchantId,
    key_id: &KeyId,
    actor: &Actor,
    now: PrimitiveDateTime,
) -> Result<KeyRow, KeyError> {
    let target = Target::new(merchant_id, key_id, actor, now);
    on_key(conn, target, |conn, change, row, policy| {
        let active = keys::count_active(conn, merchant_id, row.environment, now)?;
        check_enable(&row.facts(), active, &policy, now)?;
        apply(conn, change, &row, KeyStatus::Disabled, Transition::Enabled)?;
        change.record(conn, Some(&row.id), EventType::Enabled, &json!({}))?;
        reload(conn, &row)
    })
}

/// Changes a key's name, description, (where the policy allows) scopes, and when asked
/// its rate limit, allowed addresses and expiry (within the policy's maximum lifetime). Each kind of change
/// is its own history event, before → after.
pub fn edit(
    conn: &mut DbConnection,
    merchant_id: &MerchantId,
    key_id: &KeyId,
    request: &EditRequest,
    actor: &Actor,
    now: PrimitiveDateTime,
) -> Result<KeyRow, KeyError> {
    let target = Target::new(merchant_id, key_id, actor, now);
    on_key(conn, target, |conn, change, row, policy| {
        let name = KeyName::parse(request.name.as_deref().unwrap_or(&row.name), true)?;
        let description = KeyDescription::parse(request.description.as_deref().unwrap_or(&row.description))?;
        let scopes = match &request.scopes {
            Some(names) => Scopes::parse(names)?,
            None => row.scopes.clone(),
        };
        let rate_limit = match &request.rate_limit {
            Some(raw) => Some(parse_rate_limit(raw)?.map(|limit| i32::try_from(limit).unwrap_or(i32::MAX))),
            None => None,
        }
        .filter(|limit| *limit != row.rate_limit_per_minute);
        let expiry = match &request.expires_on {
            Some(raw) => Some(new_expiry(raw, now, &policy)?),
            None => None,
        }
        .filter(|(expires_at, lifetime)| (*expires_at, *lifetime) != (row.expires_at, row.lifetime_days));
        let allowed_ips = match &request.allowed_ips {
            Some(entries) => Some(IpAllowlist::parse_entries(entries)?),
            None => None,
        }
        .filter(|allowed_ips| *allowed_ips != row.allowed_ips);
        let old_scopes = row.scopes.clone();
        let facts = row.facts();
        check_edit(&facts, scopes != old_scopes, &policy)?;
        if let Some((expires_at, _)) = expiry {
            let active = keys::count_active(conn, merchant_id, row.environment, now)?;
            check_expiry_change(&facts, expires_at, active, &policy, now)?;
        }
        let name = unique_name(conn, merchant_id, name, Some(&row.lineage_id))?;
        let details_changed = name.as_str() != row.name || description.as_str() != row.description;
        if details_changed || scopes != old_scopes {
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
        }
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
        if let Some(limit) = rate_limit {
            keys::update_rate_limit(conn, &row.id, limit, now, &actor.name)?;
            let details = json!({
                "before": {"rate_limit_per_minute": row.rate_limit_per_minute},
                "after": {"rate_limit_per_minute": limit},
            });
            change.record(conn, Some(&row.id), EventType::RateLimitChanged, &details)?;
        }
        if let Some(allowed_ips) = allowed_ips {
            keys::update_allowed_ips(conn, &row.id, &allowed_ips.to_stored(), now, &actor.name)?;
            let details = json!({
                "before": {"allowed_ips": row.allowed_ips.entries()},
                "after": {"allowed_ips": allowed_ips.entries()},
            });
            change.record(conn, Some(&row.id), EventType::AllowedIpsChanged, &details)?;
        }
        if let Some((expires_at, lifetime_days)) = expiry {
            keys::update_expiry(conn, &row.id, expires_at, lifetime_days, now, &actor.name)?;
            let details = json!({
                "before": {
                    "expires_at": row.expires_at.map(|at| at.to_string()),
                    "lifetime_days": row.lifetime_days,
                },
                "after": {
                    "expires_at": expires_at.map(|at| at.to_string()),
                    "lifetime_days": lifetime_days,
                },
            });
            change.record(conn, Some(&row.id), EventType::ExpiryChanged, &details)?;
        }
        reload(conn, &row)
    })
}

/// The expiry a typed last day gives (empty for never) under the policy: a fixed end
/// date, so no lifetime to renew.
fn new_expiry(
    raw: &str,
    now: PrimitiveDateTime,
    policy: &KeyPolicy,
) -> Result<(Option<PrimitiveDateTime>, Option<i32>), KeyError> {
    let choice = if raw.trim().is_empty() { "never" } else { "custom" };
    let (expires_at, lifetime_days) = Expiry::parse(choice, raw)?.resolve(now, policy)?;
    Ok((
        expires_at,
        lifetime_days.map(|days| i32::try_from(days).unwrap_or(i32::MAX)),
    ))
}

/// Renews a key with a lifetime: its expiry becomes one lifetime from now.
pub fn renew(
    conn: &mut DbConnection,
    merchant_id: &MerchantId,
    key_id: &KeyId,
    actor: &Actor,
    now: PrimitiveDateTime,
) -> Result<KeyRow, KeyError> {
    let target = Target::new(merchant_id, key_id, actor, now);
    on_key(conn, target, |conn, change, row, policy| {
        let facts = row.facts();
        check_renew(
            &facts,
            keys::count_active(conn, merchant_id, row.environment, now)?,
            &policy,
            now,
        )?;
        let lifetime = facts.lifetime_days.ok_or(Refusal::NoLifetime)?;
        let expires_at = renewed_expiry(lifetime, &policy, now);
        keys::update_expiry(
            conn,
            &row.id,
            Some(expires_at),
            row.lifetime_days,
            now,
            &actor.name,
        )?;
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
    merchant_id: &MerchantId,
    key_id: &KeyId,
    understood: bool,
    actor: &Actor,
    now: PrimitiveDateTime,
) -> Result<(), KeyError> {
    let target = Target::new(merchant_id, key_id, actor, now);
    on_key(conn, target, |conn, change, row, policy| {
        let facts = row.facts();
        check_delete(&facts, understood, &policy, now)?;
        apply(conn, change, &row, facts.status, Transition::Deleted)?;
        let details = json!({ "from": facts.status.as_str(), "name": row.name });
        change.record(conn, Some(&row.id), EventType::Deleted, &details)?;
        Ok(())
    })
}
