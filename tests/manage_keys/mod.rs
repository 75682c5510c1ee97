//! The management API's key endpoints, as automation calls them with a token: every
//! endpoint, its scope, the rules' refusals, invalid input, idempotent retries and the
//! token's limits, on SQLite and on Postgres.

mod access;
mod changes;
mod environments;
mod idempotency;
mod input;
mod reads;
mod rules;

use keyward::domain::{Actor, KeyPolicy, MerchantId, PolicyPreset};

use crate::support::manage::ManageApi;
use crate::support::tokens::create_token;
use crate::support::{Backend, TestApp, spawn_app};

/// A server, the demo merchant, and a client with a `keys:read keys:write` token named
/// "deploy".
pub struct Setup {
    pub app: TestApp,
    pub merchant_id: MerchantId,
    pub api: ManageApi,
}

pub async fn setup(backend: Backend) -> Option<Setup> {
    let app = spawn_app(backend).await?;
    Some(with_token(app))
}

/// [`setup`] on a server already started.
pub fn with_token(app: TestApp) -> Setup {
    let merchant_id = app.demo_merchant_id();
    let token = create_token(&app.db, &merchant_id, "deploy", &["keys:read", "keys:write"]);
    let api = ManageApi::new(&app.address, &token);
    Setup {
        app,
        merchant_id,
        api,
    }
}

impl Setup {
    /// Another client of this merchant, with a token of its own.
    pub fn client(&self, name: &str, scopes: &[&str]) -> ManageApi {
        ManageApi::new(
            &self.app.address,
            &create_token(&self.app.db, &self.merchant_id, name, scopes),
        )
    }

    pub fn set_policy(&self, policy: &KeyPolicy) {
        keyward::service::policy::set_policy(
            &mut self.app.db.get().unwrap(),
            &self.merchant_id,
            policy,
            &Actor::cli(),
            self.app.clock.now(),
        )
        .unwrap();
    }

    pub fn set_preset(&self, preset: PolicyPreset) {
        self.set_policy(&preset.policy());
    }

    /// How many key versions the merchant has, deleted ones included.
    pub fn key_count(&self) -> i64 {
        self.app.count(&format!(
            "SELECT COUNT(*) AS n FROM api_keys WHERE merchant_id = '{}'",
            self.merchant_id
        ))
    }
}

/// A key's address.
pub fn key_path(key_id: &str) -> String {
    format!("/api/v1/keys/{key_id}")
}
