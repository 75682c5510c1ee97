//! Management tokens, made through the service as the Management Tokens page makes them.

use keyward::db::Db;
use keyward::domain::{Actor, MerchantId};
use keyward::service::tokens::{self, CreateToken};

use super::app::test_secret;

/// Creates a token for the merchant with these scopes (`keys:read`, …), never
/// expiring; returns it whole (`kw_mgmt_…`), as the page shows it once.
pub fn create_token(db: &Db, merchant_id: &MerchantId, name: &str, scopes: &[&str]) -> String {
    let request = CreateToken {
        name: name.to_owned(),
        scopes: scopes.iter().map(|scope| (*scope).to_owned()).collect(),
        expires_in_days: None,
    };
    let created = tokens::create(
        &mut db.get().unwrap(),
        merchant_id,
        &request,
        &Actor::cli(),
        &keyward::startup::key_pepper(&test_secret()),
        keyward::clock::Clock::default().now(),
    )
    .expect("the token is created");
    created.token.expose().to_owned()
}
