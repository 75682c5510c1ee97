//! deploy/nginx/keyward.conf in front of a small upstream, with a real nginx.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use keyward::domain::Actor;
use keyward::service::keys::{self, GenerateRequest};
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::db_test;
use crate::support::{Backend, free_port, spawn_app, test_secret};

const NGINX: &str = "/usr/sbin/nginx";

struct Nginx(Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An upstream that answers every request with the request's own head, so the test can
/// see which headers nginx passed on.
async fn echo_upstream() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    head.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
                let _ = stream.write_all(&head).await;
            });
        }
    });
    port
}

fn start_nginx(dir: &Path, keyward_port: u16, upstream_port: u16, listen_port: u16) -> Nginx {
    let site = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/nginx/keyward.conf"))
        .unwrap()
        .replace(
            "server 127.0.0.1:8080;",
            &format!("server 127.0.0.1:{keyward_port};"),
        )
        .replace(
            "server 127.0.0.1:9000;",
            &format!("server 127.0.0.1:{upstream_port};"),
        )
        .replace("listen 8000;", &format!("listen 127.0.0.1:{listen_port};"));
    std::fs::write(dir.join("keyward.conf"), site).unwrap();
    let d = dir.display();
    let main = format!(
        "pid {d}/nginx.pid;\nerror_log {d}/error.log;\nworker_processes 1;\nevents {{ worker_connections 64; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  \
         fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n  \
         include {d}/keyward.conf;\n}}\n"
    );
    std::fs::write(dir.join("nginx.conf"), main).unwrap();
    let child = Command::new(NGINX)
        .args([
            "-p",
            &d.to_string(),
            "-c",
            &format!("{d}/nginx.conf"),
            "-g",
            "daemon off;",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nginx starts");
    let nginx = Nginx(child);
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", listen_port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "nginx did not listen: {}",
            std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    nginx
}

fn nginx_available() -> bool {
    if Path::new(NGINX).exists() {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("nginx is required in CI but {NGINX} is missing");
    }
    eprintln!("skipped: nginx is not installed at {NGINX}");
    false
}

db_test!(nginx_lets_valid_keys_through_with_the_keyward_headers_and_stops_the_rest);

async fn nginx_lets_valid_keys_through_with_the_keyward_headers_and_stops_the_rest(backend: Backend) {
    if !nginx_available() {
        return;
    }
    let Some(app) = spawn_app(backend).await else {
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
    assert_eq!(
        get("/orders/42", Some(revoked.key.expose()))
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED,
        "revoked key"
    );
    assert_eq!(
        get("/feeds/upload", Some(reader.key.expose()))
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN,
        "out of scope"
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
}
