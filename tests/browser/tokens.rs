//! Management Tokens in a real browser, from the keyboard alone: New Management Token,
//! the Reveal with Copy, Done, and Revoke by typing REVOKE; each screen checked by axe
//! and at a phone's width.

use keyward::domain::ManagementToken;
use reqwest::StatusCode;
use serde_json::{Value, json};
use thirtyfour::prelude::*;

use super::chrome::Javascript;
use super::dashboard::Person;
use super::spawn_app_for_a_browser;
use crate::support::{Backend, TestApp};

/// How the token is laid out on the Reveal: its font and whether one click selects it.
const TOKEN_LAYOUT: &str = r#"
const style = getComputedStyle(arguments[0]);
return { font: style.fontFamily, select: style.userSelect, wrap: style.overflowWrap };"#;

/// `GET /api/v1/keys/{some ID}` with `token`: the status and the error code, if any.
async fn call_api(app: &TestApp, token: &str) -> (StatusCode, Value) {
    let res = app
        .call(
            &format!("/api/v1/keys/{}", uuid::Uuid::new_v4()),
            Some(&format!("Bearer {token}")),
        )
        .await;
    (res.status(), res.json().await.expect("a JSON answer"))
}

/// Focuses `element` and presses `key` on it, as a keyboard user does.
async fn press_on(person: &Person<'_>, element: &WebElement, key: Key) {
    element.focus().await.unwrap();
    person.press(key).await;
}

pub async fn an_admin_creates_copies_and_revokes_a_management_token_from_the_keyboard(backend: Backend) {
    let Some(app) = spawn_app_for_a_browser(backend).await else {
        return;
    };
    let Some(mut ana) = Person::start(&app, "management-tokens", Javascript::On).await else {
        return;
    };
    ana.sign_in().await;
    ana.open_api_credentials().await;
    ana.settings_page("Management Tokens").await;
    ana.sees("No Management Token Yet").await;
    ana.chrome.screen("management-tokens-empty").await;

    // The form, opened with Enter: nothing ticked, Tab stays inside it.
    let new = ana.control(None, "New Management Token").await;
    ana.open_modal(&new, "New Management Token").await;
    assert!(ana.ticked_scopes().await.is_empty(), "no scope is preselected");
    ana.assert_tab_stays_in_modal().await;
    ana.type_into("token-name", "Deploy pipeline").await;

    // Without a scope the form comes back with the message beside the scopes, the name
    // kept, and the focus on the first scope.
    ana.modal_refused("Create Token", 422, "Scopes must not be empty.", "token-refused")
        .await;
    let dialog = ana.dialog("New Management Token").await;
    let name = ana.find(By::Id("token-name")).await;
    assert_eq!(name.value().await.unwrap().as_deref(), Some("Deploy pipeline"));
    let first = ana
        .find(By::Css("#modal input[name=scopes][value='keys:read']"))
        .await;
    assert!(ana.is_focused(&first).await, "the focus is on the scopes");
    for scope in ["keys:read", "keys:write"] {
        let checkbox = ana
            .find(By::Css(format!("#modal input[name=scopes][value='{scope}']")))
            .await;
        press_on(&ana, &checkbox, Key::Space).await;
    }
    assert_eq!(ana.ticked_scopes().await, ["keys:read", "keys:write"]);
    let expiration = ana.find(By::Id("token-expires")).await;
    expiration.focus().await.unwrap();
    for _ in 0..3 {
        ana.press(Key::Down).await;
    }
    assert_eq!(
        expiration.prop("value").await.unwrap().as_deref(),
        Some("90"),
        "three steps down is 90 days"
    );
    ana.chrome.screen("new-token-filled").await;
    let create = ana.control(Some(&dialog), "Create Token").await;
    press_on(&ana, &create, Key::Enter).await;

    // The Reveal: the whole token in a monospaced box one click selects, shown once.
    let reveal = ana.dialog("Your New Management Token").await;
    ana.chrome.screen("your-new-management-token").await;
    let text = reveal.text().await.unwrap();
    assert!(
        text.contains("Store it now: it will not be shown again."),
        "{text}"
    );
    let token = ana
        .find(By::Id("revealed-token"))
        .await
        .value()
        .await
        .unwrap()
        .unwrap();
    let parsed = ManagementToken::parse(&token).unwrap_or_else(|err| panic!("{token:?}: {err:?}"));
    let shown = ana.find(By::Id("revealed-token-text")).await;
    assert_eq!(shown.text().await.unwrap(), token, "the whole token is shown");
    let layout = ana
        .chrome
        .eval(TOKEN_LAYOUT, vec![shown.to_json().unwrap()])
        .await;
    assert!(layout["font"].as_str().unwrap().contains("monospace"), "{layout}");
    assert_eq!(layout["select"], json!("all"), "one click selects it: {layout}");
    assert_eq!(layout["wrap"], json!("anywhere"), "it wraps: {layout}");

    // Escape before Copy asks whether the token is stored; Escape goes back to it.
    ana.press(Key::Escape).await;
    ana.find(By::XPath(
        "//div[@id='modal']//*[@data-reveal-confirm][contains(., 'Is the token stored?')]",
    ))
    .await;
    ana.chrome.screen("asks-whether-stored").await;
    ana.press(Key::Escape).await;
    shown.wait_until().displayed().await.expect("back to the token");

    // Copy, from the keyboard: the clipboard holds the token exactly.
    let copy = ana.control(Some(&reveal), "Copy").await;
    press_on(&ana, &copy, Key::Enter).await;
    ana.find(By::XPath(
        "//div[@id='modal']//button[normalize-space()='Copied']",
    ))
    .await;
    ana.sees("Copied to the clipboard.").await;
    assert_eq!(ana.clipboard().await, token, "the clipboard holds the token");
    ana.chrome.screen("token-copied").await;
    let (status, body) = call_api(&app, &token).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the token works: {body}");

    // Done: the list, with the token masked and never whole again.
    let done = ana.control(Some(&reveal), "Done").await;
    let page = ana.find(By::Tag("html")).await;
    press_on(&ana, &done, Key::Enter).await;
    page.wait_until().stale().await.expect("the list again");
    ana.find(By::XPath("//h1[normalize-space()='Management Tokens']"))
        .await;
    ana.sees(&parsed.masked()).await;
    let source = ana.chrome.driver().source().await.unwrap();
    assert!(
        !source.contains(&token["kw_mgmt_".len()..]),
        "the token is still in the page"
    );
    ana.chrome.screen("management-tokens").await;
    let fits = ana
        .chrome
        .eval(
            "const table = document.querySelector('.management-tokens'); return table.scrollWidth <= table.clientWidth;",
            Vec::new(),
        )
        .await;
    assert_eq!(fits, json!(true), "the list scrolls sideways at 1280 px");

    // Revoke: the button waits for exactly REVOKE; Enter then revokes.
    let revoke = ana.control(None, "Revoke Deploy pipeline").await;
    let dialog = ana.open_modal(&revoke, "Revoke Management Token").await;
    let button = ana.control(Some(&dialog), "Revoke Token").await;
    for almost in ["revoke", " REVOKE", "REVOKE "] {
        ana.type_into("revoke-confirm", almost).await;
        assert!(!button.is_enabled().await.unwrap(), "enabled for {almost:?}");
    }
    ana.type_into("revoke-confirm", "REVOKE").await;
    assert!(button.is_enabled().await.unwrap(), "disabled for REVOKE");
    ana.chrome.screen("revoke-typed").await;
    let page = ana.find(By::Tag("html")).await;
    ana.press(Key::Enter).await;
    page.wait_until().stale().await.expect("the list again");
    ana.sees("\"Deploy pipeline\" was revoked.").await;
    let row = ana
        .find(By::XPath(
            "//tr[.//span[@class='token-name'][normalize-space()='Deploy pipeline']]",
        ))
        .await;
    assert!(
        row.text().await.unwrap().contains("Revoked"),
        "the row says Revoked"
    );
    ana.chrome.screen("token-revoked").await;
    let (status, body) = call_api(&app, &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], json!("token_revoked"));
    ana.finish().await;
}
