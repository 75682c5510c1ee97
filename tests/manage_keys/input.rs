//! Input the API refuses before anything changes: invalid fields (named), unknown
//! fields, bodies too large or not JSON.

use reqwest::StatusCode;
use serde_json::json;

use super::{key_path, setup};
use crate::db_test;
use crate::support::Backend;

db_test!(
    invalid_fields_are_422_naming_the_field,
    bodies_over_64_kb_are_413_and_forms_are_415,
    a_method_an_api_address_does_not_serve_is_405_in_json,
);

async fn invalid_fields_are_422_naming_the_field(backend: Backend) {
    let Some(s) = setup(backend).await else {
        return;
    };
    let id = s.api.create_key("Existing").await;
    let patch = key_path(&id);
    let rotate = format!("{patch}/rotate");
    let cases = [
        ("/api/v1/keys", json!({"name": ""}), "name"),
        ("/api/v1/keys", json!({"name": "tab\there"}), "name"),
        ("/api/v1/keys", json!({"name": "x".repeat(101)}), "name"),
        ("/api/v1/keys", json!({"name": "Existing"}), ""),
        (
            "/api/v1/keys",
            json!({"name": "A", "scopes": ["orders:read", "everything"]}),
            "scopes",
        ),
        ("/api/v1/keys", json!({"name": "A", "nmae": "typo"}), "nmae"),
        (
            "/api/v1/keys",
            json!({"name": "A", "expires_in_days": 30, "expires_on": "2030-01-01"}),
            "expires_on",
        ),
        (
            "/api/v1/keys",
            json!({"name": "A", "expires_in_days": 0}),
            "expires_in_days",
        ),
        (
            "/api/v1/keys",
            json!({"name": "A", "rate_limit_per_minute": "fast"}),
            "rate_limit_per_minute",
        ),
        (
            "/api/v1/keys",
            json!({"name": "A", "rate_limit_per_minute": 0}),
            "rate_limit_per_minute",
        ),
        (
            "/api/v1/keys",
            json!({"name": "A", "description": "d".repeat(501)}),
            "description",
        ),
        (rotate.as_str(), json!({"grace": "2h"}), "grace"),
        (rotate.as_str(), json!({"grace": "1h", "force": true}), "force"),
    ];
    for (path, body, field) in cases {
        let res = s.api.post(path, body.clone()).await;
        if field.is_empty() {
            res.assert_error(StatusCode::CONFLICT, "name_taken");
            continue;
        }
        res.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
        assert_eq!(res.body["error"]["field"], field, "{path} {body}");
    }
    for (body, field) in [
        (json!({"scopes": ["nope"]}), "scopes"),
        (json!({"name": "  "}), "name"),
        (json!({"rate_limit_per_minute": -1}), "rate_limit_per_minute"),
        (json!({"expires_on": 20300101}), "expires_on"),
        (json!({"lifetime_days": 5}), "lifetime_days"),
    ] {
        let res = s.api.patch(&patch, body.clone()).await;
        res.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
        assert_eq!(res.body["error"]["field"], field, "{body}");
    }
    let res = s
        .api
        .post(&format!("{patch}/disable"), json!({"confirm": true}))
        .await;
    assert_eq!(res.body["error"]["field"], "confirm", "actions take no fields");
    let res = s
        .api
        .send(
            s.api
                .request(reqwest::Method::POST, "/api/v1/keys")
                .header("Content-Type", "application/json")
                .body("{\"name\": "),
        )
        .await;
    res.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    assert_eq!(s.key_count(), 1, "nothing was made");
    let key = s.api.get(&patch).await;
    assert_eq!(
        (&key.body["name"], &key.body["status"]),
        (&json!("Existing"), &json!("active"))
    );
}

async fn bodies_over_64_kb_are_413_and_forms_are_415(backend: Backend) {
    let Some(s) = setup(backend).await else {
        return;
    };
    let big = json!({"name": "Big", "description": "x".repeat(65 * 1024)});
    s.api
        .post("/api/v1/keys", big)
        .await
        .assert_error(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large");
    let form = s
        .api
        .send(
            s.api
                .request(reqwest::Method::POST, "/api/v1/keys")
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body("name=Form"),
        )
        .await;
    form.assert_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    assert_eq!(s.key_count(), 0);
}

async fn a_method_an_api_address_does_not_serve_is_405_in_json(backend: Backend) {
    let Some(s) = setup(backend).await else {
        return;
    };
    for (method, path) in [
        (reqwest::Method::PUT, "/api/v1/keys".to_owned()),
        (
            reqwest::Method::GET,
            format!("{}/rotate", key_path(&s.api.create_key("Only").await)),
        ),
        (reqwest::Method::POST, "/api/v1/whoami".to_owned()),
        (reqwest::Method::DELETE, "/api/v1/key-policy".to_owned()),
        (reqwest::Method::POST, "/api/v1/openapi.json".to_owned()),
    ] {
        let answer = s.api.send(s.api.request(method.clone(), &path)).await;
        assert_eq!(
            (answer.status, answer.code()),
            (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            "{method} {path}"
        );
        assert!(
            answer.header("allow").is_some(),
            "{method} {path} names what it allows"
        );
    }
}
