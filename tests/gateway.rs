//! deploy/nginx/keyward.conf in front of a small upstream, with a real nginx.

use std::path::Path;

use keyward::domain::Actor;
use keyward::service::keys::{self, GenerateRequest};
use reqwest::StatusCode;

use crate::db_test;
use crate::support::nginx::{self, Nginx, echo_upstream, nginx_available};
use crate::support::{Backend, free_port, spawn_app_with, test_secret};

/// nginx with the guide's upstream.conf (its three instances all this test's one server)
/// and keyward.conf in front of an echo upstream.
fn start_nginx(dir: &Path, keyward_port: u16, upstream_port: u16, listen_port: u16) -> Nginx {
    nginx::start_nginx(
        dir,
        &[
            ("upstream.conf", nginx::upstream_conf([keyward_port; 3])),
            ("keyward.conf", nginx::gateway_conf(upstream_port, listen_port)),
        ],
        &[listen_port],
    )
}

db_test!(
    nginx_lets_valid_keys_through_with_the_keyward_headers_and_stops_the_rest,
    nginx_names_the_client_so_an_allowlisted_key_works_only_from_its_address,
);

async fn nginx_lets_valid_keys_through_with_the_keyward_headers_and_stops_the_rest(backend: Backend) {
    if !nginx_available() {
        return;
    }
    // As the guide's unit sets it: nginx is a trusted proxy, whose word on the client and
    // on what it asked for is taken.
    let Some(app) = spawn_app_with(backend, |settings| {
        settings.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await
    else {
        return;
    };
    let keyward_port: u16 = app.address.rsplit(':').next().unwrap().parse().unwrap();
    let upstream_port = echo_upstream().await;
    let listen_port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let _nginx = start_nginx(dir.path(), keyward_port, upstream_port, listen_port);

    let pepper = keyward::startup::key_pepper(&test_secret());
    let merchant = app.demo_merchant_id();
    let generate = |name: &str, scopes: &[&str]| {
        keys::generate(
            &mut app.db.get().unwrap(),
            &merchant,
            &GenerateRequest {
                name: name.to_owned(),
                scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
                ..Default::default()
            },
            &Actor::cli(),
            &pepper,
            app.clock.now(),
        )
        .unwrap()
    };
    let reader = generate("Reader", &["orders:read"]);
    let limited = keys::generate(
        &mut app.db.get().unwrap(),
        &merchant,
        &GenerateRequest {
            name: "Limited".to_owned(),
            rate_limit: "1".to_owned(),
            ..Default::default()
        },
        &Actor::cli(),
        &pepper,
        app.clock.now(),
    )
    .unwrap();
    let revoked = generate("Revoked", &["orders:read"]);
    keys::revoke(
        &mut app.db.get().unwrap(),
        &merchant,
        &revoked.row.id,
        "REVOKE",
        &Actor::cli(),
        app.clock.now(),
    )
    .unwrap();

    let client = reqwest::Client::new();
    let gateway = format!("http://127.0.0.1:{listen_port}");
    let get = |path: &str, key: Option<&str>| {
        let mut request = client.get(format!("{gateway}{path}"));
        if let Some(key) = key {
            request = request.header("Authorization", format!("ApiKey {key}"));
        }
        request.send()
    };

    let res = get("/orders/42", Some(reader.key.expose())).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let seen = res.text().await.unwrap().to_lowercase();
    assert!(seen.starts_with("get /orders/42 "), "{seen}");
    assert!(
        seen.contains(&format!("x-keyward-merchant-id: {merchant}")),
        "{seen}"
    );
    assert!(
        seen.contains(&format!("x-keyward-key-id: {}", reader.row.id)),
        "{seen}"
    );
    assert!(seen.contains("x-keyward-scopes: orders:read"), "{seen}");
    assert!(!seen.contains("kw_live_"), "the upstream never sees the key");

    assert_eq!(
        get("/orders/42", None).await.unwrap().status(),
        StatusCode::UNAUTHORIZED,
        "missing key"
    );
    // Refusals come back as Keyward's own JSON, not nginx's HTML page.
    let res = get("/orders/42.html", Some(revoked.key.expose())).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "revoked key");
    assert_eq!(res.headers()["www-authenticate"], "ApiKey");
    assert_eq!(res.headers()["content-type"], "application/json");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "key_revoked");
    assert_eq!(
        body["error"]["message"],
        "This API key was revoked and can no longer be used."
    );
    let res = get("/feeds/upload", Some(reader.key.expose())).await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "out of scope");
    assert_eq!(res.headers()["content-type"], "application/json");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "insufficient_scope");
    assert_eq!(
        body["error"]["message"],
        "This API key does not have the scope `feeds:upload`."
    );
    assert_eq!(
        get("/anything", Some(reader.key.expose()))
            .await
            .unwrap()
            .status(),
        StatusCode::OK,
        "no scope needed"
    );

    // Encoded, doubled or dotted paths need the scope of the path they resolve to.
    let unscoped = generate("Unscoped", &[]);
    for disguised in ["/%6Frders/42", "//orders/42", "/orders", "/a/../orders/x"] {
        let res = get(disguised, Some(unscoped.key.expose())).await.unwrap();
        assert_eq!(
            res.status(),
            StatusCode::FORBIDDEN,
            "{disguised} needs orders:read"
        );
    }

    // Keyward's 429 reaches the client with its Retry-After, not as a 500.
    assert_eq!(
        get("/anything", Some(limited.key.expose()))
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let res = get("/anything", Some(limited.key.expose())).await.unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().contains_key("retry-after"));
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");

    // So does its 400 for a doubled X-Merchant-Id, which nginx hands the subrequest as is.
    let res = client
        .get(format!("{gateway}/anything"))
        .header("Authorization", format!("ApiKey {}", reader.key.expose()))
        .header("X-Merchant-Id", merchant.as_str())
        .header("X-Merchant-Id", merchant.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "duplicate_merchant_id");

    // The key's request log keeps what the client asked nginx for, not the subrequest.
    app.wait_for_flush(reader.row.id.as_str(), 3).await;
    let logged = |path: &str, outcome: &str, detail: &str| {
        app.count(&format!(
            "SELECT COUNT(*) AS n FROM key_requests WHERE key_id = '{}' AND method = 'GET' \
             AND path = '{path}' AND outcome = '{outcome}' AND detail = '{detail}'",
            reader.row.id
        ))
    };
    // Accepted requests are counted per minute with the latest one's path.
    assert_eq!(logged("/anything", "accepted", ""), 1);
    assert_eq!(logged("/feeds/upload", "insufficient_scope", "feeds:upload"), 1);
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM key_requests WHERE path = '/api/v1/auth'"),
        0
    );
}

/// Clients on 127.0.0.2 and 127.0.0.3 (both loopback) call nginx on 127.0.0.1, which asks
/// Keyward, trusting nginx's address, with the client's address set in the subrequest.
async fn nginx_names_the_client_so_an_allowlisted_key_works_only_from_its_address(backend: Backend) {
    if !nginx_available() {
        return;
    }
    let Some(app) = spawn_app_with(backend, |settings| {
        settings.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await
    else {
        return;
    };
    let keyward_port: u16 = app.address.rsplit(':').next().unwrap().parse().unwrap();
    let upstream_port = echo_upstream().await;
    let listen_port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let _nginx = start_nginx(dir.path(), keyward_port, upstream_port, listen_port);

    let pepper = keyward::startup::key_pepper(&test_secret());
    let pinned = keys::generate(
        &mut app.db.get().unwrap(),
        &app.demo_merchant_id(),
        &GenerateRequest {
            name: "Pinned".to_owned(),
            scopes: vec!["orders:read".to_owned()],
            allowed_ips: vec!["127.0.0.2".to_owned()],
            ..Default::default()
        },
        &Actor::cli(),
        &pepper,
        app.clock.now(),
    )
    .unwrap();
    let from = |address: &str| {
        reqwest::Client::builder()
            .local_address(address.parse::<std::net::IpAddr>().unwrap())
            .build()
            .unwrap()
    };
    let gateway = format!("http://127.0.0.1:{listen_port}/orders/42");
    let call = |client: reqwest::Client, headers: &'static [(&'static str, &'static str)]| {
        let mut request = client
            .get(&gateway)
            .header("Authorization", format!("ApiKey {}", pinned.key.expose()));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send()
    };

    let res = call(from("127.0.0.2"), &[]).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "accepted from its address");
    let res = call(from("127.0.0.3"), &[]).await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "refused from another");
    // nginx sets both headers, so a client cannot name the allowed address itself.
    let spoofed = &[("X-Forwarded-For", "127.0.0.2"), ("X-Real-IP", "127.0.0.2")];
    let res = call(from("127.0.0.3"), spoofed).await.unwrap();
    assert_eq!(
        res.status(),
        StatusCode::FORBIDDEN,
        "spoofed headers are replaced"
    );
}
