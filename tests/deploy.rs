//! deploy/README.md as an operator follows it: three `keyward serve` processes started as
//! the guide's systemd unit starts them, on one Postgres over TLS (`sslmode=require`),
//! behind nginx running the guide's own files (upstream.conf, dashboard.conf,
//! keyward.conf). Sign-in and a key's whole life go through nginx, then one instance is
//! killed and nginx keeps answering.
//!
//! What differs from the guide's host, and only that, is templated:
//! - the unit (deploy/systemd/keyward@.service): `%i` becomes a free port, `/etc/keyward/`
//!   a folder of the test's, `/usr/local/bin/keyward` the binary under test; its
//!   `Environment=` lines and the `EnvironmentFile=` it names are the process's
//!   environment, as systemd would set them;
//! - the nginx files (see `support::nginx`): the instances' ports `8081`–`8083`, the
//!   listen ports (`443` and `80` of the dashboard, `8000` of the API gateway), the
//!   protected API's address and the certificate's paths. The certificate is a
//!   self-signed one for `keys.example.com`, made with the `openssl` command; the
//!   client resolves that name to 127.0.0.1.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue, ORIGIN};

use crate::support::cli::{ServerProcess, keyward, start_server_with};
use crate::support::dashboard::{LIST, revealed_key};
use crate::support::nginx::{self, echo_upstream, nginx_available};
use crate::support::{Backend, Browser, TestDb, USER_AGENT, csrf_token_in, field_value, free_port, location};

const UNIT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/systemd/keyward@.service");
const OPENSSL: &str = "/usr/bin/openssl";
/// The dashboard's name in the guide's dashboard.conf.
const NAME: &str = "keys.example.com";

/// The unit file's `ExecStart` arguments and environment for the instance on `port`,
/// with `/etc/keyward/` in `etc`.
fn unit_for(port: u16, etc: &Path) -> (Vec<String>, Vec<(String, String)>) {
    let unit = std::fs::read_to_string(UNIT).unwrap();
    let templated = |value: &str| {
        value
            .replace("%i", &port.to_string())
            .replace("/etc/keyward/", &format!("{}/", etc.display()))
    };
    let mut args = Vec::new();
    let mut env = Vec::new();
    for line in unit.lines() {
        if let Some(command) = line.strip_prefix("ExecStart=") {
            let mut words = command.split_whitespace();
            assert_eq!(words.next(), Some("/usr/local/bin/keyward"), "{line}");
            args = words.map(str::to_owned).collect();
        } else if let Some(assignment) = line.strip_prefix("Environment=") {
            let (name, value) = assignment.split_once('=').expect("NAME=value");
            env.push((name.to_owned(), templated(value)));
        } else if let Some(file) = line.strip_prefix("EnvironmentFile=") {
            let file = std::fs::read_to_string(templated(file)).expect("the unit's environment file");
            for assignment in file
                .lines()
                .filter(|line| !line.is_empty() && !line.starts_with('#'))
            {
                let (name, value) = assignment.split_once('=').expect("NAME=value");
                env.push((name.to_owned(), value.to_owned()));
            }
        }
    }
    assert!(!args.is_empty(), "the unit has an ExecStart");
    (args, env)
}

/// Starts the instance on `port` as the unit does; returns it with what it printed.
fn start_instance(db: &TestDb, port: u16, etc: &Path) -> (ServerProcess, Vec<String>) {
    let (args, env) = unit_for(port, etc);
    let log = std::fs::File::create(etc.join(format!("keyward@{port}.log"))).unwrap();
    let (process, lines, address) = start_server_with(db, Backend::Postgres, |command| {
        command.env_remove("KEYWARD_SECRET").args(&args).stderr(log);
        for (name, value) in &env {
            command.env(name, value);
        }
    });
    assert_eq!(address, format!("http://127.0.0.1:{port}"));
    (process, lines)
}

fn available(path: &str) -> bool {
    if Path::new(path).exists() {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{path} is required in CI but missing");
    }
    eprintln!("skipped: {path} is not installed");
    false
}

fn run(command: &mut Command) {
    let output = command.output().expect("the command runs");
    assert!(output.status.success(), "{command:?}: {output:?}");
}

/// A browser on the dashboard through nginx, trusting the test's certificate, whose
/// requests carry `origin` as browsers send it with forms.
fn dashboard_browser(https_port: u16, pem: &[u8], origin: &str) -> Browser {
    let mut headers = HeaderMap::new();
    headers.insert(ORIGIN, HeaderValue::from_str(origin).unwrap());
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .resolve(NAME, SocketAddr::from(([127, 0, 0, 1], https_port)))
        .add_root_certificate(reqwest::Certificate::from_pem(pem).unwrap())
        .default_headers(headers)
        .user_agent(USER_AGENT)
        .build()
        .unwrap();
    Browser::with_client(&format!("https://{NAME}:{https_port}"), http)
}

/// Generates a key named `name` on API Credentials; returns it as revealed.
async fn generate(browser: &Browser, name: &str) -> String {
    let html = browser.html("/settings/api-credentials/new").await;
    let token = csrf_token_in(&html).unwrap_or_else(|| panic!("no form: {html}"));
    let nonce = field_value(&html, "nonce").expect("a one-time value");
    let res = browser
        .post_form(LIST, &[("csrf_token", &token), ("nonce", &nonce), ("name", name)])
        .await;
    assert_eq!(res.status(), StatusCode::OK, "generating {name}");
    revealed_key(&res.text().await.unwrap())
}

/// The head the protected API received for a request with `key`, through the gateway.
async fn through_gateway(gateway: &str, key: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(format!("{gateway}/anything"))
        .header("Authorization", format!("ApiKey {key}"))
        .send()
        .await
        .expect("nginx answers")
}

#[tokio::test]
async fn the_guide_runs_three_instances_behind_nginx_that_sign_in_verify_refuse_and_fail_over() {
    if !nginx_available() || !available(OPENSSL) {
        return;
    }
    let Some(db) = TestDb::create(Backend::Postgres) else {
        return;
    };
    let etc = tempfile::tempdir().unwrap();
    let etc = etc.path();

    // §1–§3: the connection string with TLS, one secret made as the guide makes it,
    // migrations once.
    let database_url = format!("{}?sslmode=require", db.url_string());
    std::fs::write(etc.join("env"), format!("DATABASE_URL={database_url}\n")).unwrap();
    let secret = etc.join("secret");
    run(Command::new("sh").arg("-c").arg(format!(
        "head -c 48 /dev/urandom | base64 > '{0}' && chmod 0600 '{0}'",
        secret.display()
    )));
    run(keyward(&database_url)
        .env("KEYWARD_SECRET_FILE", &secret)
        .arg("migrate"));

    // §4: three instances of the unit; the first prints the first admin's password.
    let ports = [free_port(), free_port(), free_port()];
    let mut instances = Vec::new();
    let mut printed = Vec::new();
    for port in ports {
        let (process, lines) = start_instance(&db, port, etc);
        instances.push(process);
        printed.extend(lines);
    }
    let password = printed
        .iter()
        .find_map(|line| line.trim().strip_prefix("Password:"))
        .unwrap_or_else(|| panic!("no first admin password in {printed:?}"))
        .trim()
        .to_owned();
    // Checklist step 6: every instance is ready.
    for port in ports {
        let res = reqwest::get(format!("http://127.0.0.1:{port}/readyz"))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.text().await.unwrap(), r#"{"status":"ready"}"#);
    }

    // §5: nginx with the guide's three files, the dashboard on a non-standard port.
    let site = tempfile::tempdir().unwrap();
    let (cert, key) = (site.path().join("cert.pem"), site.path().join("key.pem"));
    run(Command::new(OPENSSL)
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "2", "-subj", &format!("/CN={NAME}")])
        .args(["-addext", &format!("subjectAltName=DNS:{NAME}")])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert));
    let (https_port, http_port, gateway_port) = (free_port(), free_port(), free_port());
    let upstream_port = echo_upstream().await;
    let dashboard = nginx::guide_file(
        "dashboard.conf",
        &[
            (
                "listen 443 ssl http2;",
                format!("listen 127.0.0.1:{https_port} ssl http2;"),
            ),
            ("listen 80;", format!("listen 127.0.0.1:{http_port};")),
            ("/etc/ssl/keys.example.com.pem", cert.display().to_string()),
            ("/etc/ssl/keys.example.com.key", key.display().to_string()),
        ],
    );
    let _nginx = nginx::start_nginx(
        site.path(),
        &[
            ("upstream.conf", nginx::upstream_conf(ports)),
            ("dashboard.conf", dashboard),
            ("keyward.conf", nginx::gateway_conf(upstream_port, gateway_port)),
        ],
        &[https_port, http_port, gateway_port],
    );
    let gateway = format!("http://127.0.0.1:{gateway_port}");
    let pem = std::fs::read(&cert).unwrap();
    let origin = format!("https://{NAME}:{https_port}");

    // Plain HTTP is sent to HTTPS.
    let res = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .resolve(NAME, SocketAddr::from(([127, 0, 0, 1], http_port)))
        .build()
        .unwrap()
        .get(format!("http://{NAME}:{http_port}/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::MOVED_PERMANENTLY);
    assert_eq!(location(&res), format!("https://{NAME}/login"));

    // Sign-in through nginx: the Origin check sees the Host with its port.
    let admin = dashboard_browser(https_port, &pem, &origin);
    let res = admin.sign_in(keyward::startup::DEMO_ADMIN_EMAIL, &password).await;
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "{}",
        res.text().await.unwrap()
    );
    assert_eq!(location(&res), LIST);
    // The check is real: a form from the same name without the port is another site.
    let elsewhere = dashboard_browser(https_port, &pem, &format!("https://{NAME}"));
    let res = elsewhere
        .sign_in(keyward::startup::DEMO_ADMIN_EMAIL, &password)
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(res.text().await.unwrap().contains("Request refused"));

    // A key generated on the dashboard verifies through the gateway.
    let doomed = generate(&admin, "Doomed").await;
    let res = through_gateway(&gateway, &doomed).await;
    assert_eq!(res.status(), StatusCode::OK);
    let seen = res.text().await.unwrap().to_lowercase();
    assert!(seen.contains("x-keyward-merchant-id: "), "{seen}");
    assert!(!seen.contains("kw_live_"), "the upstream never sees the key");
    let key_id = seen
        .lines()
        .find_map(|line| line.strip_prefix("x-keyward-key-id: "))
        .unwrap_or_else(|| panic!("no key ID in {seen}"))
        .trim()
        .to_owned();

    // Revoked on the dashboard, it is refused through the gateway with Keyward's JSON.
    let revoke = format!("{LIST}/{key_id}/revoke");
    let html = admin.html(&revoke).await;
    let token = csrf_token_in(&html).unwrap_or_else(|| panic!("no revoke form: {html}"));
    let res = admin
        .post_form(&revoke, &[("csrf_token", &token), ("confirm", "REVOKE")])
        .await;
    assert!(
        res.status().is_success() || res.status().is_redirection(),
        "{}",
        res.status()
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    let res = loop {
        let res = through_gateway(&gateway, &doomed).await;
        if res.status() != StatusCode::OK || Instant::now() > deadline {
            break res;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(res.headers()["www-authenticate"], "ApiKey");
    assert_eq!(res.headers()["content-type"], "application/json");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "key_revoked", "{body}");
    assert_eq!(
        body["error"]["message"],
        "This API key was revoked and can no longer be used."
    );

    // One instance dies: every request through nginx still succeeds.
    let live = generate(&admin, "Survivor").await;
    instances[1].0.kill().unwrap();
    instances[1].0.wait().unwrap();
    let mut failures = Vec::new();
    for _ in 0..200 {
        let status = through_gateway(&gateway, &live).await.status();
        if status != StatusCode::OK {
            failures.push(status);
        }
    }
    assert!(failures.is_empty(), "refused through the gateway: {failures:?}");
    for _ in 0..20 {
        assert_eq!(admin.get(LIST).await.status(), StatusCode::OK);
    }
    let after = generate(&admin, "After the failure").await;
    assert_eq!(through_gateway(&gateway, &after).await.status(), StatusCode::OK);
    let again = dashboard_browser(https_port, &pem, &origin);
    let res = again.sign_in(keyward::startup::DEMO_ADMIN_EMAIL, &password).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);

    // nginx says the browser came over HTTPS (X-Forwarded-Proto), so a sign-in form sent
    // without its cookie here has expired; it is not the cookie refused over plain HTTP.
    let lost = dashboard_browser(https_port, &pem, &origin);
    let token = lost.csrf_token("/login").await;
    lost.set_cookie("keyward_csrf", None);
    let res = lost
        .post_form(
            "/login",
            &[
                ("email", keyward::startup::DEMO_ADMIN_EMAIL),
                ("password", &password),
                ("csrf_token", &token),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let page = res.text().await.unwrap();
    assert!(page.contains("This form has expired"), "{page}");
    assert!(!page.contains("did not keep the sign-in cookie"), "{page}");

    // With no instance left, the gateway still answers in Keyward's shape.
    for instance in &mut instances {
        instance.0.kill().unwrap();
        instance.0.wait().unwrap();
    }
    let res = through_gateway(&gateway, &live).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.headers()["retry-after"], "5");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unavailable", "{body}");
}
