//! The Reveal on a phone: the whole key readable (wrapped, monospaced, selectable), Copy
//! and Done on the first screen, and a confirmation step before a key that was never
//! copied is closed away for good.

use serde_json::Value;
use thirtyfour::prelude::*;

use super::chrome::{Javascript, PHONE};
use super::dashboard::Person;
use super::spawn_app_for_a_browser;
use crate::support::Backend;

/// How the key is laid out: its lines, font, whether it can be selected, and whether it
/// fits its box.
const KEY_LAYOUT: &str = r#"
const code = arguments[0];
const style = getComputedStyle(code);
const box = code.closest(".key-text");
return {
  lines: Math.round(code.getBoundingClientRect().height / parseFloat(style.lineHeight)),
  font: style.fontFamily,
  select: style.userSelect,
  fits: box.scrollWidth <= box.clientWidth,
};"#;

/// Whether an element lies wholly in the window, as it first shows.
const ON_FIRST_SCREEN: &str = r#"
const rect = arguments[0].getBoundingClientRect();
return rect.width > 0 && rect.top >= 0 && rect.left >= 0 && rect.bottom <= innerHeight && rect.right <= innerWidth;"#;

/// The open Reveal's confirmation question.
const QUESTION: &str = "//div[@id='modal']//*[@data-reveal-confirm][contains(., 'Is the key stored?')]";

pub async fn the_reveal_shows_the_whole_key_on_a_phone_and_asks_before_an_uncopied_key_is_closed(
    backend: Backend,
) {
    let Some(app) = spawn_app_for_a_browser(backend).await else {
        return;
    };
    let Some(mut ana) = Person::start(&app, "reveal", Javascript::On).await else {
        return;
    };
    ana.chrome.resize(PHONE).await;
    ana.sign_in().await;
    ana.open_api_credentials().await;
    let generate = ana.control(None, "Generate New API Key").await;
    ana.open_modal(&generate, "Generate New API Key").await;
    ana.type_into("key-name", "Point of sale").await;
    ana.modal_step("Generate Key", "Your New API Key").await;
    let key = ana.revealed_key().await;

    // The whole key as text, wrapped over lines in a monospaced font, selectable, and
    // inside its box.
    let shown = ana.find(By::Id("revealed-key-text")).await;
    assert_eq!(shown.text().await.unwrap(), key, "the whole key is shown");
    let layout = ana.chrome.eval(KEY_LAYOUT, vec![shown.to_json().unwrap()]).await;
    assert!(
        layout["lines"].as_i64().unwrap() >= 2,
        "the key is not wrapped: {layout}"
    );
    assert!(
        layout["font"].as_str().unwrap().contains("monospace"),
        "the key is not monospaced: {layout}"
    );
    assert_ne!(layout["select"], "none", "the key cannot be selected: {layout}");
    assert_eq!(layout["fits"], true, "the key sticks out of its box: {layout}");

    // Copy and Done on the first screen of a 390×844 phone.
    let dialog = ana.dialog("Your New API Key").await;
    for label in ["Copy", "Done"] {
        let button = ana.control(Some(&dialog), label).await;
        assert_eq!(
            ana.chrome
                .eval(ON_FIRST_SCREEN, vec![button.to_json().unwrap()])
                .await,
            Value::Bool(true),
            "{label} is not on the first screen"
        );
    }

    // Escape before Copy: the dialog asks whether the key is stored, with the focus on
    // the way back; Escape again goes back to the key.
    ana.press(Key::Escape).await;
    ana.find(By::XPath(QUESTION)).await;
    assert!(
        !shown.is_displayed().await.unwrap(),
        "the key shows beside the question"
    );
    let back = ana.control(Some(&dialog), "Back to the key").await;
    assert_eq!(
        ana.chrome
            .eval(
                "return document.activeElement === arguments[0];",
                vec![back.to_json().unwrap()]
            )
            .await,
        Value::Bool(true),
        "the focus is not on Back to the key"
    );
    ana.chrome.screen("asks-whether-stored").await;
    ana.assert_tab_stays_in_modal().await;
    ana.press(Key::Escape).await;
    shown
        .wait_until()
        .displayed()
        .await
        .expect("Escape goes back to the key");

    // Done and the Close button ask too; Back to the key returns to it.
    for label in ["Done", "Close"] {
        ana.control(Some(&dialog), label).await.click().await.unwrap();
        ana.find(By::XPath(QUESTION)).await;
        ana.control(Some(&dialog), "Back to the key")
            .await
            .click()
            .await
            .unwrap();
        shown.wait_until().displayed().await.expect("back to the key");
    }
    assert_eq!(ana.revealed_key().await, key, "the key is still there");

    // Confirming closes the Reveal for good: the list, with the key masked only.
    ana.control(Some(&dialog), "Done").await.click().await.unwrap();
    let stored = ana.control(Some(&dialog), "I have stored the key").await;
    ana.click_through(&stored).await;
    ana.find(By::XPath("//h1[normalize-space()='API Credentials']"))
        .await;
    ana.assert_key_not_shown(&key).await;
    ana.chrome.screen("closed-after-confirming").await;

    // Once copied, Done closes at once.
    let generate = ana.control(None, "Generate New API Key").await;
    ana.open_modal(&generate, "Generate New API Key").await;
    ana.type_into("key-name", "Back office").await;
    ana.modal_step("Generate Key", "Your New API Key").await;
    let copied = ana.copy_revealed_key().await;
    ana.done(&copied).await;
    ana.finish().await;
}
