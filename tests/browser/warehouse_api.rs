//! seeds/04-warehouse-api-keys.txt under the Flexible preset: optional names, up to five
//! active keys (then Generate New API Key is disabled, saying why), and revoked keys
//! listed apart with their date.

use super::chrome::Javascript;
use super::dashboard::Person;
use super::spawn_app_for_a_browser;
use crate::support::Backend;

pub async fn the_warehouse_apis_five_keys_take_optional_names_and_the_sixth_is_refused(backend: Backend) {
    let Some(app) = spawn_app_for_a_browser(backend).await else {
        return;
    };
    // Sign in, then the name in the bottom-left corner → Settings → Merchant → API
    // Credentials, under the Flexible preset.
    let Some(mut ana) =
        Person::on_api_credentials(&app, "warehouse_api", Javascript::On, Some("Flexible")).await
    else {
        return;
    };

    // Generate a new key: the name is optional.
    let mut keys = Vec::new();
    for name in ["", "Production", "Staging", "Inventory Sync", "Reporting"] {
        let generate = ana.control(None, "Generate New API Key").await;
        ana.open_modal(&generate, "Generate New API Key").await;
        if !name.is_empty() {
            ana.type_into("key-name", name).await;
        }
        ana.modal_step("Generate Key", "Your New API Key").await;
        let key = ana.copy_revealed_key().await;
        ana.done(&key).await;
        keys.push(key);
    }
    ana.card("Current API Key", "Key 1").await;
    assert_eq!(ana.key_count().await, "5 of 5 active keys");

    // Using your API key: `Authorization: ApiKey {your-api-key}`.
    assert_eq!(ana.key_works(&keys[0]).await["name"], "Key 1");
    assert_eq!(ana.key_works(&keys[2]).await["name"], "Staging");

    // Key limits: up to 5 active keys. At the limit Generate New API Key is shown
    // disabled, still reachable from the keyboard, with the reason and what to do.
    let limit = "This merchant has 5 active keys and its key policy allows 5. Revoke or disable a key first.";
    let reason = ana.generate_refused().await;
    assert!(reason.contains(limit), "{reason}");
    assert_eq!(ana.key_count().await, "5 of 5 active keys");

    // Revoke a key: Revoke next to it, confirm in the dialog; it moves to Revoked Keys
    // with the date it was revoked.
    let card = ana.card("Current API Key", "Staging").await;
    let revoke = ana.control(Some(&card), "Revoke Key").await;
    ana.open_modal(&revoke, "Revoke API Key").await;
    ana.type_revoke().await;
    ana.modal_finish("Revoke Key", "revoked").await;
    let row = ana.revoked_row("Staging").await;
    assert!(row[3].ends_with("UTC"), "no revoked date in {row:?}");
    assert_eq!(row[4], "Admin");
    ana.key_refused(&keys[2], "key_revoked").await;
    assert_eq!(ana.key_count().await, "4 of 5 active keys");

    // With a key revoked, a new one can be generated again.
    let generate = ana.control(None, "Generate New API Key").await;
    ana.open_modal(&generate, "Generate New API Key").await;
    ana.type_into("key-name", "Staging 2").await;
    ana.modal_step("Generate Key", "Your New API Key").await;
    let key = ana.copy_revealed_key().await;
    ana.done(&key).await;
    ana.key_works(&key).await;
    ana.finish().await;
}
