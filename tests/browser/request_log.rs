//! The request log in a real browser, from the keyboard alone and at a phone's width: a
//! member pastes a request ID into Request Log and reads why it was refused, then filters
//! the key's own log by outcome on its page; each screen checked by axe.

use thirtyfour::prelude::*;

use super::chrome::Javascript;
use super::dashboard::Person;
use super::spawn_app_for_a_browser;
use crate::diagnosis::{Logged, log, request_id};
use crate::support::Backend;
use crate::support::dashboard::Dashboard;

/// A phone's window.
const PHONE: (u32, u32) = (390, 844);

/// Presses Tab until the element with `id` has the focus.
async fn tab_to(person: &Person<'_>, id: &str) {
    for _ in 0..60 {
        let focused = person
            .chrome
            .eval(
                "return document.activeElement && document.activeElement.id;",
                Vec::new(),
            )
            .await;
        if focused == serde_json::json!(id) {
            return;
        }
        person.press(Key::Tab).await;
    }
    panic!("Tab never reached #{id}");
}

pub async fn a_member_pastes_a_request_id_and_filters_a_keys_log_from_the_keyboard_on_a_phone(
    backend: Backend,
) {
    let Some(app) = spawn_app_for_a_browser(backend).await else {
        return;
    };
    let merchant = app.demo_merchant_id();
    let admin = Dashboard::admin(&app).await;
    let key = admin.generate_key("Storefront").await;
    let res = admin.act(&key.id, "disable", &[]).await;
    assert!(res.status().is_success() || res.status().is_redirection());
    let refused = request_id();
    log(
        &app,
        &merchant,
        Logged {
            key_id: Some(key.id.as_str()),
            presented: &key.masked_key,
            outcome: "key_disabled",
            request_id: &refused,
            agent: "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
            method: "GET",
            path: "/orders?page=2",
            // After the disabling it met.
            at: Some(app.clock.now()),
            ..Default::default()
        },
    );
    log(
        &app,
        &merchant,
        Logged {
            key_id: Some(key.id.as_str()),
            presented: &key.masked_key,
            outcome: "accepted",
            address: "198.51.100.20",
            count: 40,
            at: Some(app.clock.now() - time::Duration::hours(1)),
            ..Default::default()
        },
    );

    let Some(mut ana) = Person::on_api_credentials(&app, "request_log", Javascript::On, None).await else {
        return;
    };
    ana.chrome.resize(PHONE).await;
    ana.chrome.open("/settings/request-log").await;
    ana.sees("Diagnose a request").await;
    ana.sees("198.51.100.20").await;
    ana.chrome.screen("request-log").await;

    tab_to(&ana, "request-id").await;
    type_keys(&ana, &refused).await;
    ana.press(Key::Enter).await;
    ana.sees("The key was disabled by Admin").await;
    ana.sees("Enable the key on its page").await;
    ana.sees("GET /orders?page=2").await;
    ana.chrome.screen("request-log-diagnosis").await;

    ana.chrome
        .open(&format!("/settings/api-credentials/{}", key.id))
        .await;
    ana.sees("Recent requests").await;
    ana.sees("198.51.100.20").await;
    ana.chrome.screen("key-requests").await;
    tab_to(&ana, "log-outcome").await;
    // A select takes the first letters of an option typed while it has the focus.
    type_keys(&ana, "key_d").await;
    tab_to_button(&ana, "Filter").await;
    ana.press(Key::Enter).await;
    ana.sees("Clear").await;
    let text = ana.page_text().await;
    assert!(
        text.contains("key_disabled") && !text.contains("198.51.100.20"),
        "{text}"
    );
    ana.chrome.screen("key-requests-filtered").await;
    ana.finish().await;
}

/// Types `text` wherever the focus is.
async fn type_keys(person: &Person<'_>, text: &str) {
    person
        .chrome
        .driver()
        .action_chain()
        .send_keys(text)
        .perform()
        .await
        .unwrap();
}

/// Presses Tab until the button labelled `label` has the focus.
async fn tab_to_button(person: &Person<'_>, label: &str) {
    for _ in 0..20 {
        let focused = person
            .chrome
            .eval(
                "return document.activeElement && document.activeElement.textContent.trim();",
                Vec::new(),
            )
            .await;
        if focused == serde_json::json!(label) {
            return;
        }
        person.press(Key::Tab).await;
    }
    panic!("Tab never reached {label}");
}
