//! Revealing a test key again, where the merchant's Key Policy allows it.

use serde_json::json;
use time::PrimitiveDateTime;

use super::shared::{Generated, KeyError, Target, on_key};
use crate::db::key_events::EventType;
use crate::db::{DbConnection, DbError};
use crate::domain::{Actor, KeyId, KeyPepper, MerchantId, SealingKey, check_reveal};

/// Shows a test key once more: the rule is asked inside the transaction, the key is
/// opened from its sealed secret, and the reveal is recorded in the key's history.
/// Nothing else is written.
pub fn reveal(
    conn: &mut DbConnection,
    merchant_id: &MerchantId,
    key_id: &KeyId,
    actor: &Actor,
    pepper: &KeyPepper,
    now: PrimitiveDateTime,
) -> Result<Generated, KeyError> {
    let target = Target::new(merchant_id, key_id, actor, now);
    on_key(conn, target, |conn, change, row, policy| {
        check_reveal(&row.facts(), row.environment, &policy)?;
        // Every test key is sealed when it is made; one that does not open was sealed
        // under another server secret, whose keys no longer verify either.
        let key = row
            .sealed_secret
            .as_deref()
            .and_then(|sealed| SealingKey::derive(pepper).open(sealed, &row.id))
            .ok_or_else(|| DbError::Corrupt(format!("the sealed secret of test key {}", row.id)))?;
        change.record(
            conn,
            Some(&row.id),
            EventType::Revealed,
            &json!({ "again": true }),
        )?;
        Ok(Generated { key, row, policy })
    })
}
