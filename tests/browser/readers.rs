//! Every reader reaches each key's page: a viewer and support staff, who change nothing,
//! click from API Credentials to a key's page (a current key's and a revoked one's) and
//! find no action offered there.

use keyward::domain::{Actor, KeyId, MerchantId, Role};
use keyward::service::keys::{self, GenerateRequest};
use thirtyfour::prelude::*;

use super::chrome::Javascript;
use super::dashboard::Person;
use super::spawn_app_for_a_browser;
use crate::support::{Backend, TestApp, test_secret};

/// The actions no reader may be offered.
const ACTIONS: [&str; 8] = [
    "Rotate Key",
    "Revoke Key",
    "Disable",
    "Enable",
    "Edit",
    "Duplicate",
    "Renew",
    "Delete",
];

fn generate(app: &TestApp, merchant_id: &MerchantId, name: &str) -> KeyId {
    let generated = keys::generate(
        &mut app.db.get().unwrap(),
        merchant_id,
        &GenerateRequest {
            name: name.to_owned(),
            expires: "never".to_owned(),
            ..GenerateRequest::default()
        },
        &Actor::cli(),
        &keyward::startup::key_pepper(&test_secret()),
        app.clock.now(),
    )
    .unwrap();
    generated.row.id
}

/// From API Credentials, the current key "Checkout" and the revoked key "Legacy" each
/// open their page, which offers nothing to change.
async fn reads_both_key_pages(person: &mut Person<'_>) {
    let card = person.card("Current API Key", "Checkout").await;
    let details = person.control(Some(&card), "Details").await;
    person.click_through(&details).await;
    person.find(By::XPath("//h1[normalize-space()='Checkout']")).await;
    person.sees("Developers corner").await;
    let main = person.main().await;
    for action in ACTIONS {
        assert!(
            person.lacks_control(&main, action).await,
            "a reader is offered {action}"
        );
    }
    person.chrome.screen("current-key-page").await;
    person.back().await;
    let legacy = person
        .find(By::XPath(
            "//section[contains(@class,'revoked-keys')]//a[normalize-space()='Legacy']",
        ))
        .await;
    person.click_through(&legacy).await;
    person.find(By::XPath("//h1[normalize-space()='Legacy']")).await;
    person.sees("REVOKED").await;
    let main = person.main().await;
    for action in ACTIONS {
        assert!(
            person.lacks_control(&main, action).await,
            "a reader is offered {action}"
        );
    }
    person.chrome.screen("revoked-key-page").await;
}

pub async fn viewers_and_support_staff_open_each_keys_page_from_api_credentials(backend: Backend) {
    let Some(app) = spawn_app_for_a_browser(backend).await else {
        return;
    };
    let merchant_id = app.demo_merchant_id();
    generate(&app, &merchant_id, "Checkout");
    let legacy = generate(&app, &merchant_id, "Legacy");
    keys::revoke(
        &mut app.db.get().unwrap(),
        &merchant_id,
        &legacy,
        "REVOKE",
        &Actor::cli(),
        app.clock.now(),
    )
    .unwrap();
    app.create_member(
        "viewer@example.com",
        "viewer password 1",
        &merchant_id,
        Role::Viewer,
    );
    app.create_support("support@example.com", "support password 1");

    // A viewer: the name in the bottom-left corner → Settings → API Credentials.
    let Some(mut viewer) = Person::start(&app, "readers", Javascript::On).await else {
        return;
    };
    viewer.sign_in_as("viewer@example.com", "viewer password 1").await;
    viewer.open_api_credentials().await;
    reads_both_key_pages(&mut viewer).await;
    viewer.finish().await;

    // Support staff: the merchant opened from the console, then its API Credentials.
    let Some(mut support) = Person::start(&app, "readers_support", Javascript::On).await else {
        return;
    };
    support
        .sign_in_as("support@example.com", "support password 1")
        .await;
    support
        .chrome
        .open(&format!("/support/merchants/{merchant_id}"))
        .await;
    let open = support.control(None, "Open Demo Merchant").await;
    support.click_through(&open).await;
    support.settings_page("API Credentials").await;
    reads_both_key_pages(&mut support).await;
    support.finish().await;
}
