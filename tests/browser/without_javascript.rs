//! The same browser with JavaScript off: every modal is a plain page, and a key is
//! generated, rotated, revoked, disabled (after its confirmation) and enabled through
//! ordinary links and forms.

use thirtyfour::prelude::*;

use super::chrome::Javascript;
use super::dashboard::Person;
use super::spawn_app_for_a_browser;
use crate::support::Backend;

pub async fn without_javascript_plain_pages_generate_rotate_and_revoke_a_key(backend: Backend) {
    let Some(app) = spawn_app_for_a_browser(backend).await else {
        return;
    };
    // Sign in, then the name in the bottom-left corner → Settings → Merchant → API
    // Credentials.
    let Some(mut ana) = Person::on_api_credentials(&app, "without_javascript", Javascript::Off, None).await
    else {
        return;
    };

    // Generate: a page of its own, then the Reveal as a page, with no Copy button.
    ana.sees("No Active API Key Generated").await;
    let generate = ana.control(None, "Generate New API Key").await;
    ana.click_through(&generate).await;
    ana.dialog("Generate New API Key").await;
    let url = ana.chrome.driver().current_url().await.unwrap();
    assert_eq!(url.path(), "/settings/api-credentials/new");
    ana.chrome.screen("generate-page").await;
    ana.type_into("key-name", "Nightly export").await;
    let submit = ana.control(Some(&ana.modal().await), "Generate Key").await;
    ana.click_through(&submit).await;
    let old = ana.revealed_key().await;
    let copy = ana
        .find(By::XPath("//button[normalize-space()='Copy' or @data-copy]"))
        .await;
    assert!(
        !copy.is_displayed().await.unwrap(),
        "the Copy button shows: JavaScript ran"
    );
    ana.chrome.screen("reveal-page").await;
    ana.done(&old).await;
    ana.assert_refresh_and_back_hide(&old).await;
    ana.open_api_credentials().await;
    ana.key_works(&old).await;

    // Rotate: the grace period chosen on a page, Confirm & Rotate, the new key revealed.
    let card = ana.card("Current API Key", "Nightly export").await;
    let rotate = ana.control(Some(&card), "Rotate Key").await;
    ana.click_through(&rotate).await;
    ana.dialog("Rotate API Key").await;
    ana.find(By::Css("input[name=grace][value='1h']"))
        .await
        .click()
        .await
        .unwrap();
    ana.chrome.screen("rotate-page").await;
    let confirm = ana.control(Some(&ana.modal().await), "Confirm & Rotate").await;
    ana.click_through(&confirm).await;
    let new = ana.revealed_key().await;
    assert_ne!(new, old);
    ana.chrome.screen("rotated-reveal-page").await;
    ana.done(&new).await;
    let rotated = ana.card("Rotated API Key", "Nightly export").await;
    let countdown = rotated.find(By::Css(".grace-remaining")).await.unwrap();
    assert_eq!(countdown.text().await.unwrap(), "Expires in: 59m remaining");
    ana.key_works(&old).await;
    ana.key_works(&new).await;

    // Revoke: without JavaScript the button is not held back, so the server's own check
    // refuses anything but REVOKE.
    let revoke = ana.control(Some(&rotated), "Revoke Key").await;
    ana.click_through(&revoke).await;
    ana.dialog("Revoke API Key").await;
    ana.type_into("revoke-confirm", "revoke").await;
    ana.modal_refused(
        "Revoke Key",
        409,
        "Type REVOKE, in capital letters, to confirm.",
        "revoke-refused",
    )
    .await;
    ana.key_works(&old).await;
    ana.type_into("revoke-confirm", "REVOKE").await;
    ana.modal_finish("Revoke Key", "revoked").await;
    ana.sees("\"Nightly export\" was revoked.").await;
    ana.key_refused(&old, "key_revoked").await;
    ana.key_works(&new).await;
    assert_eq!(ana.revoked_row("Nightly export").await[2], "1");

    // Disable asks first, on a page of its own; Enable is one click.
    let card = ana.card("Current API Key", "Nightly export").await;
    let disable = ana.control(Some(&card), "Disable").await;
    ana.click_through(&disable).await;
    let page = ana.dialog("Disable API Key").await;
    let text = page.text().await.unwrap();
    assert!(
        text.contains("Integrations using this key stop working"),
        "{text}"
    );
    ana.chrome.screen("disable-page").await;
    ana.key_works(&new).await;
    ana.modal_finish("Disable", "disabled").await;
    ana.sees("\"Nightly export\" was disabled.").await;
    ana.key_refused(&new, "key_disabled").await;
    let card = ana.card("Current API Key", "Nightly export").await;
    ana.card_action(&card, "Enable", "\"Nightly export\" was enabled.")
        .await;
    ana.key_works(&new).await;
    ana.finish().await;
}
