//! One rule, one answer: each rule about keys is set up, then the refused action is
//! attempted on the dashboard page, with the local CLI and through the management API,
//! and each refuses it with the same rule and the same message.

use std::process::Output;

use keyward::domain::{KeyPolicy, PolicyPreset, Refusal};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::db_test;
use crate::support::cli::keyward;
use crate::support::dashboard::{Dashboard, LIST};
use crate::support::manage::{Answer, ManageApi};
use crate::support::tokens::create_token;
use crate::support::{Backend, TestApp, spawn_app};

db_test!(
    active_key_limit,
    rotation_in_progress,
    must_disable_first,
    key_revoked,
    scopes_fixed,
    must_deactivate_first,
    no_lifetime,
);

/// How the page is asked.
enum Page {
    /// The action's form opened: refused before any form is shown.
    Open(String),
    /// The action sent (`key id`, action, fields).
    Send(String, &'static str, Vec<(&'static str, &'static str)>),
}

/// The situation a rule refuses, and the same action as each surface asks for it.
struct Attempt {
    refusal: Refusal,
    page: Page,
    cli: Vec<String>,
    api: (Method, String, Value),
}

struct World<'a> {
    app: &'a TestApp,
    dash: Dashboard<'a>,
    api: ManageApi,
}

impl World<'_> {
    fn set_policy(&self, policy: &KeyPolicy) {
        keyward::service::policy::set_policy(
            &mut self.app.db.get().unwrap(),
            &self.dash.merchant_id,
            policy,
            &keyward::domain::Actor::cli(),
            self.app.clock.now(),
        )
        .unwrap();
    }

    async fn key(&self, body: Value) -> String {
        let created = self.api.post("/api/v1/keys", body).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        created.body["key"]["id"].as_str().unwrap().to_owned()
    }
}

fn key_path(key_id: &str) -> String {
    format!("/api/v1/keys/{key_id}")
}

fn cli(args: &[&str]) -> Vec<String> {
    args.iter().map(|arg| (*arg).to_owned()).collect()
}

/// The page's text as a reader sees it.
fn unescaped(html: &str) -> String {
    html.replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

async fn arrange(world: &World<'_>, rule: &str) -> Attempt {
    match rule {
        "active_key_limit" => {
            world.set_policy(&PolicyPreset::SingleKey.policy());
            world.key(json!({"name": "Only"})).await;
            Attempt {
                refusal: Refusal::LimitReached { active: 1, max: 1 },
                page: Page::Open(format!("{LIST}/new")),
                cli: cli(&["create", "--merchant", "Demo Merchant", "--name", "Second"]),
                api: (Method::POST, "/api/v1/keys".to_owned(), json!({"name": "Second"})),
            }
        }
        "rotation_in_progress" => {
            let first = world.key(json!({"name": "Rolling"})).await;
            let rotated = world
                .api
                .post(&format!("{}/rotate", key_path(&first)), json!({"grace": "24h"}))
                .await;
            let id = rotated.body["key"]["id"].as_str().unwrap().to_owned();
            Attempt {
                refusal: Refusal::RotationInGrace,
                page: Page::Open(format!("{LIST}/{id}/rotate")),
                cli: cli(&["rotate", &id, "--grace", "1h"]),
                api: (
                    Method::POST,
                    format!("{}/rotate", key_path(&id)),
                    json!({"grace": "1h"}),
                ),
            }
        }
        "must_disable_first" => {
            world.set_policy(&PolicyPreset::StrictLifecycle.policy());
            let id = world.key(json!({"name": "Strict"})).await;
            Attempt {
                refusal: Refusal::RevokeNeedsDisabled,
                page: Page::Open(format!("{LIST}/{id}/revoke")),
                cli: cli(&["revoke", &id]),
                api: (Method::POST, format!("{}/revoke", key_path(&id)), json!({})),
            }
        }
        "scopes_fixed" => {
            world.set_policy(&PolicyPreset::StrictLifecycle.policy());
            let id = world
                .key(json!({"name": "Fixed", "scopes": ["orders:read"]}))
                .await;
            Attempt {
                refusal: Refusal::ScopesFixed,
                page: Page::Send(
                    id.clone(),
                    "edit",
                    vec![("name", "Fixed"), ("scopes", "orders:write")],
                ),
                cli: cli(&["edit", &id, "--scope", "orders:write"]),
                api: (Method::PATCH, key_path(&id), json!({"scopes": ["orders:write"]})),
            }
        }
        "key_revoked" => {
            let id = world.key(json!({"name": "Gone"})).await;
            let revoked = world
                .api
                .post(&format!("{}/revoke", key_path(&id)), json!({}))
                .await;
            assert_eq!(revoked.status, StatusCode::OK);
            Attempt {
                refusal: Refusal::Revoked,
                page: Page::Send(id.clone(), "disable", Vec::new()),
                cli: cli(&["disable", &id]),
                api: (Method::POST, format!("{}/disable", key_path(&id)), json!({})),
            }
        }
        "must_deactivate_first" => {
            let id = world.key(json!({"name": "Working"})).await;
            Attempt {
                refusal: Refusal::DeleteNeedsInactive,
                page: Page::Open(format!("{LIST}/{id}/delete")),
                cli: cli(&["delete", &id]),
                api: (Method::DELETE, key_path(&id), Value::Null),
            }
        }
        "no_lifetime" => {
            let id = world.key(json!({"name": "Forever"})).await;
            Attempt {
                refusal: Refusal::NoLifetime,
                page: Page::Send(id.clone(), "renew", Vec::new()),
                cli: cli(&["renew", &id]),
                api: (Method::POST, format!("{}/renew", key_path(&id)), json!({})),
            }
        }
        other => panic!("no situation for {other}"),
    }
}

/// Sets up `rule`'s situation and checks that the page, the CLI and the API refuse the
/// action with it, and that none of them changed anything.
async fn same_refusal(backend: Backend, rule: &str) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let dash = Dashboard::admin(&app).await;
    let token = create_token(
        &app.db,
        &dash.merchant_id,
        "everywhere",
        &["keys:read", "keys:write"],
    );
    let world = World {
        api: ManageApi::new(&app.address, &token),
        dash,
        app: &app,
    };
    let attempt = arrange(&world, rule).await;
    assert_eq!(attempt.refusal.code(), rule, "the case sets up the rule it names");
    let message = attempt.refusal.to_string();
    let before = world.dash.keys();

    let (status, html) = match &attempt.page {
        Page::Open(path) => {
            let res = world.dash.browser.get(path).await;
            (res.status(), res.text().await.unwrap())
        }
        Page::Send(id, action, fields) => {
            let res = world.dash.act(id, action, fields).await;
            (res.status(), res.text().await.unwrap())
        }
    };
    assert_eq!(status, StatusCode::CONFLICT, "page: {rule}");
    assert!(
        unescaped(&html).contains(&message),
        "page: {message:?} not in {html}"
    );

    let output: Output = keyward(&app.test_db.url_string())
        .env("KEYWARD_SECRET", "test-secret-".repeat(8))
        .arg("key")
        .args(&attempt.cli)
        .output()
        .expect("the binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "cli: {rule} succeeded");
    assert!(stderr.contains(&message), "cli: {message:?} not in {stderr}");

    let (method, path, body) = attempt.api;
    let mut request = world.api.request(method, &path);
    if !body.is_null() {
        request = request.json(&body);
    }
    let answer: Answer = world.api.send(request).await;
    answer.assert_error(StatusCode::CONFLICT, rule);
    assert_eq!(answer.body["error"]["message"], message, "api: {rule}");

    let after = world.dash.keys();
    let summary = |rows: &[keyward::db::keys::KeyRow]| -> Vec<String> {
        rows.iter()
            .map(|row| {
                format!(
                    "{} {} {:?} {}",
                    row.id,
                    row.name,
                    row.status,
                    row.scopes.to_stored()
                )
            })
            .collect()
    };
    assert_eq!(summary(&after), summary(&before), "nothing changed: {rule}");
}

async fn active_key_limit(backend: Backend) {
    same_refusal(backend, "active_key_limit").await;
}

async fn rotation_in_progress(backend: Backend) {
    same_refusal(backend, "rotation_in_progress").await;
}

async fn must_disable_first(backend: Backend) {
    same_refusal(backend, "must_disable_first").await;
}

async fn scopes_fixed(backend: Backend) {
    same_refusal(backend, "scopes_fixed").await;
}

async fn key_revoked(backend: Backend) {
    same_refusal(backend, "key_revoked").await;
}

async fn must_deactivate_first(backend: Backend) {
    same_refusal(backend, "must_deactivate_first").await;
}

async fn no_lifetime(backend: Backend) {
    same_refusal(backend, "no_lifetime").await;
}
