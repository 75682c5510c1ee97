//! The management API as automation calls it: JSON with a Bearer token.

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::Value;

/// Every management token scope.
pub const ALL_SCOPES: [&str; 6] = [
    "keys:read",
    "keys:write",
    "audit:read",
    "members:read",
    "policy:read",
    "policy:write",
];

/// A client holding one management token.
pub struct ManageApi {
    address: String,
    token: String,
    client: reqwest::Client,
}

/// An answer: its status, headers and JSON body (`Null` when empty).
pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Answer {
    pub async fn of(res: Response) -> Self {
        let status = res.status();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"))
        };
        Self {
            status,
            headers,
            body,
        }
    }

    /// The error code, for an error.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or_default()
    }

    /// Asserts the answer is the error `code` with `status`.
    #[track_caller]
    pub fn assert_error(&self, status: StatusCode, code: &str) {
        assert_eq!((self.status, self.code()), (status, code), "{}", self.body);
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }
}

impl ManageApi {
    pub fn new(address: &str, token: &str) -> Self {
        Self {
            address: address.to_owned(),
            token: token.to_owned(),
            client: reqwest::Client::new(),
        }
    }

    /// A request with the token, for anything the helpers below do not send.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.address))
            .bearer_auth(&self.token)
    }

    pub async fn send(&self, request: RequestBuilder) -> Answer {
        Answer::of(request.send().await.unwrap()).await
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send(self.request(Method::GET, path)).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Answer {
        self.send(self.request(Method::POST, path).json(&body)).await
    }

    /// POST with an `Idempotency-Key`.
    pub async fn post_once(&self, path: &str, key: &str, body: Value) -> Answer {
        let request = self
            .request(Method::POST, path)
            .header("Idempotency-Key", key)
            .json(&body);
        self.send(request).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Answer {
        self.send(self.request(Method::PATCH, path).json(&body)).await
    }

    pub async fn delete(&self, path: &str) -> Answer {
        self.send(self.request(Method::DELETE, path)).await
    }

    /// Creates a key named `name`; returns its ID.
    pub async fn create_key(&self, name: &str) -> String {
        let created = self
            .post("/api/v1/keys", serde_json::json!({ "name": name }))
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        created.body["key"]["id"].as_str().unwrap().to_owned()
    }
}
