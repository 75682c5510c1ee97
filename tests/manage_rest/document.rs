//! `GET /api/v1/openapi.json`: an OpenAPI 3.1 document that lists every route under
//! `/api/v1`. The routes the code registers are read from its source, so a handler added
//! without `#[utoipa::path]` (or a route left out of this list) fails here.

use std::collections::BTreeSet;
use std::path::Path;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::db_test;
use crate::support::{Backend, spawn_app};

db_test!(the_document_is_openapi_3_1_and_lists_every_route_under_api_v1);

/// Every route under `/api/v1`, as (method, path in the document's form).
const ROUTES: [(&str, &str); 23] = [
    ("get", "/api/v1/audit-log"),
    ("get", "/api/v1/auth"),
    ("get", "/api/v1/key-policy"),
    ("put", "/api/v1/key-policy"),
    ("get", "/api/v1/keys"),
    ("post", "/api/v1/keys"),
    ("get", "/api/v1/keys/{key_id}"),
    ("patch", "/api/v1/keys/{key_id}"),
    ("delete", "/api/v1/keys/{key_id}"),
    ("post", "/api/v1/keys/{key_id}/disable"),
    ("post", "/api/v1/keys/{key_id}/duplicate"),
    ("post", "/api/v1/keys/{key_id}/enable"),
    ("get", "/api/v1/keys/{key_id}/history"),
    ("post", "/api/v1/keys/{key_id}/renew"),
    ("get", "/api/v1/keys/{key_id}/requests"),
    ("post", "/api/v1/keys/{key_id}/reveal"),
    ("post", "/api/v1/keys/{key_id}/revoke"),
    ("post", "/api/v1/keys/{key_id}/rotate"),
    ("get", "/api/v1/keys/{key_id}/usage"),
    ("get", "/api/v1/members"),
    ("get", "/api/v1/openapi.json"),
    ("get", "/api/v1/requests/{request_id}"),
    ("get", "/api/v1/whoami"),
];

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

fn expected() -> BTreeSet<(String, String)> {
    ROUTES
        .iter()
        .map(|(method, path)| ((*method).to_owned(), (*path).to_owned()))
        .collect()
}

fn documented(document: &Value) -> BTreeSet<(String, String)> {
    let mut routes = BTreeSet::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            assert!(METHODS.contains(&method.as_str()), "{path}: {method}");
            routes.insert((method.clone(), path.clone()));
        }
    }
    routes
}

fn rust_files(dir: &Path, files: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, files);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(std::fs::read_to_string(&path).unwrap());
        }
    }
}

/// The routes `src/api` registers: each `route("…"` or `resource("…")` names a path (under
/// the `/api/v1` scope unless it is spelled whole), and each `web::get()`, `web::post()`…
/// after it, up to the next path, a method on it.
fn registered() -> BTreeSet<(String, String)> {
    let mut files = Vec::new();
    rust_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src/api"), &mut files);
    let mut routes = BTreeSet::new();
    for source in files {
        let mut marks: Vec<(usize, Mark)> = Vec::new();
        for opener in ["route(\"", "resource(\""] {
            for (at, _) in source.match_indices(opener) {
                let rest = &source[at + opener.len()..];
                let path = &rest[..rest.find('"').unwrap()];
                marks.push((at, Mark::Path(path.to_owned())));
            }
        }
        for method in METHODS {
            for (at, _) in source.match_indices(&format!("web::{method}()")) {
                marks.push((at, Mark::Method(method)));
            }
        }
        marks.sort_by_key(|(at, _)| *at);
        let mut current: Option<String> = None;
        for (_, mark) in marks {
            match mark {
                Mark::Path(path) if path.starts_with("/api/v1/") => current = Some(path),
                Mark::Path(path) => current = Some(format!("/api/v1{path}")),
                Mark::Method(method) => {
                    let path = current.clone().expect("a method after a path");
                    routes.insert((method.to_owned(), path));
                }
            }
        }
    }
    routes
}

enum Mark {
    Path(String),
    Method(&'static str),
}

async fn the_document_is_openapi_3_1_and_lists_every_route_under_api_v1(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let res = reqwest::get(format!("{}/api/v1/openapi.json", app.address))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "no token needed");
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let document: Value = res.json().await.unwrap();
    assert!(
        document["openapi"].as_str().unwrap().starts_with("3.1."),
        "{}",
        document["openapi"]
    );

    assert_eq!(documented(&document), expected(), "the document's routes");
    assert_eq!(
        registered(),
        expected(),
        "the routes registered in src/api (a route here but not in the document has no #[utoipa::path])"
    );

    // utoipa names a schema after its type and keeps one per name: two types of one name
    // (a key's logged request, a request explained) once described both as one.
    let schemas = &document["components"]["schemas"];
    assert!(
        schemas["LoggedRequest"]["properties"]["count"].is_object(),
        "{}",
        schemas["LoggedRequest"]
    );
    assert!(
        schemas["ExplainedRequest"]["properties"]["explanation"].is_object(),
        "{}",
        schemas["ExplainedRequest"]
    );

    let schemes = &document["components"]["securitySchemes"];
    assert_eq!(schemes["management_token"]["type"], "http");
    assert_eq!(schemes["management_token"]["scheme"], "bearer");
    assert_eq!(schemes["api_key"]["type"], "apiKey");
    assert_eq!(schemes["api_key"]["in"], "header");
    assert_eq!(schemes["api_key"]["name"], "Authorization");
    let tags: BTreeSet<&str> = document["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tag| tag["name"].as_str().unwrap())
        .collect();
    for tag in ["Keys", "Audit Log", "Key Policy", "Members", "Verification"] {
        assert!(tags.contains(tag), "tag {tag}");
    }

    for (method, path) in ROUTES {
        let operation = &document["paths"][path][method];
        for tag in operation["tags"].as_array().unwrap() {
            assert!(tags.contains(tag.as_str().unwrap()), "{method} {path}: {tag}");
        }
        let responses = operation["responses"].as_object().unwrap();
        let security = operation["security"].as_array().unwrap();
        let client = reqwest::Client::new();
        let res = client
            .request(
                Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
                format!("{}{path}", app.address),
            )
            .send()
            .await
            .unwrap();
        if path == "/api/v1/openapi.json" {
            assert_eq!(res.status(), StatusCode::OK);
            continue;
        }
        assert_eq!(
            res.status(),
            StatusCode::UNAUTHORIZED,
            "{method} {path} is routed and asks who calls"
        );
        assert!(
            responses.keys().any(|status| status.starts_with('2')),
            "{method} {path} documents its success"
        );
        for status in ["401", "429", "503"] {
            assert!(
                responses.contains_key(status),
                "{method} {path} documents {status}"
            );
        }
        let scheme = if operation["tags"][0] == "Verification" {
            "api_key"
        } else {
            assert!(responses.contains_key("403"), "{method} {path} documents 403");
            "management_token"
        };
        assert!(
            security
                .iter()
                .any(|requirement| requirement.get(scheme).is_some()),
            "{method} {path} names {scheme}: {security:?}"
        );
    }
}
