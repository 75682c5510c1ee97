//! The steps of a person at the dashboard where it asks first or says no: Disable and
//! its confirmation, and Generate New API Key shown disabled at the limit.

use std::time::Duration;

use serde_json::json;
use thirtyfour::prelude::*;

use super::dashboard::{DIALOG, Person};

impl Person<'_> {
    /// Disable, which asks first: the control labelled Disable in `scope`, opened from the
    /// keyboard, shows a confirmation saying integrations stop working; the key works
    /// until the confirmation's own Disable is clicked, and the page after it says
    /// `message`. `key` is the plaintext the key's integrations use.
    pub async fn disable(&mut self, scope: &WebElement, key: &str, message: &str) {
        let disable = self.control(Some(scope), "Disable").await;
        let dialog = self.open_modal(&disable, "Disable API Key").await;
        let text = dialog.text().await.unwrap();
        assert!(
            text.contains("Integrations using this key stop working"),
            "{text}"
        );
        self.key_works(key).await;
        self.modal_finish("Disable", "disabled").await;
        self.sees(message).await;
        self.key_refused(key, "key_disabled").await;
    }

    /// At the active-key limit: Generate New API Key is a disabled button (aria-disabled,
    /// so it stays focusable) that the keyboard reaches and Enter does not open, described
    /// by the reason shown under it. Returns the reason.
    pub async fn generate_refused(&mut self) -> String {
        let generate = self.control(None, "Generate New API Key").await;
        assert_eq!(generate.tag_name().await.unwrap(), "button");
        assert_eq!(
            generate.attr("aria-disabled").await.unwrap().as_deref(),
            Some("true")
        );
        assert!(
            generate.is_displayed().await.unwrap(),
            "the disabled button is hidden"
        );
        let tabbable = self
            .chrome
            .eval(
                "return arguments[0].tabIndex >= 0 && !arguments[0].disabled;",
                vec![generate.to_json().unwrap()],
            )
            .await;
        assert_eq!(tabbable, json!(true), "the keyboard cannot reach it");
        generate.focus().await.unwrap();
        assert!(self.is_focused(&generate).await);
        self.press(Key::Enter).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            self.chrome
                .driver()
                .query(By::Css(DIALOG))
                .nowait()
                .not_exists()
                .await
                .unwrap(),
            "the disabled Generate New API Key opened a dialog"
        );
        let described_by = generate.attr("aria-describedby").await.unwrap().unwrap();
        let reason = self.find(By::Id(described_by)).await;
        assert!(reason.is_displayed().await.unwrap(), "the reason is hidden");
        self.chrome.screen("limit-reached").await;
        reason.text().await.unwrap()
    }

    /// The page's main area: the scope of a key page's controls.
    pub async fn main(&self) -> WebElement {
        self.find(By::Tag("main")).await
    }
}
