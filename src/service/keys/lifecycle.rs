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
    Actor, KeyDescription, KeyId, KeyName, KeyStatus, MerchantId, Refusal, Scopes, check_delete,
    check_disable, check_edit, check_enable, check_renew, check_revoke, renewed_expiry,
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
        let active = keys::count_active(conn, merchant_id, now)?;
        check_enable(&row.facts(), active, &policy, now)?;
        apply(conn, change, &row, KeyStatus::Disabled, Transition::Enabled)?;
        change.record(conn, Some(&row.id), EventType::Enabled, &json!({}))?;
        reload(conn, &row)
    })
}

/// Changes a key's name, description and (where the policy allows) scopes.
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
        let name = KeyName::parse(&request.name, true)?;
        let description = KeyDescription::parse(&request.description)?;
        let scopes = Scopes::parse(&request.scopes)?;
        let old_scopes = row.scopes.clone();
        check_edit(&row.facts(), scopes != old_scopes, &policy)?;
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
    merchant_id: &MerchantId,
    key_id: &KeyId,
    actor: &Actor,
    now: PrimitiveDateTime,
) -> Result<KeyRow, KeyError> {
    let target = Target::new(merchant_id, key_id, actor, now);
    on_key(conn, target, |conn, change, row, policy| {
        let facts = row.facts();
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
