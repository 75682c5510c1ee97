//! Who may make a change is decided again where it commits: a request whose body is
//! held back while its sender is removed, demoted or disabled changes nothing, and a
//! body that never arrives in time is answered 408.

use std::time::Duration as StdDuration;

use keyward::db::memberships;
use keyward::domain::{KeyStatus, Role};
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::db_test;
use crate::support::dashboard::{Dashboard, LIST};
use crate::support::{Backend, Browser, TestApp, csrf_token_in, field_value, spawn_app, spawn_app_with};

/// A change sent like htmx sends it (the CSRF token in its header), whose head has
/// arrived but whose body's last byte is held back until [`HeldChange::finish`].
struct HeldChange {
    stream: TcpStream,
    last: u8,
}

impl HeldChange {
    async fn start(
        app: &TestApp,
        browser: &Browser,
        path: &str,
        token: &str,
        fields: &[(&str, &str)],
    ) -> Self {
        let body = serde_urlencoded::to_string(fields).unwrap();
        let host = app.address.trim_start_matches("http://");
        let cookie = browser.session_cookie().expect("a signed-in browser");
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {host}\r\nCookie: keyward_session={cookie}\r\n\
             X-CSRF-Token: {token}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
             Content-Length: {}\r\nUser-Agent: {}\r\nConnection: close\r\n\r\n",
            body.len(),
            crate::support::USER_AGENT,
        );
        let mut stream = TcpStream::connect(host).await.unwrap();
        let (all_but_last, last) = body.as_bytes().split_at(body.len() - 1);
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(all_but_last).await.unwrap();
        // The server reads who is asking as soon as the head is in; give it the moment
        // it needs before the member changes under it.
        tokio::time::sleep(StdDuration::from_millis(300)).await;
        Self {
            stream,
            last: last[0],
        }
    }

    /// Sends the body's last byte and returns the answer's status and body.
    async fn finish(mut self) -> (u16, String) {
        // The server may already have answered (and closed) on its own.
        let _ = self.stream.write_all(&[self.last]).await;
        Self::answer(self.stream).await
    }

    /// The answer the server gives without the body's last byte.
    async fn answer(mut stream: TcpStream) -> (u16, String) {
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.unwrap();
        let text = String::from_utf8_lossy(&raw).into_owned();
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("no HTTP answer: {text:?}"));
        (status, text)
    }
}

/// Opens a form page and returns its CSRF token and one-time value.
async fn form(browser: &Browser, path: &str) -> (String, String) {
    let html = browser.html(path).await;
    (
        csrf_token_in(&html).unwrap(),
        field_value(&html, "nonce").unwrap_or_default(),
    )
}

fn role_of(app: &TestApp, user_id: &str) -> Option<Role> {
    memberships::member(&mut app.db.get().unwrap(), &app.demo_merchant_id(), user_id)
        .unwrap()
        .map(|member| member.role)
}

fn live_keys(app: &TestApp) -> i64 {
    app.count("SELECT COUNT(*) AS n FROM api_keys WHERE status IN ('active', 'disabled')")
}

async fn a_generate_held_open_while_the_developer_is_removed_makes_no_key(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let admin = Dashboard::admin(&app).await;
    let developer = Dashboard::member(&app, "dev@example.com", Role::Developer).await;
    let developer_id = developer_id(&app);
    let (token, nonce) = form(&developer.browser, "/settings/api-credentials/new").await;

    let held = HeldChange::start(
        &app,
        &developer.browser,
        LIST,
        &token,
        &[("nonce", &nonce), ("name", "Late")],
    )
    .await;
    let admin_token = admin.browser.csrf_token("/settings/members").await;
    let res = admin
        .browser
        .post_form(
            &format!("/settings/members/{developer_id}/remove"),
            &[("csrf_token", &admin_token)],
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "the admin removes the developer"
    );
    let (status, answer) = held.finish().await;

    assert_eq!(status, 403, "{answer}");
    assert_eq!(live_keys(&app), 0, "no key was made");
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM key_events WHERE event_type = 'generated'"),
        0
    );
}

async fn a_demoted_admin_cannot_make_themselves_admin_again_with_a_held_request(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let admin = Dashboard::admin(&app).await;
    let second = Dashboard::member(&app, "second@example.com", Role::Admin).await;
    let second_id = developer_id_of(&app, "second@example.com");
    let token = second.browser.csrf_token("/settings/members").await;

    let held = HeldChange::start(
        &app,
        &second.browser,
        &format!("/settings/members/{second_id}/role"),
        &token,
        &[("role", "admin")],
    )
    .await;
    give_role(&admin, &second_id, "viewer").await;
    let (status, answer) = held.finish().await;

    assert_eq!(status, 403, "{answer}");
    assert_eq!(role_of(&app, &second_id), Some(Role::Viewer));
}

async fn a_policy_change_held_open_while_the_admin_is_demoted_changes_nothing(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let admin = Dashboard::admin(&app).await;
    let second = Dashboard::member(&app, "second@example.com", Role::Admin).await;
    let second_id = developer_id_of(&app, "second@example.com");
    let token = second.browser.csrf_token("/settings/key-policy").await;
    let policy_events =
        || app.count("SELECT COUNT(*) AS n FROM key_events WHERE event_type = 'policy_changed'");
    let before = policy_events();

    let held = HeldChange::start(
        &app,
        &second.browser,
        "/settings/key-policy",
        &token,
        &[("preset", "single-key")],
    )
    .await;
    give_role(&admin, &second_id, "developer").await;
    let (status, answer) = held.finish().await;

    assert_eq!(status, 403, "{answer}");
    assert_eq!(policy_events(), before, "the policy was not changed");
}

async fn a_revoke_held_open_while_the_account_is_disabled_from_the_cli_revokes_nothing(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let developer = Dashboard::member(&app, "dev@example.com", Role::Developer).await;
    let key = developer.generate_key("Production").await;
    let path = format!("{LIST}/{}/revoke", key.id);
    let (token, nonce) = form(&developer.browser, &path).await;

    let held = HeldChange::start(
        &app,
        &developer.browser,
        &path,
        &token,
        &[("nonce", &nonce), ("confirm", "REVOKE")],
    )
    .await;
    disable_from_the_cli(&app, "dev@example.com");
    let (status, answer) = held.finish().await;

    assert_eq!(status, 403, "{answer}");
    assert_eq!(
        developer.row(&key.id).status,
        KeyStatus::Active,
        "the key still works"
    );
    assert!(!developer.events(&key.id).contains(&"revoked".to_owned()));
}

async fn a_body_that_does_not_arrive_in_time_is_answered_408_and_changes_nothing(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |settings| {
        settings.body_timeout = StdDuration::from_secs(1);
    })
    .await
    else {
        return;
    };
    let admin = Dashboard::admin(&app).await;
    let (token, nonce) = form(&admin.browser, "/settings/api-credentials/new").await;

    let held = HeldChange::start(
        &app,
        &admin.browser,
        LIST,
        &token,
        &[("nonce", &nonce), ("name", "Never")],
    )
    .await;
    let (status, answer) = tokio::time::timeout(StdDuration::from_secs(10), HeldChange::answer(held.stream))
        .await
        .expect("answered without waiting for the body");

    assert_eq!(status, 408, "{answer}");
    assert!(answer.contains("took too long to arrive"), "{answer}");
    assert_eq!(live_keys(&app), 0);
    // The page still works for the next request.
    assert!(admin.page().await.contains("API Credentials"));
}

async fn a_password_change_held_open_while_the_account_is_disabled_changes_nothing(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let developer = Dashboard::member(&app, "dev@example.com", Role::Developer).await;
    let token = developer.browser.csrf_token("/account/password").await;
    let new_password = "a completely different passphrase 42";

    let held = HeldChange::start(
        &app,
        &developer.browser,
        "/account/password",
        &token,
        &[
            ("current_password", "member password"),
            ("new_password", new_password),
            ("confirm_password", new_password),
        ],
    )
    .await;
    disable_from_the_cli(&app, "dev@example.com");
    let (status, answer) = held.finish().await;

    assert_eq!(status, 403, "{answer}");
    let email = keyward::domain::Email::parse("dev@example.com").unwrap();
    let user = keyward::db::users::find_by_email(&mut app.db.get().unwrap(), &email)
        .unwrap()
        .unwrap();
    assert!(
        keyward::domain::PasswordHash::verify(
            Some(&keyward::domain::PasswordHash::from_stored(user.password_hash)),
            &keyward::domain::Password::attempt("member password".to_owned()),
        ),
        "the old password still holds"
    );
}

/// The admin on `admin`'s dashboard gives the member `user_id` another role.
async fn give_role(admin: &Dashboard<'_>, user_id: &str, role: &str) {
    let token = admin.browser.csrf_token("/settings/members").await;
    let res = admin
        .browser
        .post_form(
            &format!("/settings/members/{user_id}/role"),
            &[("csrf_token", &token), ("role", role)],
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "the admin makes {user_id} a {role}"
    );
}

/// Disables the account with `email` as an operator would, with `keyward user disable`.
fn disable_from_the_cli(app: &TestApp, email: &str) {
    let output = crate::support::cli::keyward(&app.test_db.url_string())
        .args(["user", "disable", "--email", email])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn developer_id(app: &TestApp) -> String {
    developer_id_of(app, "dev@example.com")
}

fn developer_id_of(app: &TestApp, email: &str) -> String {
    let email = keyward::domain::Email::parse(email).unwrap();
    keyward::db::users::find_by_email(&mut app.db.get().unwrap(), &email)
        .unwrap()
        .unwrap()
        .id
}

db_test!(
    a_generate_held_open_while_the_developer_is_removed_makes_no_key,
    a_demoted_admin_cannot_make_themselves_admin_again_with_a_held_request,
    a_policy_change_held_open_while_the_admin_is_demoted_changes_nothing,
    a_revoke_held_open_while_the_account_is_disabled_from_the_cli_revokes_nothing,
    a_body_that_does_not_arrive_in_time_is_answered_408_and_changes_nothing,
    a_password_change_held_open_while_the_account_is_disabled_changes_nothing,
);
