//! What a person does on the dashboard, one step at a time, in a real browser: reads
//! labels, clicks and types, and, for modals, uses the keyboard alone.

use std::time::{Duration, Instant};

use keyward::domain::ApiKey;
use reqwest::StatusCode;
use serde_json::{Value, json};
use thirtyfour::prelude::*;

use super::chrome::{Chrome, Javascript};
use crate::support::TestApp;

/// The open modal's dialog.
pub(super) const DIALOG: &str = "#modal [role=dialog]";

/// Where the focus is, as seen from the open dialog: the index of the focused element
/// among the dialog's descendants, -2 for the dialog itself, -1 outside it (or no dialog).
const FOCUS_IN_DIALOG: &str = r##"
const dialog = document.querySelector("#modal [role=dialog]");
const active = document.activeElement;
if (!dialog || !dialog.contains(active)) return -1;
return active === dialog ? -2 : [...dialog.querySelectorAll("*")].indexOf(active);"##;

/// An XPath string literal for `text`, which holds no double quote.
fn literal(text: &str) -> String {
    assert!(!text.contains('"'), "{text:?} holds a double quote");
    format!("\"{text}\"")
}

/// A link or button whose whole text is `label`.
fn control(label: &str) -> By {
    By::XPath(format!(
        ".//*[self::a or self::button][normalize-space()={}]",
        literal(label)
    ))
}

/// Calls `GET /api/v1/whoami` with `key`, as an integration would.
pub async fn whoami(app: &TestApp, key: &str) -> (StatusCode, Value) {
    let res = reqwest::Client::new()
        .get(format!("{}/api/v1/whoami", app.address))
        .header("Authorization", format!("ApiKey {key}"))
        .send()
        .await
        .expect("the API answers");
    (res.status(), res.json().await.expect("a JSON answer"))
}

/// A merchant admin at a browser.
pub struct Person<'a> {
    pub chrome: Chrome,
    pub app: &'a TestApp,
}

impl<'a> Person<'a> {
    /// A person with a fresh browser; `None` when chromium is not installed here.
    pub async fn start(app: &'a TestApp, test: &'static str, javascript: Javascript) -> Option<Self> {
        let chrome = Chrome::start(test, app.backend(), &app.address, javascript).await?;
        Some(Self { chrome, app })
    }

    /// Signs in at a fresh browser, applies the key policy `preset` on the Key Policy page
    /// when given, and opens API Credentials through the profile menu. `None` when
    /// chromium is not installed here.
    pub async fn on_api_credentials(
        app: &'a TestApp,
        test: &'static str,
        javascript: Javascript,
        preset: Option<&str>,
    ) -> Option<Self> {
        let mut person = Self::start(app, test, javascript).await?;
        person.sign_in().await;
        if let Some(preset) = preset {
            person.apply_preset(preset).await;
        }
        person.open_api_credentials().await;
        Some(person)
    }

    fn driver(&self) -> &WebDriver {
        self.chrome.driver()
    }

    /// Waits for the element `by` finds anywhere on the page.
    pub async fn find(&self, by: By) -> WebElement {
        let description = format!("{by:?}");
        self.driver()
            .query(by)
            .first()
            .await
            .unwrap_or_else(|err| panic!("no {description} on the page: {err}"))
    }

    /// Waits for the link or button labelled `label`, inside `scope` when given.
    pub async fn control(&self, scope: Option<&WebElement>, label: &str) -> WebElement {
        let found = match scope {
            Some(scope) => scope.query(control(label)).first().await,
            None => self.driver().query(control(label)).first().await,
        };
        found.unwrap_or_else(|err| panic!("no {label:?} link or button: {err}"))
    }

    /// True when no link or button labelled `label` is inside `scope` right now.
    pub async fn lacks_control(&self, scope: &WebElement, label: &str) -> bool {
        scope.query(control(label)).nowait().not_exists().await.unwrap()
    }

    /// The page's visible text.
    pub async fn page_text(&self) -> String {
        self.driver()
            .find(By::Tag("body"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Waits until the page shows `text`.
    pub async fn sees(&self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let page = self.page_text().await;
            if page.contains(text) {
                return;
            }
            assert!(Instant::now() < deadline, "{text:?} is not on the page:\n{page}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Clicks `element` and waits for the page it leads to.
    pub async fn click_through(&self, element: &WebElement) {
        let page = self.driver().find(By::Tag("html")).await.unwrap();
        element.click().await.expect("a click");
        page.wait_until().stale().await.expect("a new page");
        self.find(By::Tag("main")).await;
    }

    /// Reloads the page, as the browser's refresh button does.
    pub async fn refresh(&self) {
        self.driver().refresh().await.expect("a refresh");
        self.find(By::Tag("main")).await;
    }

    /// Goes back one page, as the browser's back button does.
    pub async fn back(&self) {
        self.driver().back().await.expect("going back");
        self.find(By::Tag("body")).await;
    }

    /// Signs in through the form with the first admin's email and password.
    pub async fn sign_in(&mut self) {
        let (email, password) = (self.app.admin_email.clone(), self.app.admin_password.clone());
        self.sign_in_as(&email, &password).await;
    }

    /// Signs in through the form with `email` and `password`.
    pub async fn sign_in_as(&mut self, email: &str, password: &str) {
        self.chrome.open("/").await;
        self.find(By::Id("email")).await.send_keys(email).await.unwrap();
        self.find(By::Id("password"))
            .await
            .send_keys(password)
            .await
            .unwrap();
        self.chrome.screen("sign-in").await;
        let button = self.control(None, "Sign in").await;
        self.click_through(&button).await;
        self.find(By::Css(".profile-menu .user-name")).await;
    }

    /// Opens `page` in the settings sidebar, under its Merchant heading.
    pub async fn settings_page(&mut self, page: &str) {
        let link = self
            .find(By::XPath(format!(
                "//nav[@aria-label='Settings']/h3[normalize-space()='Merchant']/following-sibling::ul[1]//a[normalize-space()={}]",
                literal(page)
            )))
            .await;
        self.click_through(&link).await;
        self.find(By::XPath(format!("//h1[normalize-space()={}]", literal(page))))
            .await;
    }

    /// On a phone, where the sidebar is folded behind its Menu button: opens it. Elsewhere
    /// it does nothing.
    pub async fn open_main_menu(&mut self) {
        let Some(button) = self
            .driver()
            .query(By::Css(".sidebar [aria-controls=sidebar-menu]"))
            .nowait()
            .first_opt()
            .await
            .unwrap()
        else {
            return;
        };
        if !button.is_displayed().await.unwrap()
            || button.attr("aria-expanded").await.unwrap().as_deref() == Some("true")
        {
            return;
        }
        button.click().await.unwrap();
        self.find(By::Css(".sidebar .profile-menu summary"))
            .await
            .wait_until()
            .displayed()
            .await
            .expect("the menu opens");
    }

    /// The name in the bottom-left corner (behind Menu on a phone) → Settings → Merchant →
    /// API Credentials.
    pub async fn open_api_credentials(&mut self) {
        self.open_main_menu().await;
        self.find(By::Css(".profile-menu summary .user-name"))
            .await
            .click()
            .await
            .unwrap();
        let settings = self.find(By::Css(".profile-menu[open] .menu")).await;
        self.chrome.screen("profile-menu").await;
        let settings = self.control(Some(&settings), "Settings").await;
        self.click_through(&settings).await;
        self.settings_page("API Credentials").await;
        self.chrome.screen("api-credentials").await;
    }

    /// Settings → Key Policy → the preset's Apply button.
    pub async fn apply_preset(&mut self, label: &str) {
        self.settings_page("Key Policy").await;
        let apply = self.control(None, &format!("Apply {label}")).await;
        self.click_through(&apply).await;
        self.find(By::XPath(format!(
            "//div[contains(@class,'preset') and contains(@class,'current')]/h3[starts-with(normalize-space(),{})]",
            literal(label)
        )))
        .await;
        self.chrome.screen("key-policy").await;
    }

    /// The card (`Current API Key` or `Rotated API Key`) of the key named `name`.
    pub async fn card(&self, kicker: &str, name: &str) -> WebElement {
        self.find(By::XPath(format!(
            "//article[contains(@class,'key-card')][.//p[@class='card-kicker'][normalize-space()={}]][.//h2[normalize-space()={}]]",
            literal(kicker),
            literal(name)
        )))
        .await
    }

    /// The fact `label` (Created Date, Last Used, Version, Status…) on a card.
    pub async fn fact(&self, card: &WebElement, label: &str) -> String {
        card.find(By::XPath(format!(
            ".//dt[normalize-space()={}]/following-sibling::dd",
            literal(label)
        )))
        .await
        .unwrap_or_else(|err| panic!("no {label} on the card: {err}"))
        .text()
        .await
        .unwrap()
    }

    /// The key ID a card stands for.
    pub async fn key_id(&self, card: &WebElement) -> String {
        card.id()
            .await
            .unwrap()
            .and_then(|id| id.strip_prefix("key-").map(str::to_owned))
            .expect("a card's id is key-<id>")
    }

    /// Presses `key` wherever the focus is.
    pub async fn press(&self, key: Key) {
        self.driver()
            .action_chain()
            .send_keys(key)
            .perform()
            .await
            .unwrap();
    }

    async fn focus_in_dialog(&self) -> i64 {
        self.chrome
            .eval(FOCUS_IN_DIALOG, Vec::new())
            .await
            .as_i64()
            .unwrap()
    }

    pub(super) async fn is_focused(&self, element: &WebElement) -> bool {
        self.chrome
            .eval(
                "return document.activeElement === arguments[0];",
                vec![element.to_json().unwrap()],
            )
            .await
            .as_bool()
            .unwrap()
    }

    /// The open modal once its title reads `title`: the dialog, or without JavaScript the
    /// page that stands for it.
    pub async fn dialog(&self, title: &str) -> WebElement {
        let title = literal(title);
        self.find(By::XPath(format!(
            "//div[@id='modal']//div[@role='dialog'][./h2[normalize-space()={title}]] | //section[contains(@class,'modal-page')][./h1[normalize-space()={title}]]"
        )))
        .await
    }

    /// Opens a modal from the keyboard: focus on `opener`, Enter. The dialog titled
    /// `title` appears with the focus inside it.
    pub async fn open_modal(&mut self, opener: &WebElement, title: &str) -> WebElement {
        opener.focus().await.unwrap();
        self.press(Key::Enter).await;
        let dialog = self.dialog(title).await;
        assert!(
            self.focus_in_dialog().await != -1,
            "the focus is not in the {title} dialog when it opens"
        );
        self.chrome.screen(&screen_name(title)).await;
        dialog
    }

    /// Tab and Shift+Tab go round the open dialog's controls, back to where they started,
    /// without leaving it.
    pub async fn assert_tab_stays_in_modal(&self) {
        for (direction, shift) in [("Tab", false), ("Shift+Tab", true)] {
            let start = self.focus_in_dialog().await;
            let mut seen = Vec::new();
            // A date field takes one Tab per part, so allow for more presses than stops.
            while seen.len() < 40 {
                let chain = self.driver().action_chain();
                let chain = if shift {
                    chain.key_down(Key::Shift).send_keys(Key::Tab).key_up(Key::Shift)
                } else {
                    chain.send_keys(Key::Tab)
                };
                chain.perform().await.unwrap();
                let now = self.focus_in_dialog().await;
                assert_ne!(now, -1, "{direction} left the dialog after {seen:?}");
                seen.push(now);
                if now == start {
                    break;
                }
            }
            assert!(
                seen.last() == Some(&start) && seen.len() >= 2,
                "{direction} does not go round the dialog's controls: from {start} through {seen:?}"
            );
        }
    }

    /// The open modal works from the keyboard: Tab stays inside it, Escape closes it, and
    /// the focus returns to `opener`.
    pub async fn check_modal_keyboard(&mut self, opener: &WebElement) {
        self.assert_tab_stays_in_modal().await;
        self.press(Key::Escape).await;
        self.driver()
            .query(By::Css(DIALOG))
            .wait_until_gone()
            .await
            .expect("Escape closes the modal");
        assert!(
            self.is_focused(opener).await,
            "the focus does not return to the control that opened the modal"
        );
    }

    /// The open modal: its dialog, or the page that stands for it without JavaScript.
    pub async fn modal(&self) -> WebElement {
        self.find(By::Css("#modal [role=dialog], section.modal-page"))
            .await
    }

    /// Clicks `label` in the open modal and waits for the dialog titled `next`.
    pub async fn modal_step(&mut self, label: &str, next: &str) -> WebElement {
        let button = self.control(Some(&self.modal().await), label).await;
        button.click().await.unwrap();
        let dialog = self.dialog(next).await;
        self.chrome.screen(&screen_name(next)).await;
        dialog
    }

    /// Clicks `label` in the open dialog, which ends in a new page (the list with a
    /// message).
    pub async fn modal_finish(&mut self, label: &str, screen: &str) {
        let button = self.control(Some(&self.modal().await), label).await;
        self.click_through(&button).await;
        self.chrome.screen(screen).await;
    }

    /// Clicks `label` in the open modal for a change the server refuses with `status`: the
    /// modal comes back with `message` in its alert.
    pub async fn modal_refused(&mut self, label: &str, status: u16, message: &str, screen: &str) {
        let modal = self.modal().await;
        let button = self.control(Some(&modal), label).await;
        self.chrome.expect_failed_request(status);
        button.click().await.unwrap();
        modal.wait_until().stale().await.expect("the modal comes back");
        let alert = self
            .modal()
            .await
            .query(By::Css("[role=alert]"))
            .first()
            .await
            .expect("the refusal in the modal")
            .text()
            .await
            .unwrap();
        assert_eq!(alert, message);
        self.chrome.screen(screen).await;
    }

    /// Types into the field `id` after clearing it.
    pub async fn type_into(&self, id: &str, text: &str) {
        let field = self.find(By::Id(id)).await;
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    /// Ticks (or unticks) the checkbox for scope `scope` on an open form.
    pub async fn set_scope(&self, scope: &str, ticked: bool) {
        let checkbox = self
            .find(By::Css(format!("input[name=scopes][value='{scope}']")))
            .await;
        if checkbox.is_selected().await.unwrap() != ticked {
            checkbox.click().await.unwrap();
        }
    }

    /// The scopes ticked on the open form.
    pub async fn ticked_scopes(&self) -> Vec<String> {
        let mut ticked = Vec::new();
        for checkbox in self
            .driver()
            .find_all(By::Css("#modal input[name=scopes][type=checkbox]"))
            .await
            .unwrap()
        {
            if checkbox.is_selected().await.unwrap() {
                ticked.push(checkbox.value().await.unwrap().unwrap_or_default());
            }
        }
        ticked
    }

    /// The key on the Reveal, under its warning.
    pub async fn revealed_key(&self) -> String {
        let reveal = self.dialog("Your New API Key").await;
        let text = reveal.text().await.unwrap();
        assert!(
            text.contains("This is the only time the full key will be shown."),
            "no warning on the Reveal: {text}"
        );
        let key = self
            .find(By::Id("revealed-key"))
            .await
            .value()
            .await
            .unwrap()
            .unwrap();
        ApiKey::parse(&key).unwrap_or_else(|err| panic!("{key:?} is not a key: {err:?}"));
        key
    }

    /// On the Reveal: clicks Copy and reads the clipboard, which must hold exactly the key
    /// shown. Returns the key.
    pub async fn copy_revealed_key(&mut self) -> String {
        let key = self.revealed_key().await;
        self.assert_tab_stays_in_modal().await;
        let copy = self.control(Some(&self.modal().await), "Copy").await;
        copy.focus().await.unwrap();
        self.press(Key::Enter).await;
        self.find(By::XPath(
            "//div[@id='modal']//button[normalize-space()='Copied']",
        ))
        .await;
        self.sees("Copied to the clipboard.").await;
        assert_eq!(self.clipboard().await, key, "the clipboard holds the key exactly");
        self.chrome.screen("copied").await;
        key
    }

    /// True when no Reveal is on the page right now.
    pub async fn revealed_key_absent(&self) -> bool {
        self.driver()
            .query(By::Id("revealed-key"))
            .nowait()
            .not_exists()
            .await
            .unwrap()
    }

    /// What the clipboard holds.
    pub async fn clipboard(&self) -> String {
        self.chrome
            .eval("return await navigator.clipboard.readText();", Vec::new())
            .await
            .as_str()
            .expect("the clipboard holds text")
            .to_owned()
    }

    /// Done on the Reveal: back to the list, which shows the key masked only.
    pub async fn done(&mut self, key: &str) {
        let done = self.control(Some(&self.modal().await), "Done").await;
        self.click_through(&done).await;
        self.find(By::XPath("//h1[normalize-space()='API Credentials']"))
            .await;
        self.assert_key_not_shown(key).await;
        self.chrome.screen("done").await;
    }

    /// The page, its source included, holds no trace of `key` but its masked form.
    pub async fn assert_key_not_shown(&self, key: &str) {
        let source = self.driver().source().await.unwrap();
        let secret = &key["kw_live_".len()..];
        assert!(
            !source.contains(secret),
            "the full key is still in the page at {}",
            self.driver().current_url().await.unwrap()
        );
    }

    /// Neither a refresh nor the back button shows `key` again.
    pub async fn assert_refresh_and_back_hide(&mut self, key: &str) {
        self.refresh().await;
        self.assert_key_not_shown(key).await;
        self.chrome.screen("after-refresh").await;
        self.back().await;
        self.assert_key_not_shown(key).await;
        self.chrome.screen("after-back").await;
    }

    /// On an open Revoke modal: the Revoke Key button stays disabled for `revoke` and
    /// ` REVOKE`, and is enabled by exactly `REVOKE`.
    pub async fn type_revoke(&mut self) {
        let button = self.control(Some(&self.modal().await), "Revoke Key").await;
        for almost in ["revoke", " REVOKE", "REVOKE "] {
            self.type_into("revoke-confirm", almost).await;
            assert!(
                !button.is_enabled().await.unwrap(),
                "Revoke Key is enabled for {almost:?}"
            );
        }
        // Enter in the field cannot submit while the button is disabled.
        self.press(Key::Enter).await;
        assert!(
            self.driver()
                .query(By::Css(DIALOG))
                .nowait()
                .exists()
                .await
                .unwrap(),
            "Enter submitted the Revoke form with the wrong word"
        );
        self.type_into("revoke-confirm", "REVOKE").await;
        assert!(
            button.is_enabled().await.unwrap(),
            "Revoke Key stays disabled for REVOKE"
        );
        self.chrome.screen("revoke-typed").await;
    }

    /// Clicks a card's one-click action (Disable, Enable, Renew) and waits for the list
    /// with its message.
    pub async fn card_action(&mut self, card: &WebElement, label: &str, message: &str) {
        let button = self.control(Some(card), label).await;
        self.click_through(&button).await;
        self.sees(message).await;
        self.chrome.screen(&screen_name(label)).await;
    }

    /// The list's count line, such as `1 of 5 active keys`.
    pub async fn key_count(&self) -> String {
        self.find(By::Css(".key-count")).await.text().await.unwrap()
    }

    /// The Revoked Keys table's row for the key named `name`: its cells' text.
    pub async fn revoked_row(&self, name: &str) -> Vec<String> {
        let row = self
            .find(By::XPath(format!(
                "//section[contains(@class,'revoked-keys')]//tr[td[1][normalize-space()={}]]",
                literal(name)
            )))
            .await;
        let mut cells = Vec::new();
        for cell in row.find_all(By::Tag("td")).await.unwrap() {
            cells.push(cell.text().await.unwrap());
        }
        cells
    }

    /// Asserts `key` is accepted by the API, and returns what `/api/v1/whoami` says.
    pub async fn key_works(&self, key: &str) -> Value {
        let (status, body) = whoami(self.app, key).await;
        assert_eq!(status, StatusCode::OK, "the copied key is refused: {body}");
        body
    }

    /// Asserts the API refuses `key` with `code`.
    pub async fn key_refused(&self, key: &str, code: &str) {
        let (status, body) = whoami(self.app, key).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(body["error"]["code"], json!(code));
    }

    /// Closes the browser after a last look at its console.
    pub async fn finish(self) {
        self.chrome.finish().await;
    }
}

/// A screenshot's name from a title: `Rotate API Key` → `rotate-api-key`.
fn screen_name(title: &str) -> String {
    title
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_ascii_lowercase)
        .collect::<Vec<_>>()
        .join("-")
}
