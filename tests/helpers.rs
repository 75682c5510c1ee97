//! Test harness: a fresh database per test on SQLite and on Postgres, the real server
//! on port 0, and a cookie-keeping client that never follows redirects.

use std::io::Write;
use std::sync::{Mutex, Once, OnceLock};

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use keyward::clock::Clock;
use keyward::config::{DatabaseUrl, Secret, SessionSettings, Settings};
use keyward::db::Db;
use keyward::startup::Application;
use reqwest::header::{HeaderMap, SET_COOKIE};
use reqwest::{Response, StatusCode};
use tempfile::TempDir;

/// What the test browser calls itself, so history can be checked for it.
pub const USER_AGENT: &str = "KeywardTests/1.0";

/// The local Postgres the suite creates its databases on.
pub const POSTGRES_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs a test once per backend: `db_test!(name)` makes `name::sqlite` and
/// `name::postgres` from `async fn name(backend: Backend)`.
#[macro_export]
macro_rules! db_test {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$name($crate::helpers::Backend::Sqlite).await
            }
            #[tokio::test]
            async fn postgres() {
                super::$name($crate::helpers::Backend::Postgres).await
            }
        }
    )+};
}

fn postgres_available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        keyward::db::prepare_tls();
        PgConnection::establish(POSTGRES_ADMIN_URL).is_ok()
    })
}

/// A database of its own for one test, removed when dropped. `None` means the test is
/// skipped: Postgres is not running here and this is not CI (where that fails).
pub struct TestDb {
    pub url: DatabaseUrl,
    pub dir: TempDir,
    postgres_name: Option<String>,
}

impl TestDb {
    pub fn create(backend: Backend) -> Option<Self> {
        let dir = tempfile::tempdir().expect("a temp dir");
        match backend {
            Backend::Sqlite => Some(Self {
                url: DatabaseUrl::Sqlite(dir.path().join("keyward.db")),
                dir,
                postgres_name: None,
            }),
            Backend::Postgres => {
                if !postgres_available() {
                    if std::env::var("CI").is_ok_and(|v| v == "true") {
                        panic!("Postgres is required in CI but does not answer at {POSTGRES_ADMIN_URL}");
                    }
                    eprintln!("skipped: Postgres does not answer at {POSTGRES_ADMIN_URL}");
                    return None;
                }
                let name = format!("kw_test_{}", uuid::Uuid::new_v4().simple());
                let mut admin = PgConnection::establish(POSTGRES_ADMIN_URL).expect("Postgres answers");
                admin
                    .batch_execute(&format!("CREATE DATABASE {name}"))
                    .expect("a fresh Postgres database");
                Some(Self {
                    url: DatabaseUrl::Postgres(format!("postgres://postgres@127.0.0.1:5432/{name}")),
                    dir,
                    postgres_name: Some(name),
                })
            }
        }
    }

    /// The URL as `DATABASE_URL` takes it.
    pub fn url_string(&self) -> String {
        match &self.url {
            DatabaseUrl::Sqlite(path) => format!("sqlite://{}", path.display()),
            DatabaseUrl::Postgres(url) => url.clone(),
        }
    }

    /// Makes the database disappear under a running server.
    pub fn destroy(&self) {
        match (&self.url, &self.postgres_name) {
            (_, Some(name)) => drop_postgres_database(name),
            (DatabaseUrl::Sqlite(path), None) => {
                std::fs::remove_file(path).expect("the SQLite file exists");
            }
            (DatabaseUrl::Postgres(_), None) => unreachable!("a Postgres TestDb has a name"),
        }
    }
}

fn drop_postgres_database(name: &str) {
    if let Ok(mut admin) = PgConnection::establish(POSTGRES_ADMIN_URL) {
        let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(name) = &self.postgres_name {
            drop_postgres_database(name);
        }
    }
}

/// What the server logged, for tests that read the logs.
static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_logs() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("info,keyward=trace"))
            .with_ansi(false)
            .with_writer(|| LogWriter)
            .init();
    });
}

/// Everything logged so far by every server in this test binary.
pub fn logs() -> String {
    String::from_utf8_lossy(&LOGS.lock().unwrap()).into_owned()
}

/// The secret every test server uses.
pub fn test_secret() -> Secret {
    Secret::from_bytes(b"test-secret-".repeat(8)).expect("96 bytes")
}

/// A running server over its own database.
pub struct TestApp {
    pub address: String,
    pub db: Db,
    pub clock: Clock,
    pub admin_email: String,
    pub admin_password: String,
    pub test_db: TestDb,
}

/// The settings every test server starts from: port 0, one worker, the test secret.
fn test_settings(database: &DatabaseUrl) -> Settings {
    Settings {
        database: database.clone(),
        bind: "127.0.0.1:0".parse().unwrap(),
        secret: test_secret(),
        session: SessionSettings::default(),
        workers: Some(1),
        trusted_proxies: Vec::new(),
        key_cache_ttl: keyward::api::cache::DEFAULT_TTL,
        sweep_interval: keyward::config::DEFAULT_SWEEP_INTERVAL,
    }
}

/// Starts the real server on port 0 over a fresh database; `None` when skipped.
pub async fn spawn_app(backend: Backend) -> Option<TestApp> {
    spawn_app_with(backend, |_| {}).await
}

/// [`spawn_app`] with settings changed by `configure` first.
pub async fn spawn_app_with(backend: Backend, configure: impl FnOnce(&mut Settings)) -> Option<TestApp> {
    capture_logs();
    let test_db = TestDb::create(backend)?;
    let clock = Clock::default();
    let mut settings = test_settings(&test_db.url);
    configure(&mut settings);
    let mut app = Application::build(settings, clock.clone()).expect("the server starts");
    let admin = app
        .take_first_admin()
        .expect("a fresh database gets a first admin");
    let address = format!("http://127.0.0.1:{}", app.port());
    let db = app.db();
    tokio::spawn(app.run_until_stopped());
    Some(TestApp {
        address,
        db,
        clock,
        admin_email: admin.email,
        admin_password: admin.password.expose().to_owned(),
        test_db,
    })
}

impl TestApp {
    /// A new browser with no cookies.
    pub fn browser(&self) -> Browser {
        Browser::new(&self.address)
    }

    /// A browser signed in as the first admin.
    pub async fn signed_in_admin(&self) -> Browser {
        let browser = self.browser();
        let res = browser.sign_in(&self.admin_email, &self.admin_password).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "the admin signs in");
        browser
    }

    /// Creates a user through the library, as the CLI does; returns its ID.
    pub fn create_member(
        &self,
        email: &str,
        password: &str,
        merchant_id: &str,
        role: keyward::domain::Role,
    ) -> String {
        use keyward::db::users;
        use keyward::domain::{Email, Password, PersonName};
        let mut conn = self.db.get().unwrap();
        users::create(
            &mut conn,
            users::NewUser {
                email: &Email::parse(email).unwrap(),
                name: &PersonName::parse("Test User").unwrap(),
                password_hash: &Password::parse_new(password.to_owned()).unwrap().hash(),
                access: users::Access::Member { merchant_id, role },
                password_change_required: false,
            },
            self.clock.now(),
        )
        .unwrap()
        .id
    }

    /// Starts another instance on this app's database with the same secret, as a
    /// second machine behind a load balancer would be; returns its address.
    pub fn second_instance(&self, configure: impl FnOnce(&mut Settings)) -> String {
        let mut settings = test_settings(&self.test_db.url);
        configure(&mut settings);
        let app = Application::build(settings, self.clock.clone()).expect("the second instance starts");
        let address = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until_stopped());
        address
    }

    /// Creates a support user; returns its ID.
    pub fn create_support(&self, email: &str, password: &str) -> String {
        use keyward::db::users;
        use keyward::domain::{Email, Password, PersonName};
        let mut conn = self.db.get().unwrap();
        users::create(
            &mut conn,
            users::NewUser {
                email: &Email::parse(email).unwrap(),
                name: &PersonName::parse("Sam Support").unwrap(),
                password_hash: &Password::parse_new(password.to_owned()).unwrap().hash(),
                access: users::Access::Support,
                password_change_required: false,
            },
            self.clock.now(),
        )
        .unwrap()
        .id
    }

    /// Creates another merchant; returns its ID.
    pub fn create_merchant(&self, name: &str) -> String {
        let mut conn = self.db.get().unwrap();
        keyward::db::merchants::create(
            &mut conn,
            &keyward::domain::MerchantName::parse(name).unwrap(),
            self.clock.now(),
        )
        .unwrap()
        .id
    }

    /// The ID of the merchant created on first start.
    pub fn demo_merchant_id(&self) -> String {
        let mut conn = self.db.get().unwrap();
        keyward::db::merchants::find_by_id_or_name(&mut conn, "Demo Merchant")
            .unwrap()
            .unwrap()
            .id
    }

    /// Runs SQL against the test database.
    pub fn execute(&self, sql: &str) {
        self.db.get().unwrap().batch_execute(sql).unwrap();
    }

    /// Every text value in every table, for tests that prove a secret is stored nowhere.
    pub fn dump_text(&self) -> String {
        use diesel::RunQueryDsl;
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = diesel::sql_types::Text)]
            text: String,
        }
        let queries = [
            "SELECT id || name || description || scopes || key_hash || masked_key || status || created_by || updated_by || COALESCE(disabled_by, '') || COALESCE(revoked_by, '') || COALESCE(deleted_by, '') AS text FROM api_keys",
            "SELECT id || event_type || actor_name || details || COALESCE(client_address, '') || COALESCE(user_agent, '') AS text FROM key_events",
            "SELECT id || state AS text FROM sessions",
            "SELECT merchant_id || updated_by AS text FROM key_policies",
            "SELECT id || email || name || password_hash AS text FROM users",
        ];
        let mut conn = self.db.get().unwrap();
        let mut all = String::new();
        for query in queries {
            for row in diesel::sql_query(query).load::<Row>(&mut **conn).unwrap() {
                all.push_str(&row.text);
                all.push('\n');
            }
        }
        all
    }

    /// Counts the rows `sql` (a `SELECT COUNT(*) AS n …`) finds.
    pub fn count(&self, sql: &str) -> i64 {
        use diesel::RunQueryDsl;
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let mut conn = self.db.get().unwrap();
        diesel::sql_query(sql).get_result::<Count>(&mut **conn).unwrap().n
    }
}

/// An HTTP client that keeps the session cookie like a browser and never follows
/// redirects, so tests see each answer.
pub struct Browser {
    base: String,
    http: reqwest::Client,
    cookie: Mutex<Option<String>>,
}

impl Browser {
    pub fn new(base: &str) -> Self {
        Self::from(base, "127.0.0.1")
    }

    /// A browser whose requests come from another loopback address (127.0.0.2 …), as a
    /// second client machine would.
    pub fn from(base: &str, source: &str) -> Self {
        Self {
            base: base.to_owned(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .local_address(Some(source.parse().unwrap()))
                .user_agent(USER_AGENT)
                .build()
                .unwrap(),
            cookie: Mutex::new(None),
        }
    }

    /// The session cookie's value as the browser holds it now.
    pub fn session_cookie(&self) -> Option<String> {
        self.cookie.lock().unwrap().clone()
    }

    /// Replaces the session cookie (to replay an old one).
    pub fn set_session_cookie(&self, value: Option<String>) {
        *self.cookie.lock().unwrap() = value;
    }

    fn remember(&self, headers: &HeaderMap) {
        for header in headers.get_all(SET_COOKIE) {
            let header = header.to_str().unwrap();
            let Some(rest) = header.strip_prefix("keyward_session=") else {
                continue;
            };
            let value = rest.split(';').next().unwrap_or_default();
            let removed = value.is_empty() || header.contains("Max-Age=0");
            *self.cookie.lock().unwrap() = (!removed).then(|| value.to_owned());
        }
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(cookie) = self.session_cookie() {
            request = request.header("Cookie", format!("keyward_session={cookie}"));
        }
        request
    }

    /// Sends a request built from this browser's defaults and keeps any new cookie.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Response {
        let res = request.send().await.expect("the server answers");
        self.remember(res.headers());
        res
    }

    pub async fn get(&self, path: &str) -> Response {
        self.send(self.request(reqwest::Method::GET, path)).await
    }

    /// The body of `GET path`, whatever its status.
    pub async fn html(&self, path: &str) -> String {
        self.get(path).await.text().await.unwrap()
    }

    /// A request builder for `method` on `path`, carrying the cookie.
    pub fn builder(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.request(method, path)
    }

    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> Response {
        self.send(self.request(reqwest::Method::POST, path).form(fields))
            .await
    }

    /// Reads the CSRF token from the page at `path`.
    pub async fn csrf_token(&self, path: &str) -> String {
        let body = self.html(path).await;
        csrf_token_in(&body).unwrap_or_else(|| panic!("no CSRF token on {path}"))
    }

    /// Signs in through the form, as a person would.
    pub async fn sign_in(&self, email: &str, password: &str) -> Response {
        let token = self.csrf_token("/login").await;
        self.post_form(
            "/login",
            &[("email", email), ("password", password), ("csrf_token", &token)],
        )
        .await
    }

    /// True when a dashboard page answers instead of a redirect to sign-in.
    pub async fn is_signed_in(&self) -> bool {
        let res = self.get("/settings/api-credentials").await;
        match res.status() {
            StatusCode::OK => true,
            StatusCode::SEE_OTHER => {
                assert_eq!(res.headers()["location"], "/login");
                false
            }
            other => panic!("unexpected status {other}"),
        }
    }
}

/// The one-time password on the page shown after an invitation was sent.
pub fn one_time_password(html: &str) -> String {
    let marker = r#"id="one-time-password" class="revealed-key" type="text" readonly value=""#;
    let start = html
        .find(marker)
        .unwrap_or_else(|| panic!("no one-time password in {html}"))
        + marker.len();
    let end = html[start..].find('"').unwrap() + start;
    html[start..end].to_owned()
}

impl Browser {
    /// The ID of the invitation from `merchant_name` on this user's Invitations page.
    pub async fn invitation_from(&self, merchant_name: &str) -> String {
        let page = self.html("/invitations").await;
        let heading = format!(r#"-name">{merchant_name}</h2>"#);
        let end = page
            .find(&heading)
            .unwrap_or_else(|| panic!("no invitation from {merchant_name} in {page}"));
        let marker = r#"id="invitation-"#;
        let start = page[..end].rfind(marker).unwrap() + marker.len();
        page[start..end].to_owned()
    }

    /// Answers the invitation from `merchant_name`: `accept` or `decline`.
    pub async fn answer_invitation(&self, merchant_name: &str, answer: &str) -> Response {
        let id = self.invitation_from(merchant_name).await;
        let token = self.csrf_token("/invitations").await;
        self.post_form(&format!("/invitations/{id}/{answer}"), &[("csrf_token", &token)])
            .await
    }
}

/// The value of the first `csrf_token` hidden input in a page.
pub fn csrf_token_in(html: &str) -> Option<String> {
    let marker = r#"name="csrf_token" value=""#;
    let start = html.find(marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}

/// The value of the first input named `name` in a page.
pub fn field_value(html: &str, name: &str) -> Option<String> {
    let marker = format!(r#"name="{name}" value=""#);
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}

/// A TCP port nothing listens on now, for a helper process of a test.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The location header of a redirect.
pub fn location(res: &Response) -> &str {
    res.headers()["location"].to_str().unwrap()
}

/// Sends `GET path` byte for byte over TCP, so no client normalises the path first;
/// returns the status code and the body.
pub async fn raw_get(address: &str, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("a status line");
    (status, response)
}
