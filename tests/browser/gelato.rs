//! seeds/03-gelato-api-keys.txt under the Standard preset: add a uniquely named key,
//! replace it with a new one, deactivate the old key, then delete it.

use thirtyfour::prelude::*;

use super::chrome::Javascript;
use super::dashboard::Person;
use super::spawn_app_for_a_browser;
use crate::support::Backend;

pub async fn gelatos_guide_replaces_a_key_deactivating_then_deleting_the_old_one(backend: Backend) {
    let Some(app) = spawn_app_for_a_browser(backend).await else {
        return;
    };
    // Sign in, then the name in the bottom-left corner → Settings → Merchant → API
    // Credentials, under the Standard preset.
    let Some(mut ana) = Person::on_api_credentials(&app, "gelato", Javascript::On, Some("Standard")).await
    else {
        return;
    };

    // Adding a new key: a unique name, then the copy button.
    let generate = ana.control(None, "Generate New API Key").await;
    ana.open_modal(&generate, "Generate New API Key").await;
    ana.type_into("key-name", "Orders").await;
    ana.modal_step("Generate Key", "Your New API Key").await;
    let old = ana.copy_revealed_key().await;
    // "Once you navigate away from this page, the key won't be visible again."
    ana.chrome.open("/settings/audit-log").await;
    ana.chrome.screen("navigated-away").await;
    ana.back().await;
    ana.assert_key_not_shown(&old).await;
    ana.chrome.screen("back-after-navigating-away").await;
    ana.open_api_credentials().await;
    ana.key_works(&old).await;

    // Replacing an existing key: create a new one (its name must differ) …
    let generate = ana.control(None, "Generate New API Key").await;
    ana.open_modal(&generate, "Generate New API Key").await;
    ana.type_into("key-name", "Orders").await;
    ana.modal_refused(
        "Generate Key",
        409,
        "Another key is already named \"Orders\". Choose a different name.",
        "name-taken",
    )
    .await;
    ana.type_into("key-name", "Orders 2026").await;
    ana.modal_step("Generate Key", "Your New API Key").await;
    let new = ana.copy_revealed_key().await;
    ana.done(&new).await;
    // … the system uses it, …
    ana.key_works(&new).await;

    // … deactivate the old key (an active key cannot be deleted), …
    let card = ana.card("Current API Key", "Orders").await;
    assert!(
        ana.lacks_control(&card, "Delete").await,
        "an active key offers Delete"
    );
    ana.disable(&card, &old, "\"Orders\" was disabled.").await;
    // … orders still go through, …
    ana.key_works(&new).await;

    // … and delete the old key: only with "I understand that this action cannot be
    // undone" ticked.
    let card = ana.card("Current API Key", "Orders").await;
    let delete = ana.control(Some(&card), "Delete").await;
    ana.open_modal(&delete, "Delete API Key").await;
    ana.check_modal_keyboard(&delete).await;
    ana.open_modal(&delete, "Delete API Key").await;
    ana.modal_refused(
        "Delete",
        409,
        "Tick \"I understand that this action cannot be undone\" to delete the key.",
        "delete-unticked",
    )
    .await;
    let understood = ana
        .find(By::XPath(
            "//div[@id='modal']//label[normalize-space()='I understand that this action cannot be undone']/input[@type='checkbox']",
        ))
        .await;
    understood.focus().await.unwrap();
    ana.press(Key::Space).await;
    assert!(
        understood.is_selected().await.unwrap(),
        "Space ticks the checkbox"
    );
    ana.modal_finish("Delete", "deleted").await;
    ana.sees("\"Orders\" was deleted.").await;
    let cards = ana
        .chrome
        .driver()
        .find_all(By::Css("article.key-card .key-name"))
        .await
        .unwrap();
    let mut names = Vec::new();
    for card in cards {
        names.push(card.text().await.unwrap());
    }
    assert_eq!(names, ["Orders 2026"], "the old key is gone from the list");
    ana.key_refused(&old, "invalid_key").await;
    ana.key_works(&new).await;
    ana.finish().await;
}
