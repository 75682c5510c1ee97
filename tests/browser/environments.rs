//! Test and live keys in a real browser on a phone, from the keyboard alone: the Live /
//! Test switch (marked with aria-current, its address kept by the back button), a test
//! key generated from the Test tab, and Reveal showing it again where the Key Policy
//! allows; each screen checked by axe and at 390 px.

use keyward::domain::{Actor, KeyPolicy};
use thirtyfour::prelude::*;

use super::chrome::{Javascript, PHONE};
use super::dashboard::Person;
use super::spawn_app_for_a_browser;
use crate::support::Backend;

/// The switch's link labelled `label`.
fn switch(label: &str) -> By {
    By::XPath(format!(
        "//nav[@aria-label='Environment']//a[normalize-space()='{label}']"
    ))
}

pub async fn the_live_test_switch_and_reveal_work_from_the_keyboard_on_a_phone(backend: Backend) {
    let Some(app) = spawn_app_for_a_browser(backend).await else {
        return;
    };
    keyward::service::policy::set_policy(
        &mut app.db.get().unwrap(),
        &app.demo_merchant_id(),
        &KeyPolicy {
            test_keys_revealable: true,
            ..KeyPolicy::default()
        },
        &Actor::cli(),
        app.clock.now(),
    )
    .unwrap();
    let Some(mut ana) = Person::start(&app, "environments", Javascript::On).await else {
        return;
    };
    ana.chrome.resize(PHONE).await;
    ana.sign_in().await;
    ana.open_api_credentials().await;
    let live = ana.find(switch("Live")).await;
    assert_eq!(live.attr("aria-current").await.unwrap().as_deref(), Some("page"));

    // The Test tab from the keyboard: its own address, marked as the one shown.
    let test = ana.find(switch("Test")).await;
    test.focus().await.unwrap();
    let page = ana.find(By::Tag("html")).await;
    ana.press(Key::Enter).await;
    page.wait_until().stale().await.unwrap();
    ana.sees("0 of 5 active test keys").await;
    assert!(
        ana.chrome
            .driver()
            .current_url()
            .await
            .unwrap()
            .as_str()
            .ends_with("?environment=test")
    );
    let test = ana.find(switch("Test")).await;
    assert_eq!(test.attr("aria-current").await.unwrap().as_deref(), Some("page"));
    assert_eq!(
        ana.find(switch("Live")).await.attr("aria-current").await.unwrap(),
        None
    );
    ana.chrome.screen("test-tab").await;

    // Generate from the Test tab makes a test key; Done leads back to the Test tab.
    let generate = ana.control(None, "Generate New API Key").await;
    ana.open_modal(&generate, "Generate New API Key").await;
    ana.sees("This is a test key").await;
    ana.type_into("key-name", "Sandbox").await;
    ana.modal_step("Generate Key", "Your New API Key").await;
    let key = ana.copy_revealed_key().await;
    assert!(key.starts_with("kw_test_"), "{key}");
    ana.done(&key).await;
    ana.sees("1 of 5 active test keys").await;
    let card = ana.card("Current API Key", "Sandbox").await;
    assert!(card.text().await.unwrap().contains("Test"));

    // Reveal shows it once more, with Copy, from the keyboard.
    let reveal = ana.control(Some(&card), "Reveal").await;
    ana.open_modal(&reveal, "Your Test API Key").await;
    let shown = ana
        .find(By::Id("revealed-key"))
        .await
        .value()
        .await
        .unwrap()
        .unwrap();
    assert_eq!(shown, key);
    ana.sees("This test key is shown again").await;
    let copy = ana.control(Some(&ana.modal().await), "Copy").await;
    copy.focus().await.unwrap();
    ana.press(Key::Enter).await;
    ana.sees("Copied to the clipboard.").await;
    assert_eq!(ana.clipboard().await, key);
    ana.chrome.screen("revealed-again").await;
    ana.done(&key).await;

    // The Live tab, then the back button: the Test tab again, as it was linked.
    let live = ana.find(switch("Live")).await;
    ana.click_through(&live).await;
    ana.sees("0 of 5 active keys").await;
    ana.back().await;
    ana.sees("1 of 5 active test keys").await;
    assert!(
        ana.chrome
            .driver()
            .current_url()
            .await
            .unwrap()
            .as_str()
            .ends_with("?environment=test")
    );
    ana.chrome.screen("back-to-test").await;
    ana.finish().await;
}
