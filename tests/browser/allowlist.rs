//! The Allowed IP addresses field in a real browser, from the keyboard alone: a wrong
//! entry comes back named, the list reaches the card, and every screen passes axe and
//! fits a phone.

use serde_json::json;
use thirtyfour::prelude::*;

use super::chrome::Javascript;
use super::dashboard::{Person, whoami};
use super::spawn_app_for_a_browser;
use crate::support::Backend;

/// Focuses the field `id` and types `lines` into it, Enter between them, as a person does.
async fn type_lines(person: &Person<'_>, id: &str, lines: &[&str]) {
    let field = person.find(By::Id(id)).await;
    field.clear().await.unwrap();
    field.focus().await.unwrap();
    for (n, line) in lines.iter().enumerate() {
        if n > 0 {
            person.press(Key::Enter).await;
        }
        field.send_keys(*line).await.unwrap();
    }
}

/// Focuses `label` in the open modal and presses Enter on it.
async fn press_button(person: &Person<'_>, label: &str) {
    let button = person.control(Some(&person.modal().await), label).await;
    button.focus().await.unwrap();
    person.press(Key::Enter).await;
}

pub async fn an_admin_restricts_a_key_to_addresses_from_the_keyboard(backend: Backend) {
    let Some(app) = spawn_app_for_a_browser(backend).await else {
        return;
    };
    let Some(mut ana) = Person::on_api_credentials(&app, "ip-allowlist", Javascript::On, None).await else {
        return;
    };
    let generate = ana.control(None, "Generate New API Key").await;
    ana.open_modal(&generate, "Generate New API Key").await;
    let field = ana.find(By::Id("key-allowed-ips")).await;
    let label = ana
        .find(By::Css("label[for='key-allowed-ips']"))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(label, "Allowed IP addresses");
    assert_eq!(
        field.attr("aria-describedby").await.unwrap().as_deref(),
        Some("key-allowed-ips-hint"),
        "the hint is read with the field"
    );
    ana.type_into("key-name", "Office").await;
    type_lines(&ana, "key-allowed-ips", &["198.51.100.7", "203.0.113.5/24"]).await;
    ana.chrome.screen("allowlist-typed").await;

    // A range with host bits comes back named, with both readings, what was typed kept.
    ana.chrome.expect_failed_request(422);
    let modal = ana.modal().await;
    press_button(&ana, "Generate Key").await;
    modal.wait_until().stale().await.expect("the form comes back");
    let alert = ana
        .modal()
        .await
        .query(By::Css("[role=alert]"))
        .first()
        .await
        .expect("the refusal in the form")
        .text()
        .await
        .unwrap();
    assert_eq!(
        alert,
        "Allowed IP addresses: `203.0.113.5/24` has bits set after its prefix: write the range as 203.0.113.0/24, or 203.0.113.5 alone for that one address."
    );
    let kept = ana.find(By::Id("key-allowed-ips")).await.value().await.unwrap();
    assert_eq!(kept.as_deref(), Some("198.51.100.7\n203.0.113.5/24"));
    ana.chrome.screen("allowlist-refused").await;

    type_lines(&ana, "key-allowed-ips", &["203.0.113.0/24", "2001:db8::1"]).await;
    press_button(&ana, "Generate Key").await;
    let key = ana.copy_revealed_key().await;
    ana.done(&key).await;

    let card = ana.card("Current API Key", "Office").await;
    assert_eq!(
        ana.fact(&card, "Allowed IP addresses").await,
        "203.0.113.0/24, 2001:db8::1"
    );
    ana.chrome.screen("allowlist-on-the-card").await;
    let (status, body) = whoami(&app, &key).await;
    assert_eq!(status.as_u16(), 403, "{body}");
    assert_eq!(body["error"]["code"], json!("ip_not_allowed"));
    ana.finish().await;
}
