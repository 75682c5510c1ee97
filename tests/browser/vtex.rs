//! seeds/05-vtex-generated-api-keys.txt under the Token lifetime preset: a required name,
//! no role preselected, roles edited, deactivate and activate, renew before the end, and
//! delete with "I understand that this action cannot be undone".

use thirtyfour::prelude::*;
use time::Duration;

use super::chrome::Javascript;
use super::dashboard::Person;
use super::spawn_app_for_a_browser;
use crate::support::Backend;

pub async fn vtexs_keys_need_a_name_get_roles_edited_renewed_and_deleted_once_inactive(backend: Backend) {
    let Some(app) = spawn_app_for_a_browser(backend).await else {
        return;
    };
    // Sign in, then the name in the bottom-left corner → Settings → Merchant → API
    // Credentials, under the Token lifetime preset.
    let Some(mut ana) =
        Person::on_api_credentials(&app, "vtex", Javascript::On, Some("Token lifetime")).await
    else {
        return;
    };

    // Generating keys: the Key identification is required, no role is preselected, and
    // the token lives 90 days at most.
    let generate = ana.control(None, "Generate New API Key").await;
    let dialog = ana.open_modal(&generate, "Generate New API Key").await;
    assert!(ana.ticked_scopes().await.is_empty(), "a role is preselected");
    let mut lifetimes = Vec::new();
    for option in dialog.find_all(By::Css("#key-expires option")).await.unwrap() {
        lifetimes.push(option.text().await.unwrap());
    }
    assert_eq!(
        lifetimes,
        ["7 days", "30 days", "60 days", "90 days", "Custom date"]
    );
    let button = ana.control(Some(&dialog), "Generate Key").await;
    button.click().await.unwrap();
    let name = ana.find(By::Id("key-name")).await;
    let missing = ana
        .chrome
        .eval(
            "return arguments[0].validity.valueMissing;",
            vec![name.to_json().unwrap()],
        )
        .await;
    assert_eq!(missing, serde_json::json!(true), "the name is not required");
    assert!(
        ana.revealed_key_absent().await,
        "a key was generated without a name"
    );
    ana.chrome.screen("name-required").await;
    ana.type_into("key-name", "ERP integration").await;
    ana.set_scope("orders:read", true).await;
    ana.find(By::Css("#key-expires option[value='90']"))
        .await
        .click()
        .await
        .unwrap();
    ana.modal_step("Generate Key", "Your New API Key").await;
    let key = ana.copy_revealed_key().await;
    ana.done(&key).await;
    let whoami = ana.key_works(&key).await;
    assert_eq!(whoami["scopes"], serde_json::json!(["orders:read"]));
    let first_expiry = whoami["expires_at"].as_str().unwrap().to_owned();

    // Editing generated keys: change the role selection, Save.
    let card = ana.card("Current API Key", "ERP integration").await;
    let edit = ana.control(Some(&card), "Edit").await;
    ana.open_modal(&edit, "Edit API Key").await;
    ana.check_modal_keyboard(&edit).await;
    ana.open_modal(&edit, "Edit API Key").await;
    ana.set_scope("orders:read", false).await;
    ana.set_scope("inventory:read", true).await;
    ana.modal_finish("Save changes", "roles-edited").await;
    assert_eq!(
        ana.key_works(&key).await["scopes"],
        serde_json::json!(["inventory:read"])
    );

    // Deactivating or activating generated keys: "This action will interrupt
    // integrations using the key … You need to click Deactivate again to confirm."
    let card = ana.card("Current API Key", "ERP integration").await;
    let disable = ana.control(Some(&card), "Disable").await;
    ana.open_modal(&disable, "Disable API Key").await;
    ana.check_modal_keyboard(&disable).await;
    ana.key_works(&key).await;
    ana.disable(&card, &key, "\"ERP integration\" was disabled.")
        .await;
    // Activate needs no second click.
    let card = ana.card("Current API Key", "ERP integration").await;
    ana.card_action(&card, "Enable", "\"ERP integration\" was enabled.")
        .await;
    ana.key_works(&key).await;

    // Renewing tokens before they expire: five days before the end, the card says it
    // expires soon, and Renew gives the key another 90 days.
    app.clock.advance(Duration::days(85));
    ana.refresh().await;
    let card = ana.card("Current API Key", "ERP integration").await;
    let badges = card.find(By::Css(".badges")).await.unwrap().text().await.unwrap();
    assert!(badges.contains("Expires soon"), "{badges}");
    ana.card_action(&card, "Renew", "\"ERP integration\" was renewed; it now expires")
        .await;
    let renewed = ana.key_works(&key).await;
    let renewed_expiry = renewed["expires_at"].as_str().unwrap();
    assert!(
        renewed_expiry > first_expiry.as_str(),
        "{renewed_expiry} after {first_expiry}"
    );

    // Deleting keys: deactivate first, then tick "I understand that this action cannot
    // be undone" and Delete.
    let card = ana.card("Current API Key", "ERP integration").await;
    ana.disable(&card, &key, "\"ERP integration\" was disabled.")
        .await;
    let card = ana.card("Current API Key", "ERP integration").await;
    let delete = ana.control(Some(&card), "Delete").await;
    let dialog = ana.open_modal(&delete, "Delete API Key").await;
    dialog
        .find(By::Css("input[name=understood]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    ana.modal_finish("Delete", "deleted").await;
    ana.sees("\"ERP integration\" was deleted.").await;
    ana.sees("No Active API Key Generated").await;
    ana.key_refused(&key, "invalid_key").await;
    ana.finish().await;
}
