//! Explaining logged requests: each request log row read with what is known of the key
//! it presented, through `domain::diagnosis`. Read only; the Request Log page, the key
//! page and the management API all explain a request here.

use std::collections::HashMap;

use time::PrimitiveDateTime;

use crate::db::key_requests::RequestRow;
use crate::db::keys as key_rows;
use crate::db::{DbConnection, DbError};
use crate::domain::diagnosis::{self, ChangeMade, Diagnosis, KeyContext};
use crate::domain::{KeyId, KeyStatus, MerchantId};

/// What is known of the merchant's key `key_id` today, or `None` when it has no such key.
pub fn key_context(
    conn: &mut DbConnection,
    merchant_id: &MerchantId,
    key_id: &KeyId,
) -> Result<Option<KeyContext>, DbError> {
    let Some(key) = key_rows::find(conn, merchant_id, key_id)? else {
        return Ok(None);
    };
    let newest = key_rows::lineage(conn, merchant_id, &key.lineage_id)?
        .iter()
        .map(|version| version.version)
        .max()
        .filter(|newest| *newest != key.version);
    let change = |by: &Option<String>, at: Option<PrimitiveDateTime>| {
        by.clone().zip(at).map(|(by, at)| ChangeMade { by, at })
    };
    Ok(Some(KeyContext {
        name: key.name.clone(),
        version: key.version,
        newest_version: newest,
        facts: key.facts(),
        scopes: key.scopes.names().into_iter().map(str::to_owned).collect(),
        allowlist: key.allowed_ips.entries(),
        rate_limit_per_minute: key.rate_limit_per_minute,
        revoked: change(&key.revoked_by, key.revoked_at).filter(|_| key.status == KeyStatus::Revoked),
        disabled: change(&key.disabled_by, key.disabled_at).filter(|_| key.status == KeyStatus::Disabled),
    }))
}

/// Each row explained, in the same order; the key of several rows is read once.
pub fn explain_all(
    conn: &mut DbConnection,
    rows: &[RequestRow],
    now: PrimitiveDateTime,
) -> Result<Vec<Diagnosis>, DbError> {
    let mut keys: HashMap<String, Option<KeyContext>> = HashMap::new();
    rows.iter()
        .map(|row| {
            let key = match &row.key_id {
                Some(id) => {
                    if !keys.contains_key(id) {
                        let context = key_context(conn, &row.merchant_id, &KeyId::parse(id)?)?;
                        keys.insert(id.clone(), context);
                    }
                    keys.get(id).and_then(Option::as_ref)
                }
                None => None,
            };
            Ok(diagnosis::diagnose(&row.seen(), key, now))
        })
        .collect()
}

/// One row explained.
pub fn explain(
    conn: &mut DbConnection,
    row: &RequestRow,
    now: PrimitiveDateTime,
) -> Result<Diagnosis, DbError> {
    let mut explained = explain_all(conn, std::slice::from_ref(row), now)?;
    Ok(explained.remove(0))
}
