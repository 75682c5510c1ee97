//! Test and live keys through the management API and the `key` commands (issue 15): the
//! `environment` field on create and on the key, the list's filter, a duplicate in its
//! source's environment, and the active-key limit counted in each environment apart.

use keyward::domain::{ApiKey, Environment, PolicyPreset, Refusal};
use reqwest::StatusCode;
use serde_json::json;

use super::{key_path, setup};
use crate::db_test;
use crate::support::Backend;
use crate::support::cli::{assert_one_line_error, json_of, key_named, run_key, run_remote, stdout};
use crate::support::tokens::create_token;

db_test!(
    the_api_creates_lists_and_filters_keys_by_environment,
    the_key_commands_take_and_show_the_environment,
);

async fn the_api_creates_lists_and_filters_keys_by_environment(backend: Backend) {
    let Some(s) = setup(backend).await else {
        return;
    };
    s.set_preset(PolicyPreset::SingleKey);
    let live = s.api.post("/api/v1/keys", json!({"name": "Live"})).await;
    assert_eq!(live.status, StatusCode::CREATED, "{}", live.body);
    assert_eq!(live.body["key"]["environment"], "live", "live when left out");
    assert!(live.body["secret"].as_str().unwrap().starts_with("kw_live_"));

    // The live key uses the live limit only.
    let test = s
        .api
        .post("/api/v1/keys", json!({"name": "Sandbox", "environment": "test"}))
        .await;
    assert_eq!(test.status, StatusCode::CREATED, "{}", test.body);
    assert_eq!(test.body["key"]["environment"], "test");
    let secret = ApiKey::parse(test.body["secret"].as_str().unwrap()).unwrap();
    assert_eq!(secret.environment(), Environment::Test);
    assert!(
        test.body["key"]["masked_key"]
            .as_str()
            .unwrap()
            .starts_with("kw_test_")
    );
    let test_id = test.body["key"]["id"].as_str().unwrap().to_owned();

    let more = s
        .api
        .post(
            "/api/v1/keys",
            json!({"name": "Sandbox 2", "environment": "test"}),
        )
        .await;
    let refusal = Refusal::LimitReached { active: 1, max: 1 };
    more.assert_error(StatusCode::CONFLICT, refusal.code());
    assert_eq!(more.body["error"]["message"], refusal.to_string());

    let res = s
        .api
        .post("/api/v1/keys", json!({"name": "Odd", "environment": "staging"}))
        .await;
    res.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    assert_eq!(res.body["error"]["field"], "environment", "{}", res.body);

    // The key resource and the list's filter.
    let read = s.api.get(&key_path(&test_id)).await;
    assert_eq!(read.body["environment"], "test");
    let only_test = s.api.get("/api/v1/keys?environment=test").await;
    assert_eq!(only_test.status, StatusCode::OK);
    let names: Vec<&str> = only_test.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Sandbox"]);
    let both = s.api.get("/api/v1/keys").await;
    assert_eq!(both.body["data"].as_array().unwrap().len(), 2);
    let res = s.api.get("/api/v1/keys?environment=prod").await;
    res.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");

    // A duplicate is in its source's environment; asking for another is refused.
    s.set_preset(PolicyPreset::Standard);
    let path = format!("{}/duplicate", key_path(&test_id));
    let res = s.api.post(&path, json!({"environment": "live"})).await;
    res.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    let copy = s.api.post(&path, json!({})).await;
    assert_eq!(copy.status, StatusCode::CREATED, "{}", copy.body);
    assert_eq!(copy.body["key"]["environment"], "test");
    assert!(copy.body["secret"].as_str().unwrap().starts_with("kw_test_"));
    // And a rotation keeps it.
    let rotated = s
        .api
        .post(&format!("{}/rotate", key_path(&test_id)), json!({"grace": "1h"}))
        .await;
    assert_eq!(rotated.status, StatusCode::CREATED, "{}", rotated.body);
    assert_eq!(rotated.body["key"]["environment"], "test");
    assert!(rotated.body["secret"].as_str().unwrap().starts_with("kw_test_"));
}

async fn the_key_commands_take_and_show_the_environment(backend: Backend) {
    let Some(s) = setup(backend).await else {
        return;
    };
    let url = s.app.test_db.url_string();
    let made = run_key(
        &url,
        &[
            "create",
            "--merchant",
            "Demo Merchant",
            "--name",
            "Local test",
            "--environment",
            "test",
        ],
    );
    assert!(made.status.success(), "{made:?}");
    assert!(stdout(&made).trim().starts_with("kw_test_"), "{}", stdout(&made));
    assert_eq!(key_named(&s.app, "Local test").environment, Environment::Test);
    let made = run_key(
        &url,
        &["create", "--merchant", "Demo Merchant", "--name", "Local live"],
    );
    assert!(stdout(&made).trim().starts_with("kw_live_"), "live when left out");
    assert_one_line_error(
        &run_key(
            &url,
            &[
                "create",
                "--merchant",
                "Demo Merchant",
                "--name",
                "Odd",
                "--environment",
                "prod",
            ],
        ),
        "--environment must be live or test",
    );

    // Remotely, through the management API, as well.
    let token = create_token(&s.app.db, &s.merchant_id, "cli", &["keys:read", "keys:write"]);
    let remote = run_remote(
        &s.app,
        &token,
        &["create", "--name", "Remote test", "--environment", "test"],
    )
    .await;
    assert!(stdout(&remote).trim().starts_with("kw_test_"), "{remote:?}");

    // The list filters by it and its text shows it.
    let listed = run_key(
        &url,
        &["list", "--merchant", "Demo Merchant", "--environment", "test"],
    );
    let text = stdout(&listed);
    assert!(text.lines().next().unwrap().contains("ENV"), "{text}");
    assert!(
        text.contains("Local test") && text.contains("Remote test"),
        "{text}"
    );
    assert!(!text.contains("Local live"), "{text}");
    let row = text.lines().find(|line| line.contains("Local test")).unwrap();
    assert!(row.split_whitespace().any(|word| word == "test"), "{row}");
    let remote_list = run_remote(&s.app, &token, &["list", "--environment", "live", "--json"]).await;
    let page = json_of(&remote_list);
    let names: Vec<&str> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Local live"]);
    let id = key_named(&s.app, "Local test").id;
    let shown = run_key(&url, &["show", id.as_str()]);
    assert!(
        stdout(&shown)
            .lines()
            .any(|line| line.starts_with("Environment") && line.ends_with("test")),
        "{}",
        stdout(&shown)
    );
}
