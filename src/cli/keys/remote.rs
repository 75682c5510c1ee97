//! The `key` commands from anywhere: each one request (or a few) to a server's
//! management API, with no database and no secret on this machine. The token decides
//! the merchant.

use serde::Serialize;

use super::backend::{KeyBackend, KeyChanges, NewKey, StateChange};
use crate::api::manage::events::Event;
use crate::api::manage::keys::{CreatedKey, EventList, Key, KeyPage, LoggedRequest, RequestPage, RotatedKey};
use crate::cli::error::CliError;
use crate::cli::management_api::ManagementApi;
use crate::domain::{Environment, GracePeriod, KeyId};

/// Keys asked for at a time by `key list`, the most the API gives.
const PAGE_SIZE: &str = "100";

/// A server's management API, called with one token.
#[derive(Debug)]
pub(crate) struct Remote {
    api: ManagementApi,
}

/// `POST /keys` and `POST /keys/{id}/duplicate`: what is left out takes the API's
/// default (or the source key's).
#[derive(Serialize)]
struct CreateBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scopes: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_in_days: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rate_limit_per_minute: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    environment: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    allowed_ips: Option<&'a [String]>,
}

/// `PATCH /keys/{id}`: what is left out keeps its value.
#[derive(Serialize)]
struct EditBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scopes: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    allowed_ips: Option<&'a [String]>,
}

/// `POST /keys/{id}/rotate`: without a grace period, the policy's.
#[derive(Serialize)]
struct RotateBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    grace: Option<&'static str>,
}

impl Remote {
    /// The management API at `url`, called with `token`.
    pub(crate) fn new(url: &str, token: Option<&str>) -> Result<Self, CliError> {
        Ok(Self {
            api: ManagementApi::new(url, token)?,
        })
    }

    /// A token acts for its own merchant: naming one is refused rather than ignored.
    fn no_merchant(merchant: Option<&str>) -> Result<(), CliError> {
        match merchant {
            Some(_) => Err(CliError::Usage(
                "--merchant does not go with --url: a management token acts for its own merchant".into(),
            )),
            None => Ok(()),
        }
    }
}

fn key_path(key_id: &KeyId) -> String {
    format!("keys/{key_id}")
}

impl KeyBackend for Remote {
    fn create(&mut self, merchant: Option<&str>, key: &NewKey) -> Result<CreatedKey, CliError> {
        Self::no_merchant(merchant)?;
        let body = CreateBody {
            name: Some(&key.name),
            description: key.description.as_deref(),
            scopes: Some(&key.scopes),
            expires_in_days: key.expires_in_days,
            rate_limit_per_minute: key.rate_limit,
            environment: Some(key.environment.as_str()),
            allowed_ips: Some(&key.allowed_ips),
        };
        Ok(self.api.post("keys", Some(&body), "CreatedKey")?)
    }

    fn list(
        &mut self,
        merchant: Option<&str>,
        environment: Option<Environment>,
    ) -> Result<Vec<Key>, CliError> {
        Self::no_merchant(merchant)?;
        let mut keys = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut query = vec![("limit", PAGE_SIZE)];
            if let Some(environment) = environment {
                query.push(("environment", environment.as_str()));
            }
            if let Some(cursor) = &cursor {
                query.push(("cursor", cursor));
            }
            let page: KeyPage = self.api.get("keys", &query, "KeyPage")?;
            keys.extend(page.data);
            match page.next_cursor {
                // A cursor that does not move would page forever.
                Some(next) if cursor.as_ref() != Some(&next) => cursor = Some(next),
                _ => return Ok(keys),
            }
        }
    }

    fn show(&mut self, key_id: &KeyId) -> Result<Key, CliError> {
        Ok(self.api.get(&key_path(key_id), &[], "Key")?)
    }

    fn edit(&mut self, key_id: &KeyId, changes: &KeyChanges) -> Result<Key, CliError> {
        let body = EditBody {
            name: changes.name.as_deref(),
            description: changes.description.as_deref(),
            scopes: changes.scopes.as_deref(),
            allowed_ips: changes.allowed_ips.as_deref(),
        };
        Ok(self.api.patch(&key_path(key_id), &body, "Key")?)
    }

    fn rotate(&mut self, key_id: &KeyId, grace: Option<GracePeriod>) -> Result<RotatedKey, CliError> {
        let body = RotateBody {
            grace: grace.map(GracePeriod::as_str),
        };
        let path = format!("{}/rotate", key_path(key_id));
        Ok(self.api.post(&path, Some(&body), "RotatedKey")?)
    }

    fn change_state(&mut self, key_id: &KeyId, change: StateChange) -> Result<Key, CliError> {
        // The call itself is the confirmation, as on the command line: no body.
        let path = format!("{}/{}", key_path(key_id), change.action());
        Ok(self.api.post(&path, None::<&()>, "Key")?)
    }

    fn delete(&mut self, key_id: &KeyId) -> Result<Key, CliError> {
        // The deletion answers with no body: the key is read first, to say which it was.
        let key = self.show(key_id)?;
        self.api.delete(&key_path(key_id))?;
        Ok(key)
    }

    fn duplicate(&mut self, key_id: &KeyId, name: Option<&str>) -> Result<CreatedKey, CliError> {
        let body = CreateBody {
            name,
            description: None,
            scopes: None,
            expires_in_days: None,
            rate_limit_per_minute: None,
            environment: None,
            allowed_ips: None,
        };
        let path = format!("{}/duplicate", key_path(key_id));
        Ok(self.api.post(&path, Some(&body), "CreatedKey")?)
    }

    fn history(&mut self, key_id: &KeyId) -> Result<Vec<Event>, CliError> {
        let path = format!("{}/history", key_path(key_id));
        let events: EventList = self.api.get(&path, &[], "EventList")?;
        Ok(events.data)
    }

    fn requests(&mut self, key_id: &KeyId, outcome: Option<&str>) -> Result<Vec<LoggedRequest>, CliError> {
        let path = format!("{}/requests", key_path(key_id));
        let mut query = vec![("limit", PAGE_SIZE)];
        if let Some(outcome) = outcome {
            query.push(("outcome", outcome));
        }
        let page: RequestPage = self.api.get(&path, &query, "RequestPage")?;
        Ok(page.data)
    }
}
