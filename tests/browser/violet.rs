//! seeds/01-violet-api-credentials.txt under the Single key preset: one active key,
//! generated, copied, rotated with a grace period and revoked.

use keyward::domain::ApiKey;
use thirtyfour::prelude::*;
use time::Duration;

use super::chrome::Javascript;
use super::dashboard::Person;
use super::spawn_app_for_a_browser;
use crate::support::Backend;

pub async fn violets_guide_generates_copies_rotates_and_revokes_the_one_key(backend: Backend) {
    let Some(app) = spawn_app_for_a_browser(backend).await else {
        return;
    };
    // Sign in, then the name in the bottom-left corner → Settings → Merchant → API
    // Credentials, under the Single key preset.
    let Some(mut ana) = Person::on_api_credentials(&app, "violet", Javascript::On, Some("Single key")).await
    else {
        return;
    };

    // Generating your first API key.
    ana.sees("No Active API Key Generated").await;
    let generate = ana.control(None, "Generate New API Key").await;
    let dialog = ana.open_modal(&generate, "Generate New API Key").await;
    let reminder = dialog.text().await.unwrap();
    assert!(
        reminder.contains("Treat your API key like a password"),
        "{reminder}"
    );
    ana.check_modal_keyboard(&generate).await;
    ana.open_modal(&generate, "Generate New API Key").await;
    ana.modal_step("Generate Key", "Your New API Key").await;
    let first = ana.copy_revealed_key().await;
    ana.done(&first).await;
    ana.assert_refresh_and_back_hide(&first).await;

    // Viewing your current API key: masked, Created Date, Last Used, Version, Status.
    ana.open_api_credentials().await;
    let card = ana.card("Current API Key", "Key 1").await;
    let masked = card.find(By::Css(".masked-key")).await.unwrap();
    assert_eq!(
        masked.text().await.unwrap(),
        ApiKey::parse(&first).unwrap().masked()
    );
    assert!(!ana.fact(&card, "Created Date").await.is_empty());
    assert_eq!(ana.fact(&card, "Last Used").await, "Never");
    assert_eq!(ana.fact(&card, "Version").await, "1");
    assert_eq!(ana.fact(&card, "Status").await, "ACTIVE");
    assert_eq!(ana.key_works(&first).await["version"], 1);
    // Usage is written once a second.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    ana.refresh().await;
    let card = ana.card("Current API Key", "Key 1").await;
    assert_eq!(ana.fact(&card, "Last Used").await, "just now");
    ana.chrome.screen("current-key").await;

    // "Only during a rotation grace period": Generate New API Key is disabled, saying
    // why, and that what replaces the key is Rotate Key.
    let note = ana.generate_refused().await;
    assert!(
        note.contains("This merchant has 1 active key and its key policy allows 1."),
        "{note}"
    );
    assert!(note.contains("use Rotate Key"), "{note}");

    // Rotating your API key: Confirm & Rotate, Copy, and the old key on a Rotated API
    // Key card with its countdown. Rotate Key in the reason opens the same dialog as the
    // card's.
    let reason = ana.find(By::Id("generate-refused")).await;
    let rotate = ana.control(Some(&reason), "Rotate Key").await;
    ana.open_modal(&rotate, "Rotate API Key").await;
    ana.check_modal_keyboard(&rotate).await;
    let card = ana.card("Current API Key", "Key 1").await;
    let rotate = ana.control(Some(&card), "Rotate Key").await;
    let dialog = ana.open_modal(&rotate, "Rotate API Key").await;
    let default_grace = dialog
        .find(By::Css("input[name=grace]:checked"))
        .await
        .unwrap()
        .value()
        .await
        .unwrap();
    assert_eq!(
        default_grace.as_deref(),
        Some("3d"),
        "the policy's grace period is chosen"
    );
    ana.check_modal_keyboard(&rotate).await;
    ana.open_modal(&rotate, "Rotate API Key").await;
    ana.modal_step("Confirm & Rotate", "Your New API Key").await;
    let second = ana.copy_revealed_key().await;
    // "If you leave or refresh the page without copying your key…": a refresh loses it.
    ana.refresh().await;
    ana.assert_key_not_shown(&second).await;
    ana.chrome.screen("rotated").await;
    let rotated = ana.card("Rotated API Key", "Key 1").await;
    let countdown = rotated.find(By::Css(".grace-remaining")).await.unwrap();
    assert_eq!(countdown.text().await.unwrap(), "Expires in: 2d 23h remaining");
    // Nineteen hours on, the card reads like Violet's example.
    app.clock.advance(Duration::hours(18) + Duration::minutes(30));
    ana.refresh().await;
    let rotated = ana.card("Rotated API Key", "Key 1").await;
    let countdown = rotated.find(By::Css(".grace-remaining")).await.unwrap();
    assert_eq!(countdown.text().await.unwrap(), "Expires in: 2d 5h remaining");
    ana.chrome.screen("countdown").await;
    let current = ana.card("Current API Key", "Key 1").await;
    assert_eq!(ana.fact(&current, "Version").await, "2");
    assert!(
        ana.lacks_control(&current, "Rotate Key").await,
        "no rotation while a previous rotation is in its grace period"
    );
    let note = ana.generate_refused().await;
    assert!(
        note.contains("A previous version of this key is still in its grace period."),
        "{note}"
    );
    // Its address opened directly says the same, and leads back.
    let version_2 = ana.key_id(&current).await;
    ana.chrome.expect_failed_request(409);
    ana.chrome
        .open(&format!("/settings/api-credentials/{version_2}/rotate"))
        .await;
    ana.sees("A previous version of this key is still in its grace period.")
        .await;
    ana.chrome.screen("rotate-refused").await;
    let back = ana.control(None, "Back to API Credentials").await;
    ana.click_through(&back).await;
    let rotated = ana.card("Rotated API Key", "Key 1").await;
    assert_eq!(
        ana.key_works(&first).await["version"],
        1,
        "the old key works in its grace period"
    );
    assert_eq!(ana.key_works(&second).await["version"], 2);

    // Revoking an API key: the old one in its grace period first, then the current one.
    let revoke = ana.control(Some(&rotated), "Revoke Key").await;
    let dialog = ana.open_modal(&revoke, "Revoke API Key").await;
    let warning = dialog.text().await.unwrap();
    assert!(warning.contains("This action cannot be undone."), "{warning}");
    ana.check_modal_keyboard(&revoke).await;
    ana.open_modal(&revoke, "Revoke API Key").await;
    ana.type_revoke().await;
    ana.modal_finish("Revoke Key", "old-key-revoked").await;
    ana.sees("\"Key 1\" was revoked.").await;
    ana.key_refused(&first, "key_revoked").await;
    assert_eq!(
        ana.revoked_row("Key 1").await[2],
        "1",
        "version 1 is under Revoked Keys"
    );

    let current = ana.card("Current API Key", "Key 1").await;
    let revoke = ana.control(Some(&current), "Revoke Key").await;
    ana.open_modal(&revoke, "Revoke API Key").await;
    ana.type_revoke().await;
    ana.modal_finish("Revoke Key", "only-key-revoked").await;
    ana.key_refused(&second, "key_revoked").await;
    // Revoking the only active key returns the page to its initial state.
    ana.sees("No Active API Key Generated").await;
    assert_eq!(ana.key_count().await, "0 of 1 active keys");
    ana.finish().await;
}
