//! seeds/02-payments-platform-manage-api-keys.txt under the Strict lifecycle preset:
//! scopes fixed at creation, and on the key's own page the Developers corner and
//! History, Edit, Duplicate at the top right, and Enabled → Disabled → Revoked (Disable
//! asking first).

use thirtyfour::prelude::*;

use super::chrome::Javascript;
use super::dashboard::Person;
use super::spawn_app_for_a_browser;
use crate::support::Backend;

pub async fn the_payments_platforms_keys_go_enabled_disabled_revoked_with_scopes_fixed_at_creation(
    backend: Backend,
) {
    let Some(app) = spawn_app_for_a_browser(backend).await else {
        return;
    };
    // Sign in, then the name in the bottom-left corner → Settings → Merchant → API
    // Credentials, under the Strict lifecycle preset.
    let Some(mut ana) = Person::on_api_credentials(
        &app,
        "payments_platform",
        Javascript::On,
        Some("Strict lifecycle"),
    )
    .await
    else {
        return;
    };

    // "You can establish the permissions only when creating the API key."
    let generate = ana.control(None, "Generate New API Key").await;
    ana.open_modal(&generate, "Generate New API Key").await;
    ana.type_into("key-name", "Checkout").await;
    ana.type_into("key-description", "Card payments from the web shop")
        .await;
    ana.set_scope("orders:read", true).await;
    ana.set_scope("orders:write", true).await;
    ana.modal_step("Generate Key", "Your New API Key").await;
    let key = ana.copy_revealed_key().await;
    ana.done(&key).await;
    let scopes = &ana.key_works(&key).await["scopes"];
    assert_eq!(scopes, &serde_json::json!(["orders:read", "orders:write"]));

    // The grid shows each key's successful and failed requests of the last 24 hours.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    ana.refresh().await;
    let card = ana.card("Current API Key", "Checkout").await;
    assert_eq!(
        ana.fact(&card, "Requests (24 h)").await,
        "1 successful · 0 failed"
    );
    assert_eq!(ana.fact(&card, "Error rate").await, "0.0%");
    let key_id = ana.key_id(&card).await;

    // Click the key: the Developers corner with its key ID, and the History with its
    // creator.
    let details = ana.control(Some(&card), "Details").await;
    ana.click_through(&details).await;
    ana.sees("Developers corner").await;
    let shown_id = ana.find(By::Id("key-id")).await.value().await.unwrap();
    assert_eq!(shown_id.as_deref(), Some(key_id.as_str()));
    ana.sees("Created by Admin").await;
    ana.chrome.screen("key-details").await;
    let key_page = ana.chrome.driver().current_url().await.unwrap();

    // Review and update the key on its page: edit the General block (name and
    // description); the scopes stay as created. Save changes comes back to the page.
    let edit = ana.control(Some(&ana.main().await), "Edit").await;
    let dialog = ana.open_modal(&edit, "Edit API Key").await;
    let text = dialog.text().await.unwrap();
    assert!(text.contains("fixes scopes when a key is generated"), "{text}");
    for checkbox in dialog.find_all(By::Css("input[type=checkbox]")).await.unwrap() {
        assert!(!checkbox.is_enabled().await.unwrap(), "a scope can be changed");
    }
    ana.check_modal_keyboard(&edit).await;
    ana.open_modal(&edit, "Edit API Key").await;
    ana.type_into("edit-name", "Checkout (web)").await;
    ana.type_into("edit-description", "Card payments from the web shop, v2")
        .await;
    ana.modal_finish("Save changes", "edited").await;
    ana.sees("\"Checkout (web)\" was saved.").await;
    assert_eq!(ana.chrome.driver().current_url().await.unwrap(), key_page);
    ana.find(By::XPath("//h1[normalize-space()='Checkout (web)']"))
        .await;
    let description = ana.find(By::Css("h1 + .key-description")).await;
    assert_eq!(
        description.text().await.unwrap(),
        "Card payments from the web shop, v2"
    );

    // Duplicate, in the top right corner of the page: a new key with the same presets.
    let header = ana.find(By::Css("main .page-header")).await;
    let duplicate = ana.control(Some(&header), "Duplicate").await;
    ana.open_modal(&duplicate, "Generate New API Key").await;
    assert_eq!(ana.ticked_scopes().await, ["orders:read", "orders:write"]);
    let prefilled = ana.find(By::Id("key-description")).await.value().await.unwrap();
    assert_eq!(prefilled.as_deref(), Some("Card payments from the web shop, v2"));
    ana.check_modal_keyboard(&duplicate).await;
    ana.open_modal(&duplicate, "Generate New API Key").await;
    ana.type_into("key-name", "Checkout (app)").await;
    ana.modal_step("Generate Key", "Your New API Key").await;
    let copy = ana.copy_revealed_key().await;
    ana.done(&copy).await;
    assert_eq!(&ana.key_works(&copy).await["scopes"], scopes);

    // Manage Administration settings, on the key's page: Enabled → Disabled → Enabled →
    // Disabled → Revoked. An enabled key cannot be revoked.
    let card = ana.card("Current API Key", "Checkout (web)").await;
    let details = ana.control(Some(&card), "Details").await;
    ana.click_through(&details).await;
    let main = ana.main().await;
    assert!(
        ana.lacks_control(&main, "Revoke Key").await,
        "an enabled key offers Revoke Key"
    );
    ana.disable(&main, &key, "\"Checkout (web)\" was disabled.").await;
    assert_eq!(ana.chrome.driver().current_url().await.unwrap(), key_page);
    ana.sees("DISABLED").await;
    let main = ana.main().await;
    ana.card_action(&main, "Enable", "\"Checkout (web)\" was enabled.")
        .await;
    ana.key_works(&key).await;
    assert_eq!(ana.chrome.driver().current_url().await.unwrap(), key_page);
    let main = ana.main().await;
    ana.disable(&main, &key, "\"Checkout (web)\" was disabled.").await;
    let revoke = ana.control(Some(&ana.main().await), "Revoke Key").await;
    ana.open_modal(&revoke, "Revoke API Key").await;
    ana.check_modal_keyboard(&revoke).await;
    ana.open_modal(&revoke, "Revoke API Key").await;
    ana.type_revoke().await;
    ana.modal_finish("Revoke Key", "revoked").await;
    ana.sees("\"Checkout (web)\" was revoked.").await;
    assert_eq!(ana.chrome.driver().current_url().await.unwrap(), key_page);
    ana.key_refused(&key, "key_revoked").await;
    // The revoked key stays on the grid and can never be enabled again.
    ana.settings_page("API Credentials").await;
    let row = ana.revoked_row("Checkout (web)").await;
    assert_eq!(
        row.last().map(String::as_str),
        Some("Delete"),
        "a revoked key can be deleted, never enabled"
    );
    ana.key_works(&copy).await;
    ana.finish().await;
}
