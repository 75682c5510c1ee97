//! Each endpoint asks for its own scope: a token with every other scope is refused with
//! 403, a token with that scope alone is answered.

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::{ALL_SCOPES, call};
use crate::db_test;
use crate::support::tokens::create_token;
use crate::support::{Backend, spawn_app};

db_test!(each_endpoint_needs_its_scope_and_no_other);

async fn each_endpoint_needs_its_scope_and_no_other(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let merchant = app.demo_merchant_id();
    let policy = json!({
        "max_active_keys": 3,
        "default_grace": "24h",
        "name_required": true,
        "revoke_only_disabled": false,
        "delete_only_inactive": true,
        "scopes_editable": true,
        "max_lifetime_days": null,
    });
    let endpoints = [
        (Method::GET, "/api/v1/audit-log", None, "audit:read"),
        (Method::GET, "/api/v1/key-policy", None, "policy:read"),
        (Method::PUT, "/api/v1/key-policy", Some(&policy), "policy:write"),
        (Method::GET, "/api/v1/members", None, "members:read"),
    ];
    for (n, (method, path, body, scope)) in endpoints.into_iter().enumerate() {
        let others: Vec<&str> = ALL_SCOPES.into_iter().filter(|other| *other != scope).collect();
        let without = create_token(&app.db, &merchant, &format!("without {n}"), &others);
        let refused = call(&app, method.clone(), path, &without, body).await;
        assert_eq!(
            refused.status,
            StatusCode::FORBIDDEN,
            "{method} {path} without {scope}"
        );
        assert_eq!(refused.code(), "insufficient_scope", "{method} {path}");
        assert!(
            refused.body["error"]["message"].as_str().unwrap().contains(scope),
            "the refusal names {scope}: {}",
            refused.body
        );
        let only = create_token(&app.db, &merchant, &format!("only {n}"), &[scope]);
        let answered = call(&app, method.clone(), path, &only, body).await;
        assert_eq!(
            answered.status,
            StatusCode::OK,
            "{method} {path} with {scope}: {}",
            answered.body
        );
    }
}
