//! Who may call what: each endpoint's scope, another merchant's keys, API keys and
//! revoked tokens, and each token's request rate.

use keyward::domain::Actor;
use reqwest::{Method, StatusCode};
use serde_json::json;

use super::{key_path, setup, with_token};
use crate::db_test;
use crate::support::manage::{ALL_SCOPES, ManageApi};
use crate::support::tokens::create_token;
use crate::support::{Backend, spawn_app_with};

db_test!(
    every_endpoint_refuses_a_token_without_its_scope,
    another_merchants_key_is_not_found_on_every_endpoint,
    api_keys_never_manage_keys_and_tokens_never_verify,
    a_revoked_token_is_refused_on_its_next_request,
    made_up_tokens_never_lock_a_real_token_out,
    a_token_revoked_while_its_request_is_held_open_changes_nothing,
    a_token_past_its_rate_limit_is_answered_429_with_retry_after,
    the_document_describes_every_key_endpoint_with_its_scope,
);

/// Every key endpoint: method, path (with `{id}` for a key), and the scope it needs.
const ENDPOINTS: [(Method, &str, &str); 15] = [
    (Method::GET, "/api/v1/keys", "keys:read"),
    (Method::POST, "/api/v1/keys", "keys:write"),
    (Method::GET, "/api/v1/keys/{id}", "keys:read"),
    (Method::PATCH, "/api/v1/keys/{id}", "keys:write"),
    (Method::DELETE, "/api/v1/keys/{id}", "keys:write"),
    (Method::POST, "/api/v1/keys/{id}/rotate", "keys:write"),
    (Method::POST, "/api/v1/keys/{id}/duplicate", "keys:write"),
    (Method::POST, "/api/v1/keys/{id}/disable", "keys:write"),
    (Method::POST, "/api/v1/keys/{id}/enable", "keys:write"),
    (Method::POST, "/api/v1/keys/{id}/renew", "keys:write"),
    (Method::POST, "/api/v1/keys/{id}/revoke", "keys:write"),
    (Method::POST, "/api/v1/keys/{id}/reveal", "keys:write"),
    (Method::GET, "/api/v1/keys/{id}/usage", "keys:read"),
    (Method::GET, "/api/v1/keys/{id}/history", "keys:read"),
    (Method::GET, "/api/v1/keys/{id}/requests", "keys:read"),
];

async fn call(api: &ManageApi, method: &Method, path: &str, key_id: &str) -> crate::support::manage::Answer {
    let path = path.replace("{id}", key_id);
    let mut request = api.request(method.clone(), &path);
    if matches!(*method, Method::POST | Method::PATCH) {
        let body = if path == "/api/v1/keys" {
            json!({"name": "Made"})
        } else {
            json!({})
        };
        request = request.json(&body);
    }
    api.send(request).await
}

async fn every_endpoint_refuses_a_token_without_its_scope(backend: Backend) {
    let Some(s) = setup(backend).await else {
        return;
    };
    let key_id = s.api.create_key("Guarded").await;
    let others: Vec<&str> = ALL_SCOPES
        .into_iter()
        .filter(|scope| !scope.starts_with("keys:"))
        .collect();
    let reader = s.client("reader", &["keys:read"]);
    let writer = s.client("writer", &["keys:write"]);
    let neither = s.client("auditor", &others);
    for (method, path, scope) in ENDPOINTS {
        let lacking = if scope == "keys:read" {
            [&writer, &neither]
        } else {
            [&reader, &neither]
        };
        for api in lacking {
            let res = call(api, &method, path, &key_id).await;
            res.assert_error(StatusCode::FORBIDDEN, "insufficient_scope");
            assert!(
                res.body["error"]["message"].as_str().unwrap().contains(scope),
                "{method} {path}: {}",
                res.body
            );
        }
    }
    let key = s.api.get(&key_path(&key_id)).await;
    assert_eq!(key.body["status"], "active", "nothing was changed");
    assert_eq!(s.key_count(), 1, "nothing was made");
    assert_eq!(reader.get("/api/v1/keys").await.status, StatusCode::OK);
}

async fn another_merchants_key_is_not_found_on_every_endpoint(backend: Backend) {
    let Some(s) = setup(backend).await else {
        return;
    };
    let key_id = s.api.create_key("Ours").await;
    let other = s.app.create_merchant("Other Merchant");
    let theirs = ManageApi::new(
        &s.app.address,
        &create_token(&s.app.db, &other, "theirs", &["keys:read", "keys:write"]),
    );
    for (method, path, _) in ENDPOINTS.iter().filter(|(_, path, _)| path.contains("{id}")) {
        let res = call(&theirs, method, path, &key_id).await;
        res.assert_error(StatusCode::NOT_FOUND, "not_found");
    }
    let unknown = keyward::domain::KeyId::generate().to_string();
    s.api
        .get(&key_path(&unknown))
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    s.api
        .get("/api/v1/keys/not-a-uuid")
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    let listed = theirs.get("/api/v1/keys").await;
    assert_eq!(
        listed.body["data"],
        json!([]),
        "a token sees its own merchant only"
    );
    let key = s.api.get(&key_path(&key_id)).await;
    assert_eq!(
        (&key.body["name"], &key.body["status"]),
        (&json!("Ours"), &json!("active"))
    );
}

async fn api_keys_never_manage_keys_and_tokens_never_verify(backend: Backend) {
    let Some(s) = setup(backend).await else {
        return;
    };
    let created = s.api.post("/api/v1/keys", json!({"name": "Plain"})).await;
    let secret = created.body["secret"].as_str().unwrap().to_owned();
    for authorization in [
        format!("Bearer {secret}"),
        format!("ApiKey {secret}"),
        format!("apikey {secret}"),
    ] {
        let res = reqwest::Client::new()
            .get(format!("{}/api/v1/keys", s.app.address))
            .header("Authorization", &authorization)
            .send()
            .await
            .unwrap();
        let answer = crate::support::manage::Answer::of(res).await;
        answer.assert_error(StatusCode::UNAUTHORIZED, "api_key_not_accepted");
    }
    let token = create_token(&s.app.db, &s.merchant_id, "verifier", &ALL_SCOPES);
    for authorization in [format!("ApiKey {token}"), format!("Bearer {token}")] {
        for path in ["/api/v1/whoami", "/api/v1/auth"] {
            let res = s.app.call(path, Some(&authorization)).await;
            assert_eq!(
                res.status(),
                StatusCode::UNAUTHORIZED,
                "{path} with {authorization}"
            );
        }
    }
    let missing = crate::support::manage::Answer::of(
        reqwest::get(format!("{}/api/v1/keys", s.app.address))
            .await
            .unwrap(),
    )
    .await;
    missing.assert_error(StatusCode::UNAUTHORIZED, "missing_token");
    assert_eq!(missing.header("www-authenticate"), Some("Bearer"));

    // A token cut short or mistyped is refused in a token's words, before any read.
    let mut mistyped = token.clone();
    let last = if mistyped.ends_with('A') { "B" } else { "A" };
    mistyped.replace_range(mistyped.len() - 1.., last);
    for (bad, says) in [(mistyped, "checksum"), (token[..30].to_owned(), "54 characters")] {
        let res = reqwest::Client::new()
            .get(format!("{}/api/v1/keys", s.app.address))
            .bearer_auth(&bad)
            .send()
            .await
            .unwrap();
        let answer = crate::support::manage::Answer::of(res).await;
        answer.assert_error(StatusCode::UNAUTHORIZED, "malformed_token");
        let message = answer.body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(says) && !message.contains("kw_live_"),
            "{message}"
        );
    }
}

async fn a_revoked_token_is_refused_on_its_next_request(backend: Backend) {
    let Some(s) = setup(backend).await else {
        return;
    };
    assert_eq!(s.api.get("/api/v1/keys").await.status, StatusCode::OK);
    let mut conn = s.app.db.get().unwrap();
    let token = keyward::db::management_tokens::list(&mut conn, &s.merchant_id)
        .unwrap()
        .into_iter()
        .find(|token| token.name == "deploy")
        .unwrap();
    keyward::service::tokens::revoke(
        &mut conn,
        &s.merchant_id,
        &token.id,
        "REVOKE",
        &Actor::cli(),
        s.app.clock.now(),
    )
    .unwrap();
    drop(conn);
    s.api
        .get("/api/v1/keys")
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "token_revoked");
    let res = s.api.post("/api/v1/keys", json!({"name": "Late"})).await;
    res.assert_error(StatusCode::UNAUTHORIZED, "token_revoked");
    assert_eq!(s.key_count(), 0);
}

async fn a_token_past_its_rate_limit_is_answered_429_with_retry_after(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |settings| settings.token_requests_per_minute = 3).await else {
        return;
    };
    let s = with_token(app);
    for _ in 0..3 {
        assert_eq!(s.api.get("/api/v1/keys").await.status, StatusCode::OK);
    }
    let limited = s.api.post("/api/v1/keys", json!({"name": "Too many"})).await;
    limited.assert_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    let retry_after: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(s.key_count(), 0, "nothing was made");
    let other = s.client("other", &["keys:read"]);
    assert_eq!(
        other.get("/api/v1/keys").await.status,
        StatusCode::OK,
        "each token has its own limit"
    );
}

async fn the_document_describes_every_key_endpoint_with_its_scope(backend: Backend) {
    let Some(s) = setup(backend).await else {
        return;
    };
    let res = reqwest::get(format!("{}/api/v1/openapi.json", s.app.address))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "no token needed");
    let document: serde_json::Value = res.json().await.unwrap();
    assert!(document["openapi"].as_str().unwrap().starts_with("3.1"));
    for (method, path, scope) in ENDPOINTS {
        let path = path.replace("{id}", "{key_id}");
        let operation = &document["paths"][&path][method.as_str().to_lowercase()];
        assert_eq!(operation["tags"], json!(["Keys"]), "{method} {path}");
        assert_eq!(
            operation["security"],
            json!([{ "management_token": [scope] }]),
            "{method} {path}"
        );
        let responses = operation["responses"].as_object().unwrap();
        for status in ["401", "403", "429"] {
            assert!(
                responses.contains_key(status),
                "{method} {path} documents {status}"
            );
        }
        if method != Method::GET {
            assert!(responses.contains_key("409"), "{method} {path} documents 409");
        }
    }
    let documented: usize = document["paths"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(path, _)| path.starts_with("/api/v1/keys"))
        .map(|(_, operations)| operations.as_object().unwrap().len())
        .sum();
    assert_eq!(
        documented,
        ENDPOINTS.len(),
        "no key operation undocumented or extra"
    );
}

async fn made_up_tokens_never_lock_a_real_token_out(backend: Backend) {
    let Some(s) = setup(backend).await else {
        return;
    };
    let client = reqwest::Client::new();
    let mut statuses = Vec::new();
    for _ in 0..70 {
        let made_up = keyward::domain::ManagementToken::generate();
        let res = client
            .get(format!("{}/api/v1/keys", s.app.address))
            .bearer_auth(made_up.expose())
            .send()
            .await
            .unwrap();
        statuses.push(res.status());
    }
    assert_eq!(statuses[0], StatusCode::UNAUTHORIZED);
    assert_eq!(
        statuses.last(),
        Some(&StatusCode::TOO_MANY_REQUESTS),
        "made-up tokens past the address's budget"
    );
    assert_eq!(
        s.api.get("/api/v1/keys").await.status,
        StatusCode::OK,
        "the real token from the same address still works"
    );
}

async fn a_token_revoked_while_its_request_is_held_open_changes_nothing(backend: Backend) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let Some(s) = setup(backend).await else {
        return;
    };
    let id = s.api.create_key("Held").await;
    let token = create_token(&s.app.db, &s.merchant_id, "held", &["keys:write"]);
    let host = s.app.address.trim_start_matches("http://").to_owned();
    let body = r#"{"name": "Renamed"}"#;
    let mut stream = tokio::net::TcpStream::connect(&host).await.unwrap();
    let head = format!(
        "PATCH /api/v1/keys/{id} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // The token is read when the headers arrive; the body is still to come.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let mut conn = s.app.db.get().unwrap();
    let held = keyward::db::management_tokens::list(&mut conn, &s.merchant_id)
        .unwrap()
        .into_iter()
        .find(|token| token.name == "held")
        .unwrap();
    keyward::service::tokens::revoke(
        &mut conn,
        &s.merchant_id,
        &held.id,
        "REVOKE",
        &Actor::cli(),
        s.app.clock.now(),
    )
    .unwrap();
    drop(conn);
    stream.write_all(body.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    assert!(answer.contains("not_permitted"), "{answer}");
    assert_eq!(
        s.api.get(&key_path(&id)).await.body["name"],
        "Held",
        "the change was checked again where it commits"
    );
}
