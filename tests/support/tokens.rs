//! Management tokens made straight through the service, as an admin would on the page.

use keyward::db::Db;
use keyward::domain::{Actor, MerchantId};
use keyward::service::tokens::{self, CreateToken};

/// Creates a token named `name` with `scopes` for the merchant; returns the whole token.
pub fn create_token(db: &Db, merchant_id: &MerchantId, name: &str, scopes: &[&str]) -> String {
    let request = CreateToken {
        name: name.to_owned(),
        scopes: scopes.iter().map(|scope| (*scope).to_owned()).collect(),
        expires_in_days: None,
        request_id: None,
    };
    let created = tokens::create(
        &mut db.get().unwrap(),
        merchant_id,
        &request,
        &Actor::cli(),
        &keyward::startup::key_pepper(&super::app::test_secret()),
        keyward::clock::Clock::default().now(),
    )
    .expect("the token is created");
    created.token.expose().to_owned()
}
