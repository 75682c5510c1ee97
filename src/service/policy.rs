//! The merchant's Key Policy, replaced as one change.

use serde_json::json;
use time::PrimitiveDateTime;

use super::change::Change;
use super::keys::KeyError;
use crate::db::key_events::EventType;
use crate::db::{DbConnection, key_policies, write_transaction};
use crate::domain::{Actor, KeyPolicy, MerchantId, Permission};

/// Replaces the merchant's key policy; existing keys are left as they are.
pub fn set_policy(
    conn: &mut DbConnection,
    merchant_id: &MerchantId,
    policy: &KeyPolicy,
    actor: &Actor,
    now: PrimitiveDateTime,
) -> Result<(), KeyError> {
    let policy = policy.validate()?;
    write_transaction(conn, |conn| {
        let change = Change::begin(conn, merchant_id, actor, Permission::ChangePolicy, now)?;
        let before = key_policies::get(conn, merchant_id)?;
        key_policies::put(conn, merchant_id, &policy, now, &actor.name)?;
        let details = json!({ "before": policy_json(&before), "after": policy_json(&policy) });
        change.record(conn, None, EventType::PolicyChanged, &details)?;
        Ok(())
    })
}

fn policy_json(policy: &KeyPolicy) -> serde_json::Value {
    json!({
        "preset": policy.preset().map(|preset| preset.as_str()),
        "max_active_keys": policy.max_active_keys,
        "default_grace": policy.default_grace.as_str(),
        "name_required": policy.name_required,
        "revoke_only_disabled": policy.revoke_only_disabled,
        "delete_only_inactive": policy.delete_only_inactive,
        "scopes_editable": policy.scopes_editable,
        "max_lifetime_days": policy.max_lifetime_days,
        "test_keys_revealable": policy.test_keys_revealable,
    })
}
