//! The real server on port 0 over a fresh database, and what it logged.

use std::io::Write;
use std::sync::{Mutex, Once};

use diesel::connection::SimpleConnection;
use keyward::clock::Clock;
use keyward::config::{DatabaseUrl, Secret, SessionSettings, Settings};
use keyward::db::Db;
use keyward::startup::Application;
use reqwest::{Response, StatusCode};

use super::browser::Browser;
use super::db::{Backend, TestDb};
use keyward::domain::MerchantId;

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
    /// The listener that serves only `/metrics`, when the settings asked for one.
    pub metrics_address: Option<String>,
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
        body_timeout: keyward::config::DEFAULT_BODY_TIMEOUT,
        token_requests_per_minute: keyward::api::manage::DEFAULT_TOKEN_REQUESTS_PER_MINUTE,
        request_log_days: keyward::config::DEFAULT_REQUEST_LOG_DAYS,
        drain_timeout: keyward::config::DEFAULT_DRAIN_TIMEOUT,
        insecure_cookies: false,
        metrics: keyward::config::MetricsSettings::default(),
        redis_url: None,
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
    let metrics_address = app.metrics_port().map(|port| format!("http://127.0.0.1:{port}"));
    let db = app.db();
    tokio::spawn(app.run_until_stopped());
    Some(TestApp {
        address,
        metrics_address,
        db,
        clock,
        admin_email: admin.email,
        admin_password: admin.password.expose().to_owned(),
        test_db,
    })
}

impl TestApp {
    /// The backend its database is on.
    pub fn backend(&self) -> Backend {
        match self.db.url() {
            keyward::config::DatabaseUrl::Sqlite(_) => Backend::Sqlite,
            keyward::config::DatabaseUrl::Postgres(_) => Backend::Postgres,
        }
    }

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
        merchant_id: &MerchantId,
        role: keyward::domain::Role,
    ) -> String {
        use keyward::db::users;
        use keyward::domain::{Email, Password, PersonName};
        let mut conn = self.db.get().unwrap();
        let email = Email::parse(email).unwrap();
        users::create(
            &mut conn,
            users::NewUser {
                email: &email,
                name: &PersonName::parse("Test User").unwrap(),
                password_hash: &Password::parse_new(password.to_owned(), &email).unwrap().hash(),
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
        self.another_instance(configure).0
    }

    /// [`Self::second_instance`], with the new instance's database handle, whose
    /// [`Db::queries_started`] counts that instance's statements.
    pub fn another_instance(&self, configure: impl FnOnce(&mut Settings)) -> (String, Db) {
        let mut settings = test_settings(&self.test_db.url);
        configure(&mut settings);
        let app = Application::build(settings, self.clock.clone()).expect("another instance starts");
        let address = format!("http://127.0.0.1:{}", app.port());
        let db = app.db();
        tokio::spawn(app.run_until_stopped());
        (address, db)
    }

    /// Creates a support user; returns its ID.
    pub fn create_support(&self, email: &str, password: &str) -> String {
        use keyward::db::users;
        use keyward::domain::{Email, Password, PersonName};
        let mut conn = self.db.get().unwrap();
        let email = Email::parse(email).unwrap();
        users::create(
            &mut conn,
            users::NewUser {
                email: &email,
                name: &PersonName::parse("Sam Support").unwrap(),
                password_hash: &Password::parse_new(password.to_owned(), &email).unwrap().hash(),
                access: users::Access::Support,
                password_change_required: false,
            },
            self.clock.now(),
        )
        .unwrap()
        .id
    }

    /// Creates another merchant; returns its ID.
    pub fn create_merchant(&self, name: &str) -> MerchantId {
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
    pub fn demo_merchant_id(&self) -> MerchantId {
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

    /// `GET path` on the key-authenticated API, with this `Authorization` header if any.
    pub async fn call(&self, path: &str, authorization: Option<&str>) -> Response {
        let mut request = reqwest::Client::new().get(format!("{}{path}", self.address));
        if let Some(value) = authorization {
            request = request.header("Authorization", value);
        }
        request.send().await.unwrap()
    }

    /// Waits (at most 3 s) until the flusher has written at least `total` verifications
    /// of `key_id`, successful or failed.
    pub async fn wait_for_flush(&self, key_id: &str, total: i64) {
        let query = format!(
            "SELECT CAST(COALESCE(SUM(succeeded + failed), 0) AS BIGINT) AS n FROM key_usage_hourly WHERE key_id = '{key_id}'"
        );
        let started = std::time::Instant::now();
        while self.count(&query) < total {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(3),
                "usage not flushed"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// Gives the merchant `active` active keys named `Key 001`… and `revoked` revoked
    /// ones named `Old 0001`…, written straight to the database in one transaction (real
    /// keys, their digests and masks), under a policy that allows `active` active keys.
    /// Returns the active keys as generated, oldest first.
    pub fn seed_keys(
        &self,
        merchant_id: &MerchantId,
        active: usize,
        revoked: usize,
    ) -> Vec<keyward::domain::ApiKey> {
        use keyward::db::keys::{self, NewKey};
        use keyward::domain::{Actor, ApiKey, KeyPolicy};
        let pepper = keyward::startup::key_pepper(&test_secret());
        let mut conn = self.db.get().unwrap();
        let policy = KeyPolicy {
            max_active_keys: u32::try_from(active.max(1)).unwrap(),
            ..KeyPolicy::default()
        };
        keyward::service::policy::set_policy(
            &mut conn,
            merchant_id,
            &policy,
            &Actor::cli(),
            self.clock.now(),
        )
        .unwrap();
        let start = self.clock.now() - time::Duration::days(30);
        let mut made = Vec::new();
        keyward::db::write_transaction(&mut conn, |conn| -> Result<(), keyward::db::DbError> {
            for (n, name) in (1..=revoked)
                .map(|n| format!("Old {n:04}"))
                .chain((1..=active).map(|n| format!("Key {n:03}")))
                .enumerate()
            {
                let key = ApiKey::generate();
                let id = keyward::domain::KeyId::generate();
                let at = start + time::Duration::seconds(i64::try_from(n).unwrap());
                keys::insert(
                    conn,
                    NewKey {
                        id: &id,
                        merchant_id,
                        lineage_id: &id,
                        version: 1,
                        name: &name,
                        description: "",
                        scopes: "orders:read",
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
                if name.starts_with("Old") {
                    keys::transition(
                        conn,
                        &id,
                        keyward::domain::KeyStatus::Active,
                        keys::Transition::Revoked,
                        at,
                        "Seed",
                    )?;
                } else {
                    made.push(key);
                }
            }
            Ok(())
        })
        .unwrap();
        made
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
