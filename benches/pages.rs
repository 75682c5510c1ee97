//! Page benchmark behind BENCHMARKS.md ("API Credentials with many keys"): the server in
//! this process (release build) on SQLite and on Postgres, a merchant with 100 active and
//! 1,000 revoked keys, and API Credentials asked for one request at a time by a signed-in
//! admin: the first page, a page of revoked keys, a search; `/healthz` alongside as the
//! floor. Prints the table and writes it to `target/bench/pages.md`.
//!
//! Run with `cargo bench --bench pages` (Postgres on 127.0.0.1:5432, user postgres, or
//! `KW_BENCH_BACKENDS=SQLite`). `KW_BENCH_REQUESTS` (default 200) sets the requests timed
//! per page.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use keyward::clock::Clock;
use keyward::config::{DatabaseUrl, Secret, SessionSettings, Settings};
use keyward::db::keys::{self, NewKey, Transition};
use keyward::domain::{Actor, ApiKey, KeyId, KeyPolicy, KeyStatus, MerchantId};
use keyward::startup::Application;

const SECRET: &[u8] = b"bench-pages-secret-bench-pages-secret-bench-pages-secret-bench-pages-secret";
const POSTGRES: &str = "postgres://postgres@127.0.0.1:5432";
const ACTIVE: usize = 100;
const REVOKED: usize = 1000;

fn requests() -> usize {
    std::env::var("KW_BENCH_REQUESTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200)
}

fn backends() -> Vec<String> {
    std::env::var("KW_BENCH_BACKENDS")
        .unwrap_or_else(|_| "SQLite,Postgres".into())
        .split(',')
        .map(|name| name.trim().to_owned())
        .collect()
}

/// Gives the merchant 100 active and 1,000 revoked keys (real keys, digests and masks)
/// under a policy that allows 100 active keys.
fn seed(app: &Application, merchant_id: &MerchantId, now: time::PrimitiveDateTime) {
    let mut conn = app.db().get().expect("a connection");
    let pepper = keyward::startup::key_pepper(&Secret::from_bytes(SECRET.to_vec()).unwrap());
    let policy = KeyPolicy {
        max_active_keys: 100,
        ..KeyPolicy::default()
    };
    keyward::service::policy::set_policy(&mut conn, merchant_id, &policy, &Actor::cli(), now).unwrap();
    keyward::db::write_transaction(&mut conn, |conn| -> Result<(), keyward::db::DbError> {
        for n in 0..REVOKED + ACTIVE {
            let (name, revoked) = if n < REVOKED {
                (format!("Old {:04}", n + 1), true)
            } else {
                (format!("Key {:03}", n - REVOKED + 1), false)
            };
            let key = ApiKey::generate();
            let id = KeyId::generate();
            let at = now - time::Duration::days(30) + time::Duration::seconds(n as i64);
            keys::insert(
                conn,
                NewKey {
                    id: &id,
                    merchant_id,
                    lineage_id: &id,
                    version: 1,
                    name: &name,
                    description: "",
                    scopes: "orders:read inventory:read",
                    key_hash: &key.digest(&pepper),
                    masked_key: &key.masked(),
                    lifetime_days: None,
                    expires_at: None,
                    created_at: at,
                    created_by: "Seed",
                    request_id: None,
                    rate_limit_per_minute: None,
                    environment: keyward::domain::Environment::Live,
                    sealed_secret: None,
                    allowed_ips: "",
                },
            )?;
            if revoked {
                keys::transition(conn, &id, KeyStatus::Active, Transition::Revoked, at, "Seed")?;
            }
        }
        Ok(())
    })
    .expect("the keys are seeded");
}

/// A signed-in client: the session cookie, sent by hand (the client follows no redirect).
struct Client {
    http: reqwest::Client,
    base: String,
    cookies: Vec<String>,
}

impl Client {
    fn keep(&mut self, res: &reqwest::Response) {
        for header in res.headers().get_all(reqwest::header::SET_COOKIE) {
            let pair = header.to_str().unwrap().split(';').next().unwrap().to_owned();
            let name = pair.split('=').next().unwrap().to_owned();
            self.cookies.retain(|kept| !kept.starts_with(&format!("{name}=")));
            self.cookies.push(pair);
        }
    }

    async fn get(&mut self, path: &str) -> (reqwest::StatusCode, String) {
        let res = self
            .http
            .get(format!("{}{path}", self.base))
            .header("Cookie", self.cookies.join("; "))
            .send()
            .await
            .expect("the server answers");
        self.keep(&res);
        (res.status(), res.text().await.unwrap())
    }

    async fn sign_in(&mut self, email: &str, password: &str) {
        let (_, login) = self.get("/login").await;
        let marker = r#"name="csrf_token" value=""#;
        let start = login.find(marker).expect("a CSRF token") + marker.len();
        let token = login[start..start + login[start..].find('"').unwrap()].to_owned();
        let res = self
            .http
            .post(format!("{}/login", self.base))
            .header("Cookie", self.cookies.join("; "))
            .form(&[("email", email), ("password", password), ("csrf_token", &token)])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), reqwest::StatusCode::SEE_OTHER, "the admin signs in");
        self.keep(&res);
    }
}

/// One page's timings.
struct Timed {
    page: &'static str,
    bytes: usize,
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    mean_ms: f64,
}

async fn time_page(client: &mut Client, page: &'static str, path: &str) -> Timed {
    let mut bytes = 0;
    for _ in 0..5 {
        let (status, body) = client.get(path).await;
        assert_eq!(status, reqwest::StatusCode::OK, "{path}");
        bytes = body.len();
    }
    let mut times = Vec::with_capacity(requests());
    for _ in 0..requests() {
        let started = Instant::now();
        let (status, body) = client.get(path).await;
        times.push(started.elapsed());
        assert_eq!(status, reqwest::StatusCode::OK);
        assert_eq!(body.len(), bytes, "{path} changed while timed");
    }
    times.sort();
    let at = |share: f64| {
        let index = ((times.len() as f64 * share).ceil() as usize).clamp(1, times.len()) - 1;
        times[index].as_secs_f64() * 1000.0
    };
    let total: Duration = times.iter().sum();
    Timed {
        page,
        bytes,
        p50_ms: at(0.5),
        p90_ms: at(0.9),
        p99_ms: at(0.99),
        mean_ms: total.as_secs_f64() * 1000.0 / times.len() as f64,
    }
}

async fn run(backend: &str, report: &mut String) {
    let dir = tempfile::tempdir().unwrap();
    let postgres = (backend != "SQLite").then(|| format!("kw_bench_pages_{}", uuid::Uuid::new_v4().simple()));
    let database = match &postgres {
        None => DatabaseUrl::Sqlite(dir.path().join("pages.db")),
        Some(name) => {
            keyward::db::prepare_tls();
            let mut admin =
                PgConnection::establish(&format!("{POSTGRES}/postgres")).expect("Postgres answers");
            admin.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
            DatabaseUrl::Postgres(format!("{POSTGRES}/{name}"))
        }
    };
    let settings = Settings {
        database,
        bind: "127.0.0.1:0".parse().unwrap(),
        secret: Secret::from_bytes(SECRET.to_vec()).unwrap(),
        session: SessionSettings::default(),
        workers: Some(2),
        trusted_proxies: Vec::new(),
        key_cache_ttl: keyward::api::cache::DEFAULT_TTL,
        sweep_interval: keyward::config::DEFAULT_SWEEP_INTERVAL,
        body_timeout: keyward::config::DEFAULT_BODY_TIMEOUT,
        token_requests_per_minute: keyward::api::manage::DEFAULT_TOKEN_REQUESTS_PER_MINUTE,
        request_log_days: keyward::config::DEFAULT_REQUEST_LOG_DAYS,
        drain_timeout: keyward::config::DEFAULT_DRAIN_TIMEOUT,
        insecure_cookies: false,
        metrics: keyward::config::MetricsSettings::default(),
        redis_url: None,
    };
    let clock = Clock::default();
    let mut app = Application::build(settings, clock.clone()).expect("the server starts");
    let admin = app.take_first_admin().expect("a first admin");
    let merchant_id = {
        let mut conn = app.db().get().unwrap();
        keyward::db::merchants::find_by_id_or_name(&mut conn, &admin.merchant)
            .unwrap()
            .unwrap()
            .id
    };
    seed(&app, &merchant_id, clock.now());
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let mut client = Client {
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        base,
        cookies: Vec::new(),
    };
    client.sign_in(&admin.email, admin.password.expose()).await;
    let pages = [
        ("API Credentials, first page", "/settings/api-credentials"),
        (
            "revoked keys, page 5",
            "/settings/api-credentials?status=revoked&page=5",
        ),
        ("search by name", "/settings/api-credentials?q=Key+042"),
        ("/healthz", "/healthz"),
    ];
    for (page, path) in pages {
        let timed = time_page(&mut client, page, path).await;
        let _ = writeln!(
            report,
            "| {backend} | {} | {} | {:.2} | {:.2} | {:.2} | {:.2} |",
            timed.page, timed.bytes, timed.p50_ms, timed.p90_ms, timed.p99_ms, timed.mean_ms
        );
    }
    if let Some(name) = postgres {
        let mut admin = PgConnection::establish(&format!("{POSTGRES}/postgres")).expect("Postgres answers");
        let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut report = format!(
        "{ACTIVE} active and {REVOKED} revoked keys; {} sequential requests per page after 5 warm-ups.\n\n\
         | backend | page | bytes | p50 ms | p90 ms | p99 ms | mean ms |\n|---|---|---|---|---|---|---|\n",
        requests()
    );
    for backend in backends() {
        run(&backend, &mut report).await;
    }
    println!("{report}");
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("pages.md"), &report).unwrap();
}
