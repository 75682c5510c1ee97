//! The Key Policy's "Test keys can be revealed again" (issue 15): off by default; when an
//! admin turns it on, a test key's card offers Reveal to those who may manage keys, which
//! shows the key once more (no-store) and records it in the key's history. Live keys are
//! never revealed again, and neither page nor API offers what the rule refuses.

use reqwest::StatusCode;
use serde_json::json;

use crate::db_test;
use crate::support::dashboard::{Dashboard, LIST, assert_message, revealed_key};
use crate::support::manage::ManageApi;
use crate::support::tokens::create_token;
use crate::support::{Backend, spawn_app};

db_test!(a_test_key_is_revealed_again_only_where_the_policy_allows_it);

const TEST_LIST: &str = "/settings/api-credentials?environment=test";
const REVEAL_BUTTON: &str = r#"class="button" data-opens-modal>Reveal</button>"#;

async fn a_test_key_is_revealed_again_only_where_the_policy_allows_it(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let dash = Dashboard::admin(&app).await;
    dash.generate_ok("Live").await;
    let res = dash
        .submit(
            "/settings/api-credentials/new?environment=test",
            LIST,
            &[("name", "Sandbox"), ("environment", "test")],
        )
        .await;
    let test = revealed_key(&res.text().await.unwrap());
    let (live_row, test_row) = (dash.key_named("Live"), dash.key_named("Sandbox"));
    assert!(live_row.sealed_secret.is_none(), "live keys are never sealed");
    let sealed = test_row.sealed_secret.clone().expect("a test key is sealed");
    assert!(!sealed.contains(&test[8..]), "sealed, not stored");
    let reveal = |id: &str| format!("{LIST}/{id}/reveal");
    let post_reveal = |id: String| {
        let browser = &dash.browser;
        async move {
            let token = browser.csrf_token(TEST_LIST).await;
            browser.post_form(&reveal(&id), &[("csrf_token", &token)]).await
        }
    };

    // Off by default: nothing offers it, and asking anyway is refused with the rule.
    let tab = dash.browser.html(TEST_LIST).await;
    assert!(!tab.contains(REVEAL_BUTTON), "{tab}");
    let res = post_reveal(test_row.id.to_string()).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let html = res.text().await.unwrap();
    assert!(
        html.contains("does not let test keys be revealed again"),
        "{html}"
    );
    assert!(!html.contains(&test));
    let policy_page = dash.browser.html("/settings/key-policy").await;
    assert!(
        policy_page.contains(r#"name="test_keys_revealable" value="yes">"#),
        "unticked: {policy_page}"
    );

    // An admin turns it on under Key Policy.
    let token = dash.browser.csrf_token("/settings/key-policy").await;
    let res = dash
        .browser
        .post_form(
            "/settings/key-policy",
            &[
                ("csrf_token", token.as_str()),
                ("max_active_keys", "5"),
                ("default_grace", "3d"),
                ("name_required", "yes"),
                ("delete_only_inactive", "yes"),
                ("scopes_editable", "yes"),
                ("test_keys_revealable", "yes"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let policy_page = dash.browser.html("/settings/key-policy").await;
    assert!(policy_page.contains(r#"name="test_keys_revealable" value="yes" checked>"#));
    let audit = dash.browser.html("/settings/audit-log").await;
    assert!(audit.contains("test keys revealable: no → yes"), "{audit}");

    // The test key's card offers Reveal, the live key's does not.
    let tab = dash.browser.html(TEST_LIST).await;
    assert!(tab.contains(REVEAL_BUTTON), "{tab}");
    assert!(tab.contains(&format!(r#"action="{}""#, reveal(test_row.id.as_str()))));
    assert!(!dash.page().await.contains(REVEAL_BUTTON));
    let detail = dash.browser.html(&format!("{LIST}/{}", test_row.id)).await;
    assert!(detail.contains(REVEAL_BUTTON), "the key's page offers it too");

    let res = post_reveal(test_row.id.to_string()).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let html = res.text().await.unwrap();
    assert_eq!(revealed_key(&html), test);
    assert!(html.contains("Copy"), "{html}");
    let events = dash.events(&test_row.id);
    assert_eq!(
        events.iter().filter(|event| *event == "revealed").count(),
        2,
        "{events:?}"
    );
    let history = dash.browser.html(&format!("{LIST}/{}", test_row.id)).await;
    assert!(history.contains("the test key was shown again"), "{history}");

    // A live key never is, and a POST without the CSRF token changes nothing.
    let res = post_reveal(live_row.id.to_string()).await;
    assert_message(res, StatusCode::CONFLICT, "A live key is shown only once").await;
    let res = dash.browser.post_form(&reveal(test_row.id.as_str()), &[]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(dash.events(&test_row.id).len(), events.len());

    // Someone who only reads is offered nothing and refused.
    let viewer = Dashboard::member(&app, "vera@example.com", keyward::domain::Role::Viewer).await;
    assert!(!viewer.browser.html(TEST_LIST).await.contains(REVEAL_BUTTON));
    let token = viewer.browser.csrf_token(TEST_LIST).await;
    let res = viewer
        .browser
        .post_form(&reveal(test_row.id.as_str()), &[("csrf_token", &token)])
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    // The management API: the policy's setting, and the same rule on its reveal.
    let token = create_token(
        &app.db,
        &dash.merchant_id,
        "ops",
        &["keys:read", "keys:write", "policy:read"],
    );
    let api = ManageApi::new(&app.address, &token);
    assert_eq!(
        api.get("/api/v1/key-policy").await.body["test_keys_revealable"],
        true
    );
    let res = api
        .post(&format!("/api/v1/keys/{}/reveal", test_row.id), json!({}))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.header("cache-control"), Some("no-store"));
    assert_eq!(res.body["secret"], test.as_str());
    assert_eq!(res.body["key"]["environment"], "test");
    let res = api
        .post(&format!("/api/v1/keys/{}/reveal", live_row.id), json!({}))
        .await;
    res.assert_error(StatusCode::CONFLICT, "live_key_not_revealable");
    let reader = ManageApi::new(
        &app.address,
        &create_token(&app.db, &dash.merchant_id, "reader", &["keys:read"]),
    );
    let res = reader
        .post(&format!("/api/v1/keys/{}/reveal", test_row.id), json!({}))
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);

    // Turned off again, the API refuses as the page does.
    dash.set_policy("standard").await;
    let res = api
        .post(&format!("/api/v1/keys/{}/reveal", test_row.id), json!({}))
        .await;
    res.assert_error(StatusCode::CONFLICT, "reveal_not_allowed");
    assert!(!dash.browser.html(TEST_LIST).await.contains(REVEAL_BUTTON));
}
