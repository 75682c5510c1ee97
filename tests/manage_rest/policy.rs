//! `GET` and `PUT /api/v1/key-policy`: the policy as the dashboard keeps it, replaced
//! through the same service, refused field by field, and recorded by the token.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{call, get};
use crate::db_test;
use crate::support::dashboard::Dashboard;
use crate::support::tokens::create_token;
use crate::support::{Backend, TestApp, spawn_app};

db_test!(
    a_token_reads_and_replaces_the_policy_and_the_audit_log_names_it,
    a_token_without_policy_write_changes_nothing,
    invalid_policies_are_refused_naming_the_field,
);

fn strict() -> Value {
    json!({
        "max_active_keys": 2,
        "default_grace": "7d",
        "name_required": false,
        "revoke_only_disabled": true,
        "delete_only_inactive": false,
        "scopes_editable": false,
        "max_lifetime_days": 90,
        "test_keys_revealable": true,
    })
}

fn policy_events(app: &TestApp) -> i64 {
    app.count("SELECT COUNT(*) AS n FROM key_events WHERE event_type = 'policy_changed'")
}

async fn a_token_reads_and_replaces_the_policy_and_the_audit_log_names_it(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let token = create_token(
        &app.db,
        &app.demo_merchant_id(),
        "deploy",
        &["policy:read", "policy:write", "audit:read"],
    );
    let current = get(&app, "/api/v1/key-policy", &token).await;
    assert_eq!(current.status, StatusCode::OK);
    assert_eq!(
        current.body,
        json!({
            "max_active_keys": 5,
            "default_grace": "3d",
            "name_required": true,
            "revoke_only_disabled": false,
            "delete_only_inactive": true,
            "scopes_editable": true,
            "max_lifetime_days": null,
            "test_keys_revealable": false,
        }),
        "the Standard preset, as a new merchant has it"
    );

    let saved = call(&app, Method::PUT, "/api/v1/key-policy", &token, Some(&strict())).await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    assert_eq!(saved.body, strict());
    assert_eq!(get(&app, "/api/v1/key-policy", &token).await.body, strict());
    let stored = {
        let mut conn = app.db.get().unwrap();
        keyward::db::key_policies::get(&mut conn, &app.demo_merchant_id()).unwrap()
    };
    assert_eq!(stored.max_active_keys, 2);
    assert_eq!(stored.max_lifetime_days, Some(90));
    assert!(stored.revoke_only_disabled && !stored.scopes_editable && stored.test_keys_revealable);

    let events = get(&app, "/api/v1/audit-log?event_type=policy_changed", &token).await;
    assert_eq!(events.status, StatusCode::OK);
    let data = events.body["data"].as_array().unwrap();
    assert_eq!(data.len(), 1, "{}", events.body);
    let event = &data[0];
    assert_eq!(event["type"], "policy_changed");
    assert_eq!(event["label"], "Key policy changed");
    assert_eq!(event["key_id"], Value::Null);
    assert_eq!(
        event["actor"],
        json!({"type": "token", "id": event["actor"]["id"].as_str().unwrap(), "name": "token deploy", "detail": "created by cli"})
    );
    assert_eq!(event["client_address"], "127.0.0.1");
    assert_eq!(event["user_agent"], "deploy-pipeline/2.0");
    assert_eq!(event["details"]["before"]["max_active_keys"], 5);
    assert_eq!(event["details"]["after"]["max_active_keys"], 2);
    assert_eq!(event["details"]["after"]["default_grace"], "7d");

    let admin = Dashboard::admin(&app).await;
    let page = admin
        .browser
        .html("/settings/audit-log?type=policy_changed")
        .await;
    assert!(
        page.contains("token deploy") && page.contains("Key policy changed"),
        "the dashboard's Audit Log names the token: {page}"
    );
    let form = admin.browser.html("/settings/key-policy").await;
    assert!(
        form.contains(r#"name="max_active_keys" type="number" min="1" max="100" required value="2""#),
        "the Key Policy page shows what the token saved"
    );
}

async fn a_token_without_policy_write_changes_nothing(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let reader = create_token(
        &app.db,
        &app.demo_merchant_id(),
        "reader",
        &["policy:read", "keys:write", "audit:read"],
    );
    let before = get(&app, "/api/v1/key-policy", &reader).await.body;
    let events = policy_events(&app);
    let refused = call(&app, Method::PUT, "/api/v1/key-policy", &reader, Some(&strict())).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.code(), "insufficient_scope");
    assert_eq!(get(&app, "/api/v1/key-policy", &reader).await.body, before);
    assert_eq!(policy_events(&app), events, "no history for a refused change");
}

async fn invalid_policies_are_refused_naming_the_field(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let token = create_token(
        &app.db,
        &app.demo_merchant_id(),
        "deploy",
        &["policy:read", "policy:write"],
    );
    let before = get(&app, "/api/v1/key-policy", &token).await.body;
    let events = policy_events(&app);
    let with = |field: &str, value: Value| {
        let mut body = strict();
        body[field] = value;
        body
    };
    let without = |field: &str| {
        let mut body = strict();
        body.as_object_mut().unwrap().remove(field);
        body
    };
    let cases = [
        (with("max_active_keys", json!(0)), "max_active_keys"),
        (with("max_active_keys", json!(101)), "max_active_keys"),
        (with("max_active_keys", json!(-1)), "max_active_keys"),
        (with("max_active_keys", json!(2.5)), "max_active_keys"),
        (with("max_active_keys", json!("5")), "max_active_keys"),
        (
            with("max_active_keys", json!(4_294_967_297_u64)),
            "max_active_keys",
        ),
        (with("default_grace", json!("2d")), "default_grace"),
        (with("default_grace", json!(3)), "default_grace"),
        (with("default_grace", Value::Null), "default_grace"),
        (with("name_required", json!("yes")), "name_required"),
        (with("revoke_only_disabled", json!(1)), "revoke_only_disabled"),
        (with("delete_only_inactive", Value::Null), "delete_only_inactive"),
        (with("scopes_editable", json!([])), "scopes_editable"),
        (with("max_lifetime_days", json!(0)), "max_lifetime_days"),
        (with("max_lifetime_days", json!(3651)), "max_lifetime_days"),
        (with("max_lifetime_days", json!("90")), "max_lifetime_days"),
        (with("test_keys_revealable", json!("yes")), "test_keys_revealable"),
        (with("preset", json!("standard")), "preset"),
        (without("scopes_editable"), "scopes_editable"),
        (without("max_lifetime_days"), "max_lifetime_days"),
    ];
    for (body, field) in cases {
        let refused = call(&app, Method::PUT, "/api/v1/key-policy", &token, Some(&body)).await;
        assert_eq!(
            refused.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            refused.body
        );
        assert_eq!(refused.code(), "invalid_field", "{body}");
        assert_eq!(refused.field(), field, "{body}: {}", refused.body);
    }
    let not_json = reqwest::Client::new()
        .put(format!("{}/api/v1/key-policy", app.address))
        .bearer_auth(&token)
        .form(&[("max_active_keys", "2")])
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(get(&app, "/api/v1/key-policy", &token).await.body, before);
    assert_eq!(policy_events(&app), events, "nothing refused was recorded");
}
