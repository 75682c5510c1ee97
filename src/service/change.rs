//! A change in progress, inside its transaction: the merchant it is made in, who makes
//! it and when. It begins by locking the merchant and checking the actor again, and it
//! records the change's history events.

use serde_json::Value;
use time::PrimitiveDateTime;

use super::authority::{self, Denied};
use crate::db::key_events::{self, EventType};
use crate::db::{DbConnection, DbError};
use crate::domain::{Actor, KeyId, MerchantId, Permission};

/// Who changes what in which merchant, and when.
#[derive(Debug, Clone, Copy)]
pub struct Change<'a> {
    /// The merchant the change is made in.
    pub merchant_id: &'a MerchantId,
    /// Who makes it.
    pub actor: &'a Actor,
    /// When.
    pub now: PrimitiveDateTime,
}

impl<'a> Change<'a> {
    /// Begins a change asking for `permission`: locks the merchant, then checks that the
    /// actor may still make it (see [`authority::lock_for`]). Call it first in the
    /// change's transaction.
    pub fn begin(
        conn: &mut DbConnection,
        merchant_id: &'a MerchantId,
        actor: &'a Actor,
        permission: Permission,
        now: PrimitiveDateTime,
    ) -> Result<Self, Denied> {
        authority::lock_for(conn, merchant_id, actor, permission)?;
        Ok(Self {
            merchant_id,
            actor,
            now,
        })
    }

    /// Records one of the change's history events, on `key_id` or on the merchant.
    pub fn record(
        &self,
        conn: &mut DbConnection,
        key_id: Option<&KeyId>,
        event: EventType,
        details: &Value,
    ) -> Result<(), DbError> {
        key_events::record(
            conn,
            self.merchant_id,
            key_id,
            event,
            self.actor,
            details,
            self.now,
        )
    }
}
