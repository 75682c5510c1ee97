//! The management API's Audit Log, Key Policy and Members endpoints, the scope each
//! needs, the OpenAPI document that describes every route under `/api/v1`, and
//! `keyward token create`.

mod audit;
mod cli;
mod document;
mod members;
mod policy;
mod scopes;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::support::TestApp;

/// Every scope a management token can carry.
const ALL_SCOPES: [&str; 6] = [
    "keys:read",
    "keys:write",
    "audit:read",
    "members:read",
    "policy:read",
    "policy:write",
];

/// A management API answer: its status and JSON body.
struct Answer {
    status: StatusCode,
    body: Value,
}

impl Answer {
    /// The error code of an error answer.
    fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or_default()
    }

    /// The field an `invalid_field` answer names.
    fn field(&self) -> &str {
        self.body["error"]["field"].as_str().unwrap_or_default()
    }
}

/// `method path` with `Authorization: Bearer token`, and `body` as JSON if any.
async fn call(app: &TestApp, method: Method, path: &str, token: &str, body: Option<&Value>) -> Answer {
    let mut request = reqwest::Client::new()
        .request(method, format!("{}{path}", app.address))
        .bearer_auth(token)
        .header("User-Agent", "deploy-pipeline/2.0");
    if let Some(body) = body {
        request = request.json(body);
    }
    let res = request.send().await.expect("the server answers");
    let status = res.status();
    let text = res.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
    };
    Answer { status, body }
}

/// `GET path` with the token.
async fn get(app: &TestApp, path: &str, token: &str) -> Answer {
    call(app, Method::GET, path, token, None).await
}
