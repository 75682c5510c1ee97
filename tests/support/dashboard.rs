//! A signed-in browser on API Credentials, clicking as a person would.

use keyward::db::keys::KeyRow;
use keyward::domain::{KeyId, KeyStatus, MerchantId, Role};
use reqwest::{Response, StatusCode};
use time::Duration;

use super::app::TestApp;
use super::browser::{Browser, csrf_token_in, field_value};

pub const LIST: &str = "/settings/api-credentials";

/// The key shown on a Reveal.
pub fn revealed_key(html: &str) -> String {
    let marker = r#"id="revealed-key" class="revealed-key" type="text" readonly value=""#;
    let start = html
        .find(marker)
        .unwrap_or_else(|| panic!("no revealed key in {html}"))
        + marker.len();
    let end = html[start..].find('"').unwrap() + start;
    html[start..end].to_owned()
}

/// A signed-in browser on the API Credentials page.
pub struct Dashboard<'a> {
    pub app: &'a TestApp,
    pub browser: Browser,
    pub merchant_id: MerchantId,
    email: String,
    password: String,
}

impl<'a> Dashboard<'a> {
    pub async fn admin(app: &'a TestApp) -> Self {
        Self {
            browser: app.signed_in_admin().await,
            merchant_id: app.demo_merchant_id(),
            email: app.admin_email.clone(),
            password: app.admin_password.clone(),
            app,
        }
    }

    pub async fn member(app: &'a TestApp, email: &str, role: Role) -> Self {
        let merchant_id = app.demo_merchant_id();
        app.create_member(email, "member password", &merchant_id, role);
        let browser = app.browser();
        assert_eq!(
            browser.sign_in(email, "member password").await.status(),
            StatusCode::SEE_OTHER
        );
        Self {
            app,
            browser,
            merchant_id,
            email: email.to_owned(),
            password: "member password".to_owned(),
        }
    }

    /// Moves the clock, then signs in again if the session timed out meanwhile.
    pub async fn advance(&self, by: Duration) {
        self.app.clock.advance(by);
        if !self.browser.is_signed_in().await {
            let res = self.browser.sign_in(&self.email, &self.password).await;
            assert_eq!(res.status(), StatusCode::SEE_OTHER);
        }
    }

    pub async fn page(&self) -> String {
        let res = self.browser.get(LIST).await;
        assert_eq!(res.status(), StatusCode::OK);
        res.text().await.unwrap()
    }

    /// Opens the form at `path` and returns its CSRF token and one-time value.
    pub async fn open_form(&self, path: &str) -> (String, String) {
        let html = self.browser.html(path).await;
        (
            csrf_token_in(&html).unwrap_or_else(|| panic!("no form at {path}: {html}")),
            field_value(&html, "nonce").unwrap_or_else(|| panic!("no one-time value at {path}")),
        )
    }

    /// Opens a form page and posts it with its CSRF token and one-time value.
    pub async fn submit(&self, form_path: &str, post_path: &str, fields: &[(&str, &str)]) -> Response {
        let html = self.browser.html(form_path).await;
        let token = csrf_token_in(&html).unwrap_or_else(|| panic!("no form at {form_path}: {html}"));
        let nonce = field_value(&html, "nonce");
        let mut all: Vec<(&str, &str)> = vec![("csrf_token", &token)];
        if let Some(nonce) = &nonce {
            all.push(("nonce", nonce));
        }
        all.extend_from_slice(fields);
        self.browser.post_form(post_path, &all).await
    }

    /// Posts a form opened earlier with `open_form` (a tab left open), once the page may
    /// no longer offer it: only the server's own check then stands in the way.
    pub async fn post_left_open(
        &self,
        (token, nonce): &(String, String),
        post_path: &str,
        fields: &[(&str, &str)],
    ) -> Response {
        let mut all: Vec<(&str, &str)> = vec![("csrf_token", token), ("nonce", nonce)];
        all.extend_from_slice(fields);
        self.browser.post_form(post_path, &all).await
    }

    /// The action's address opened directly while the rules refuse it: 409, the
    /// refusal's `message`, a link back, and no form to send.
    pub async fn assert_refused_page(&self, path: &str, message: &str) {
        let res = self.browser.get(path).await;
        assert_eq!(res.status(), StatusCode::CONFLICT, "GET {path}");
        let html = res.text().await.unwrap();
        assert!(html.contains(message), "{message:?} not in {html}");
        assert!(
            html.contains("Back to API Credentials") || html.contains("Back to the key"),
            "no way back in {html}"
        );
        let action = path.split('?').next().unwrap();
        assert!(
            !html.contains(&format!(r#"action="{action}"#)) || action == LIST,
            "a form to {action} is still offered: {html}"
        );
    }

    pub async fn generate(&self, fields: &[(&str, &str)]) -> Response {
        self.submit("/settings/api-credentials/new", LIST, fields).await
    }

    /// Generates a key named `name` and returns it as revealed.
    pub async fn generate_ok(&self, name: &str) -> String {
        let res = self.generate(&[("name", name)]).await;
        assert_eq!(res.status(), StatusCode::OK, "generating {name}");
        revealed_key(&res.text().await.unwrap())
    }

    /// Generates a key named `name` and returns its row (the plaintext is not needed).
    pub async fn generate_key(&self, name: &str) -> KeyRow {
        self.generate_ok(name).await;
        self.key_named(name)
    }

    pub async fn act(&self, key_id: impl AsRef<str>, action: &str, fields: &[(&str, &str)]) -> Response {
        let path = format!("{LIST}/{}/{action}", key_id.as_ref());
        if matches!(action, "disable" | "enable" | "renew") {
            let token = self.browser.csrf_token(LIST).await;
            let mut all = vec![("csrf_token", token.as_str())];
            all.extend_from_slice(fields);
            return self.browser.post_form(&path, &all).await;
        }
        self.submit(&path, &path, fields).await
    }

    pub async fn rotate_ok(&self, key_id: impl AsRef<str>, grace: &str) -> String {
        let res = self.act(key_id, "rotate", &[("grace", grace)]).await;
        assert_eq!(res.status(), StatusCode::OK, "rotating");
        revealed_key(&res.text().await.unwrap())
    }

    /// Every key row of the merchant but deleted ones, newest first.
    pub fn keys(&self) -> Vec<KeyRow> {
        keyward::db::keys::list(&mut self.app.db.get().unwrap(), &self.merchant_id).unwrap()
    }

    pub fn key_named(&self, name: &str) -> KeyRow {
        self.keys()
            .into_iter()
            .find(|row| row.name == name && matches!(row.status, KeyStatus::Active | KeyStatus::Disabled))
            .unwrap_or_else(|| panic!("no live key named {name}"))
    }

    pub fn row(&self, key_id: impl AsRef<str>) -> KeyRow {
        keyward::db::keys::find(
            &mut self.app.db.get().unwrap(),
            &self.merchant_id,
            &KeyId::parse(key_id.as_ref()).unwrap(),
        )
        .unwrap()
        .unwrap()
    }

    pub fn events(&self, key_id: impl AsRef<str>) -> Vec<String> {
        keyward::db::key_events::for_key(
            &mut self.app.db.get().unwrap(),
            &self.merchant_id,
            &KeyId::parse(key_id.as_ref()).unwrap(),
        )
        .unwrap()
        .into_iter()
        .map(|event| event.event_type)
        .collect()
    }

    pub async fn set_policy(&self, preset: &str) {
        let token = self.browser.csrf_token("/settings/key-policy").await;
        let res = self
            .browser
            .post_form(
                "/settings/key-policy",
                &[("csrf_token", &token), ("preset", preset)],
            )
            .await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "applying {preset}");
    }
}

/// Checks a refused or invalid action's status and that its page says `message`.
pub async fn assert_message(res: Response, status: StatusCode, message: &str) {
    assert_eq!(res.status(), status, "expected {status} for {message:?}");
    let html = res.text().await.unwrap();
    assert!(html.contains(message), "{message:?} not in {html}");
}
