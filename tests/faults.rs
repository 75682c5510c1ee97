//! Faults: Postgres dying under a change and coming back, SQLite locked by another
//! connection, and the server killed outright under load. (`operations.rs` covers a
//! database dropped or its connections terminated.)

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection, RunQueryDsl};
use keyward::config::DatabaseUrl;
use reqwest::{Method, StatusCode};

use crate::db_test;
use crate::helpers::{Backend, TestDb, spawn_app, spawn_app_with};
use crate::keys::{Dashboard, LIST};

const POSTGRES_BIN: &str = "/usr/lib/postgresql/15/bin";

/// `None` and one `skipped:` line when `what` is missing here; a failure in CI.
fn prerequisite(available: bool, what: &str) -> Option<()> {
    if available {
        return Some(());
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{what} is required in CI");
    }
    eprintln!("skipped: {what} is not available");
    None
}

fn run(command: &mut Command) {
    let output = command.output().expect("the command runs");
    assert!(output.status.success(), "{command:?}: {output:?}");
}

/// A Postgres server of this test's own, in a temporary folder on a free port, so that
/// stopping it disturbs nothing else on the machine. Killed when dropped.
struct PrivatePostgres {
    dir: tempfile::TempDir,
    port: u16,
    server: Option<Child>,
}

impl PrivatePostgres {
    /// Initialises a cluster; `None` (skipped) without the binaries or root, which
    /// `runuser` needs to run them as `postgres` (they refuse to run as root).
    fn create() -> Option<Self> {
        let usable = std::path::Path::new(POSTGRES_BIN).join("postgres").exists()
            && Command::new("id")
                .arg("-u")
                .output()
                .is_ok_and(|out| out.stdout == b"0\n")
            && Command::new("id")
                .arg("postgres")
                .output()
                .is_ok_and(|out| out.status.success());
        prerequisite(usable, "Postgres 15's binaries, root and the postgres user")?;
        let dir = tempfile::tempdir().unwrap();
        run(Command::new("chown").arg("postgres:postgres").arg(dir.path()));
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let pg = Self {
            dir,
            port,
            server: None,
        };
        run(Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(format!("{POSTGRES_BIN}/initdb"))
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
            .arg(pg.data()));
        Some(pg)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Starts the server (again) and waits until it accepts connections.
    fn start(&mut self) {
        use std::os::unix::process::CommandExt;
        let log = std::fs::File::create(self.dir.path().join("server.log")).unwrap();
        let child = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(format!("{POSTGRES_BIN}/postgres"))
            .arg("-D")
            .arg(self.data())
            .args([
                "-p",
                &self.port.to_string(),
                "-c",
                "listen_addresses=127.0.0.1",
                "-k",
            ])
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(log)
            // Its own process group: the postmaster and every backend die together.
            .process_group(0)
            .spawn()
            .expect("postgres starts");
        self.server = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while PgConnection::establish(&self.url("postgres")).is_err() {
            assert!(Instant::now() < deadline, "the private Postgres did not come up");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Kills the server and all its backends at once, as a crash or a lost machine does.
    fn kill(&mut self) {
        if let Some(mut child) = self.server.take() {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn status(res: reqwest::Result<reqwest::Response>) -> StatusCode {
    res.expect("the server answers").status()
}

#[tokio::test]
async fn postgres_dying_mid_change_gives_503s_then_full_recovery_with_nothing_half_written() {
    let Some(mut pg) = PrivatePostgres::create() else {
        return;
    };
    pg.start();
    PgConnection::establish(&pg.url("postgres"))
        .unwrap()
        .batch_execute("CREATE DATABASE keyward")
        .unwrap();
    // The SQLite TestDb only lends its folder: the server runs on the private Postgres.
    let url = pg.url("keyward");
    let app = spawn_app_with(Backend::Sqlite, |settings| {
        settings.database = DatabaseUrl::Postgres(url.clone());
    })
    .await
    .expect("SQLite is never skipped");
    let dash = Dashboard::admin(&app).await;
    let key = dash.generate_ok("Survivor").await;
    let row = dash.key_named("Survivor");
    // A fresh connection per request: a pooled one the server closed while Postgres was
    // down would fail the next request on the client's side, not the server's.
    let api = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let whoami = || {
        api.get(format!("{}/api/v1/whoami", app.address))
            .header("Authorization", format!("ApiKey {key}"))
            .send()
    };
    assert_eq!(status(whoami().await).await, StatusCode::OK);
    let readyz = || api.get(format!("{}/readyz", app.address)).send();
    assert_eq!(status(readyz().await).await, StatusCode::OK);
    let token = dash.browser.csrf_token(LIST).await;

    // Another session holds the merchant's row lock, so the Disable waits inside its
    // transaction; Postgres dies under it.
    let mut holder = PgConnection::establish(&url).unwrap();
    holder
        .batch_execute("BEGIN; SELECT id FROM merchants FOR UPDATE")
        .unwrap();
    let disable = format!("{LIST}/{}/disable", row.id);
    let fields = [("csrf_token", token.as_str())];
    let change = dash.browser.post_form(&disable, &fields);
    let kill = async {
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert!(
            PgConnection::establish(&url)
                .unwrap()
                .batch_execute(
                    "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_locks WHERE NOT granted) \
                     THEN RAISE 'nothing waits for the lock'; END IF; END $$"
                )
                .is_ok(),
            "the Disable is waiting inside its transaction"
        );
        pg.kill();
    };
    let (res, ()) = tokio::join!(change, kill);
    assert_eq!(
        res.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "the change in flight"
    );
    assert!(res.headers().contains_key("retry-after"));

    // Past the key cache's second, nothing can be verified: 503, never 200.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(status(readyz().await).await, StatusCode::SERVICE_UNAVAILABLE);
    for _ in 0..3 {
        let res = whoami().await.unwrap();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unavailable");
    }
    let page = dash.browser.get(LIST).await;
    assert_eq!(page.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(page.text().await.unwrap().contains("Temporarily unavailable"));
    let res = dash.browser.post_form(&disable, &[("csrf_token", &token)]).await;
    assert_eq!(
        res.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "a change while down"
    );
    assert_eq!(
        status(api.get(format!("{}/healthz", app.address)).send().await).await,
        StatusCode::OK
    );

    drop(holder);
    pg.start();
    // Connections to the dead server are dropped as they fail; within a few requests
    // everything answers again, and keeps answering.
    let deadline = Instant::now() + Duration::from_secs(20);
    while status(readyz().await).await != StatusCode::OK || status(whoami().await).await != StatusCode::OK {
        assert!(Instant::now() < deadline, "no recovery");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    while dash.browser.get(LIST).await.status() != StatusCode::OK {
        assert!(Instant::now() < deadline, "the dashboard did not recover");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for _ in 0..10 {
        assert_eq!(status(whoami().await).await, StatusCode::OK);
        assert_eq!(
            dash.browser.get(LIST).await.status(),
            StatusCode::OK,
            "the session survived"
        );
    }
    // ("first used" comes from the usage flush, whenever it got through.)
    let disabled_events = || {
        dash.events(&row.id)
            .iter()
            .filter(|event| *event == "disabled")
            .count()
    };
    assert_eq!(dash.row(&row.id).status, "active", "no change was half written");
    assert_eq!(disabled_events(), 0, "no event without its change");
    let res = dash.browser.post_form(&disable, &[("csrf_token", &token)]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "changes work again");
    assert_eq!(dash.row(&row.id).status, "disabled");
    assert_eq!(disabled_events(), 1);
}

db_test!(a_server_killed_under_load_keeps_every_key_and_event_and_loses_at_most_a_second_of_usage);

#[tokio::test]
async fn sqlite_locked_past_the_busy_timeout_answers_503_with_a_retry_message() {
    let Some(app) = spawn_app(Backend::Sqlite).await else {
        return;
    };
    let dash = Dashboard::admin(&app).await;
    let row = dash.generate_key("Locked").await;
    let token = dash.browser.csrf_token(LIST).await;
    let DatabaseUrl::Sqlite(path) = &app.test_db.url else {
        unreachable!("a SQLite test database")
    };
    // Another process's connection holding the write lock longer than the five-second
    // busy timeout.
    let mut holder = diesel::SqliteConnection::establish(&path.to_string_lossy()).unwrap();
    holder.batch_execute("BEGIN EXCLUSIVE").unwrap();
    let started = Instant::now();
    let res = dash
        .browser
        .post_form(&format!("{LIST}/{}/disable", row.id), &[("csrf_token", &token)])
        .await;
    assert!(
        started.elapsed() >= Duration::from_secs(5),
        "it waited for the lock first"
    );
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.headers()["retry-after"], "5");
    let html = res.text().await.unwrap();
    assert!(
        html.contains("Nothing was changed; please try again in a few seconds."),
        "{html}"
    );
    holder.batch_execute("ROLLBACK").unwrap();
    assert_eq!(dash.row(&row.id).status, "active");
    assert_eq!(dash.events(&row.id), ["generated", "revealed"]);
    let res = dash
        .browser
        .post_form(&format!("{LIST}/{}/disable", row.id), &[("csrf_token", &token)])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "the retry works");
    assert_eq!(dash.events(&row.id), ["generated", "revealed", "disabled"]);
}

/// Every key row and history event, in a stable order, without what usage changes.
fn durable_state(db: &keyward::db::Db) -> Vec<String> {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        text: String,
    }
    let mut conn = db.get().unwrap();
    let mut all = Vec::new();
    for query in [
        "SELECT id || '|' || lineage_id || '|' || CAST(version AS TEXT) || '|' || status || '|' || name || '|' || key_hash || '|' || scopes AS text FROM api_keys ORDER BY id",
        "SELECT id || '|' || COALESCE(key_id, '') || '|' || event_type || '|' || details AS text FROM key_events ORDER BY id",
    ] {
        for row in diesel::sql_query(query).load::<Row>(&mut **conn).unwrap() {
            all.push(row.text);
        }
    }
    all
}

fn usage_total(db: &keyward::db::Db) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct Total {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    diesel::sql_query("SELECT CAST(COALESCE(SUM(succeeded), 0) AS BIGINT) AS n FROM key_usage_hourly")
        .get_result::<Total>(&mut **db.get().unwrap())
        .unwrap()
        .n
}

async fn a_server_killed_under_load_keeps_every_key_and_event_and_loses_at_most_a_second_of_usage(
    backend: Backend,
) {
    let Some(db) = TestDb::create(backend) else {
        return;
    };
    let (server, _, address) = crate::cli::start_server_with(&db, backend, |_| {});
    let cli = |args: &[&str]| {
        let mut command = crate::cli::keyward(&db.url_string());
        if backend == Backend::Postgres {
            // The secret the test server was started with.
            command.env("KEYWARD_SECRET", "s".repeat(64));
        }
        let output = command.arg("key").args(args).output().unwrap();
        assert!(output.status.success(), "{args:?}: {output:?}");
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    };
    let handle = keyward::db::Db::connect(&db.url).unwrap();
    let mut keys: Vec<String> = ["Alpha", "Beta", "Gamma"]
        .iter()
        .map(|name| cli(&["create", "--merchant", "Demo Merchant", "--name", name]))
        .collect();
    let id_of = |name: &str| {
        let mut conn = handle.get().unwrap();
        let merchant = keyward::db::merchants::find_by_id_or_name(&mut conn, "Demo Merchant")
            .unwrap()
            .unwrap();
        keyward::db::keys::list(&mut conn, &merchant.id)
            .unwrap()
            .into_iter()
            .find(|row| row.name == name && row.status == "active")
            .unwrap()
            .id
    };
    keys.push(cli(&["rotate", &id_of("Alpha"), "--grace", "1h"]));
    cli(&["disable", &id_of("Gamma")]);
    keys.remove(2);

    let client = reqwest::Client::new();
    for key in &keys {
        let res = client
            .get(format!("{address}/api/v1/whoami"))
            .header("Authorization", format!("ApiKey {key}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
    // Their "first used" events are written by the next flush.
    let warm_up = i64::try_from(keys.len()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while usage_total(&handle) < warm_up {
        assert!(Instant::now() < deadline, "the warm-up was never flushed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let before = durable_state(&handle);

    let answered: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let mut workers = Vec::new();
    for worker in 0..6 {
        let (client, answered, address) = (client.clone(), answered.clone(), address.clone());
        let key = keys[worker % keys.len()].clone();
        workers.push(tokio::spawn(async move {
            // Bounded: ends when the server is gone, or after 20 seconds at most.
            let stop = Instant::now() + Duration::from_secs(20);
            while Instant::now() < stop {
                let res = client
                    .request(Method::GET, format!("{address}/api/v1/whoami"))
                    .header("Authorization", format!("ApiKey {key}"))
                    .send()
                    .await;
                match res {
                    Ok(res) if res.status() == StatusCode::OK => {
                        answered.lock().unwrap().push(Instant::now())
                    }
                    Ok(res) => panic!("{} under load", res.status()),
                    Err(_) => break,
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let killed_at = Instant::now();
    let mut server = server;
    server.0.kill().unwrap();
    server.0.wait().unwrap();
    for worker in workers {
        worker.await.unwrap();
    }

    let answered = answered.lock().unwrap().clone();
    let total = usage_total(&handle) - warm_up;
    let sent = i64::try_from(answered.len()).unwrap();
    // Everything answered before the last flush (at most a second before the kill,
    // give or take the flush's own time) was written.
    let settled = answered
        .iter()
        .filter(|at| killed_at.duration_since(**at) > Duration::from_millis(1250))
        .count();
    assert!(sent > 100, "only {sent} requests under load");
    assert!(total <= sent, "{total} counted for {sent} answered");
    assert!(
        total >= i64::try_from(settled).unwrap(),
        "{total} counted, but {settled} were answered more than a second before the kill"
    );

    let (_restarted, _, address) = crate::cli::start_server_with(&db, backend, |_| {});
    assert_eq!(before, durable_state(&handle), "a key or an event changed");
    for key in &keys {
        let res = client
            .get(format!("{address}/api/v1/whoami"))
            .header("Authorization", format!("ApiKey {key}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "every key works after the restart");
    }
}
