//! The `key` commands on the database, beside the server: through `service::keys` as
//! the command line (`Actor::cli()`), with the key pepper derived from the server secret.

use std::path::Path;

use super::backend::{KeyBackend, KeyChanges, NewKey, StateChange, no_such_key};
use crate::api::manage::events::Event;
use crate::api::manage::keys::requests::PAGE_MAX;
use crate::api::manage::keys::{CreatedKey, Key, LoggedRequest, RotatedKey};
use crate::cli::error::{CliError, open};
use crate::clock::Clock;
use crate::config::{DatabaseUrl, Secret};
use crate::db::keys::{self as db_keys, KeyRow};
use crate::db::{PooledConnection, key_events, key_policies, key_requests, merchants};
use crate::domain::{Actor, Environment, GracePeriod, KeyId, KeyName, KeyPepper, KeyStatus, MerchantId};
use crate::service::keys::{self, EditRequest, GenerateRequest};

/// The database, and the secret the server derives the key pepper from.
pub(crate) struct Local<'a> {
    database: &'a DatabaseUrl,
    secret_file: Option<&'a Path>,
    conn: PooledConnection,
    actor: Actor,
    clock: Clock,
}

impl<'a> Local<'a> {
    /// Opens (and migrates) the database; the secret is read only by the commands that
    /// make a key.
    pub(crate) fn open(database: &'a DatabaseUrl, secret_file: Option<&'a Path>) -> Result<Self, CliError> {
        let conn = open(database)?.get()?;
        Ok(Self {
            database,
            secret_file,
            conn,
            actor: Actor::cli(),
            clock: Clock::default(),
        })
    }

    /// The same pepper the server derives: from KEYWARD_SECRET, the secret file, or on
    /// SQLite the `keyward.secret` beside the database.
    fn pepper(&self) -> Result<KeyPepper, CliError> {
        let secret = Secret::load(
            std::env::var("KEYWARD_SECRET").ok(),
            self.secret_file,
            self.database,
        )?;
        Ok(crate::startup::key_pepper(&secret))
    }

    fn merchant(&mut self, raw: Option<&str>) -> Result<MerchantId, CliError> {
        let raw = raw.ok_or_else(|| {
            CliError::Usage(
                "--merchant is required (the merchant's name or ID), or --url and --token to use a server's management API".into(),
            )
        })?;
        merchants::find_by_id_or_name(&mut self.conn, raw)?
            .map(|merchant| merchant.id)
            .ok_or_else(|| CliError::Refused(format!("no merchant has the name or ID \"{raw}\"")))
    }

    /// The key with this ID, whichever merchant's; a deleted one is not found.
    fn key(&mut self, key_id: &KeyId) -> Result<KeyRow, CliError> {
        db_keys::find_any(&mut self.conn, key_id)?
            .filter(|row| row.status != KeyStatus::Deleted)
            .ok_or_else(|| no_such_key(key_id.as_str()))
    }

    fn resource(&self, row: &KeyRow) -> Key {
        Key::from_row(row, self.clock.now())
    }

    fn generate(
        &mut self,
        merchant_id: &MerchantId,
        request: &GenerateRequest,
    ) -> Result<CreatedKey, CliError> {
        let pepper = self.pepper()?;
        let now = self.clock.now();
        let generated = keys::generate(&mut self.conn, merchant_id, request, &self.actor, &pepper, now)?;
        Ok(CreatedKey {
            key: self.resource(&generated.row),
            secret: Some(generated.key.expose().to_owned()),
            secret_note: None,
        })
    }
}

/// The Generate form's expiry choice for a lifetime in days, or none.
fn expires(days: Option<impl ToString>) -> String {
    days.map_or_else(|| "never".to_owned(), |days| days.to_string())
}

impl KeyBackend for Local<'_> {
    fn create(&mut self, merchant: Option<&str>, key: &NewKey) -> Result<CreatedKey, CliError> {
        let merchant_id = self.merchant(merchant)?;
        let request = GenerateRequest {
            name: key.name.clone(),
            description: key.description.clone().unwrap_or_default(),
            scopes: key.scopes.clone(),
            expires: expires(key.expires_in_days),
            rate_limit: key.rate_limit.map(|limit| limit.to_string()).unwrap_or_default(),
            environment: key.environment,
            allowed_ips: key.allowed_ips.clone(),
            ..GenerateRequest::default()
        };
        self.generate(&merchant_id, &request)
    }

    fn list(
        &mut self,
        merchant: Option<&str>,
        environment: Option<Environment>,
    ) -> Result<Vec<Key>, CliError> {
        let merchant_id = self.merchant(merchant)?;
        let rows = db_keys::list(&mut self.conn, &merchant_id)?;
        Ok(rows
            .iter()
            .filter(|row| environment.is_none_or(|environment| row.environment == environment))
            .map(|row| self.resource(row))
            .collect())
    }

    fn show(&mut self, key_id: &KeyId) -> Result<Key, CliError> {
        let row = self.key(key_id)?;
        Ok(self.resource(&row))
    }

    fn edit(&mut self, key_id: &KeyId, changes: &KeyChanges) -> Result<Key, CliError> {
        let row = self.key(key_id)?;
        // What the command line does not change keeps its value.
        let request = EditRequest {
            name: changes.name.clone(),
            description: changes.description.clone(),
            scopes: changes.scopes.clone(),
            allowed_ips: changes.allowed_ips.clone(),
            ..EditRequest::default()
        };
        let now = self.clock.now();
        let row = keys::edit(
            &mut self.conn,
            &row.merchant_id,
            &row.id,
            &request,
            &self.actor,
            now,
        )?;
        Ok(self.resource(&row))
    }

    fn rotate(&mut self, key_id: &KeyId, grace: Option<GracePeriod>) -> Result<RotatedKey, CliError> {
        let old = self.key(key_id)?;
        let grace = match grace {
            Some(grace) => grace,
            None => key_policies::get(&mut self.conn, &old.merchant_id)?.default_grace,
        };
        let command = keys::Rotate {
            key_id: &old.id,
            grace,
            request_id: None,
        };
        let pepper = self.pepper()?;
        let now = self.clock.now();
        let generated = keys::rotate(
            &mut self.conn,
            &old.merchant_id,
            &command,
            &self.actor,
            &pepper,
            now,
        )?;
        let previous = self.key(&old.id)?;
        Ok(RotatedKey {
            key: self.resource(&generated.row),
            secret: Some(generated.key.expose().to_owned()),
            secret_note: None,
            previous: self.resource(&previous),
        })
    }

    fn change_state(&mut self, key_id: &KeyId, change: StateChange) -> Result<Key, CliError> {
        let row = self.key(key_id)?;
        let (conn, merchant_id, actor, now) =
            (&mut self.conn, &row.merchant_id, &self.actor, self.clock.now());
        let changed = match change {
            // Typing the command is the confirmation the dashboard asks for.
            StateChange::Revoke => keys::revoke(conn, merchant_id, &row.id, "REVOKE", actor, now)?,
            StateChange::Disable => keys::disable(conn, merchant_id, &row.id, actor, now)?,
            StateChange::Enable => keys::enable(conn, merchant_id, &row.id, actor, now)?,
            StateChange::Renew => keys::renew(conn, merchant_id, &row.id, actor, now)?,
        };
        Ok(self.resource(&changed))
    }

    fn delete(&mut self, key_id: &KeyId) -> Result<Key, CliError> {
        let row = self.key(key_id)?;
        let now = self.clock.now();
        // Typing the command is the box the dashboard asks to tick.
        keys::delete(&mut self.conn, &row.merchant_id, &row.id, true, &self.actor, now)?;
        Ok(self.resource(&row))
    }

    fn duplicate(&mut self, key_id: &KeyId, name: Option<&str>) -> Result<CreatedKey, CliError> {
        let source = self.key(key_id)?;
        // What the dashboard's Duplicate prefills, and the API's default name.
        let request = GenerateRequest {
            name: name.map_or_else(|| KeyName::copy_of(&source.name), str::to_owned),
            description: source.description.clone(),
            scopes: source.scopes.names().into_iter().map(str::to_owned).collect(),
            expires: expires(source.lifetime_days),
            rate_limit: source
                .rate_limit_per_minute
                .map(|limit| limit.to_string())
                .unwrap_or_default(),
            allowed_ips: source.allowed_ips.entries(),
            duplicated_from: Some(source.id.clone()),
            ..GenerateRequest::default()
        };
        self.generate(&source.merchant_id, &request)
    }

    fn history(&mut self, key_id: &KeyId) -> Result<Vec<Event>, CliError> {
        let row = self.key(key_id)?;
        let events = key_events::for_key(&mut self.conn, &row.merchant_id, &row.id)?;
        Ok(events.iter().map(Event::from_row).collect())
    }

    fn requests(&mut self, key_id: &KeyId, outcome: Option<&str>) -> Result<Vec<LoggedRequest>, CliError> {
        let row = self.key(key_id)?;
        let rows = key_requests::for_key(&mut self.conn, &row.merchant_id, &row.id, outcome, None, PAGE_MAX)?;
        Ok(rows.into_iter().map(LoggedRequest::from_row).collect())
    }
}
