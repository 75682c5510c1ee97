//! Faults: Postgres dying under a change and coming back, SQLite locked by another
//! connection, the server killed outright under load, and a database that cannot be
//! written (a full disk, a read-only server). (`operations.rs` covers a database
//! dropped or its connections terminated.)

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection, RunQueryDsl};
use keyward::config::DatabaseUrl;
use reqwest::{Method, StatusCode};

use crate::db_test;
use crate::support::dashboard::{Dashboard, LIST};
use crate::support::postgres::{PrivatePostgres, prerequisite};
use crate::support::{Backend, TestDb, spawn_app, spawn_app_with};
use keyward::domain::KeyStatus;

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
    assert_eq!(
        dash.row(&row.id).status,
        KeyStatus::Active,
        "no change was half written"
    );
    assert_eq!(disabled_events(), 0, "no event without its change");
    let res = dash.browser.post_form(&disable, &[("csrf_token", &token)]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "changes work again");
    assert_eq!(dash.row(&row.id).status, KeyStatus::Disabled);
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
    assert_eq!(dash.row(&row.id).status, KeyStatus::Active);
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
    let (server, _, address) = crate::support::cli::start_server_with(&db, backend, |_| {});
    let cli = |args: &[&str]| {
        let mut command = crate::support::cli::keyward(&db.url_string());
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
            .find(|row| row.name == name && row.status == KeyStatus::Active)
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

    let (_restarted, _, address) = crate::support::cli::start_server_with(&db, backend, |_| {});
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

/// A database that the test can make refuse writes and then take them again: on
/// SQLite a small file system of its own that the test fills up (a full disk); on
/// Postgres a private server switched to `default_transaction_read_only`, which every
/// open connection follows on reload (a read-only database, as after a failover to a
/// standby).
enum Storage {
    Sqlite(Tmpfs),
    Postgres(PrivatePostgres),
}

/// A tmpfs mounted on a temporary folder, unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazily: the test's server may still hold its files open.
        let _ = Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

impl Storage {
    /// Sets the storage up; `None` (skipped, a failure in CI) without `mount` rights or
    /// a private Postgres.
    fn create(backend: Backend) -> Option<Self> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let mounted = Command::new("mount")
                    .args(["-t", "tmpfs", "-o", "size=16m,mode=0700", "keyward-test"])
                    .arg(dir.path())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|status| status.success());
                prerequisite(mounted, "mounting a tmpfs (root and mount)")?;
                Some(Storage::Sqlite(Tmpfs { dir }))
            }
            Backend::Postgres => {
                let mut pg = PrivatePostgres::create()?;
                pg.start();
                PgConnection::establish(&pg.url("postgres"))
                    .unwrap()
                    .batch_execute("CREATE DATABASE keyward")
                    .unwrap();
                Some(Storage::Postgres(pg))
            }
        }
    }

    fn url(&self) -> DatabaseUrl {
        match self {
            Storage::Sqlite(tmpfs) => DatabaseUrl::Sqlite(tmpfs.dir.path().join("keyward.db")),
            Storage::Postgres(pg) => DatabaseUrl::Postgres(pg.url("keyward")),
        }
    }

    /// The text the database's refusal carries, which the log must name.
    fn refusal(&self) -> &'static str {
        match self {
            Storage::Sqlite(_) => "database or disk is full",
            Storage::Postgres(_) => "in a read-only transaction",
        }
    }

    fn filler(tmpfs: &Tmpfs) -> PathBuf {
        tmpfs.dir.path().join("filler")
    }

    /// From now on every write fails.
    fn refuse_writes(&self, db: &keyward::db::Db) {
        match self {
            Storage::Sqlite(tmpfs) => {
                use std::io::Write;
                // An empty WAL, so that the next write needs new space rather than
                // reusing frames already checkpointed.
                db.get()
                    .unwrap()
                    .batch_execute("PRAGMA wal_checkpoint(TRUNCATE)")
                    .unwrap();
                let mut filler = std::fs::File::create(Self::filler(tmpfs)).unwrap();
                let chunk = vec![0_u8; 64 * 1024];
                loop {
                    match filler.write_all(&chunk) {
                        Ok(()) => {}
                        Err(err) if err.kind() == std::io::ErrorKind::StorageFull => break,
                        Err(err) => panic!("filling the tmpfs: {err}"),
                    }
                }
            }
            Storage::Postgres(pg) => pg.set_read_only(true),
        }
    }

    /// From now on writes work again.
    fn take_writes(&self) {
        match self {
            Storage::Sqlite(tmpfs) => std::fs::remove_file(Self::filler(tmpfs)).unwrap(),
            Storage::Postgres(pg) => pg.set_read_only(false),
        }
    }
}

impl PrivatePostgres {
    /// Switches `default_transaction_read_only` for the whole server and waits until
    /// it has reloaded its settings: every open connection then follows from its
    /// next statement on.
    fn set_read_only(&self, read_only: bool) {
        let value = if read_only { "on" } else { "off" };
        let mut admin = PgConnection::establish(&self.url("postgres")).unwrap();
        // One statement each: ALTER SYSTEM refuses to run in a transaction block.
        admin
            .batch_execute(&format!(
                "ALTER SYSTEM SET default_transaction_read_only = {value}"
            ))
            .unwrap();
        admin.batch_execute("SELECT pg_reload_conf()").unwrap();
        let reloaded = |conn: &mut PgConnection| {
            conn.batch_execute(&format!(
                "DO $$ BEGIN IF current_setting('default_transaction_read_only') <> '{value}' \
                 THEN RAISE 'not reloaded yet'; END IF; END $$"
            ))
            .is_ok()
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !reloaded(&mut PgConnection::establish(&self.url("postgres")).unwrap()) {
            assert!(Instant::now() < deadline, "the private Postgres did not reload");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Starts the server over `storage`; the SQLite TestDb only lends its folder.
async fn spawn_on(storage: &Storage) -> crate::support::TestApp {
    let url = storage.url();
    spawn_app_with(Backend::Sqlite, |settings| settings.database = url)
        .await
        .expect("SQLite is never skipped")
}

/// Checks that `res` is the error page of a failed write, with everything every page
/// has, and that the log carries its error ID once, with the request ID, the path and
/// the database's refusal.
async fn assert_failure_page(res: reqwest::Response, path: &str, refusal: &str) {
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE, "{path}");
    let headers = res.headers().clone();
    assert_eq!(
        headers["content-security-policy"],
        keyward::web::headers::CONTENT_SECURITY_POLICY,
        "{path}"
    );
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert_eq!(headers["cache-control"], "no-store");
    assert!(
        headers["content-type"].to_str().unwrap().starts_with("text/html"),
        "{path}"
    );
    let request_id = headers["x-request-id"].to_str().unwrap().to_owned();
    let html = res.text().await.unwrap();
    assert!(html.contains("Temporarily unavailable"), "{path}: {html}");
    let marker = "Error ID: <code>";
    let start = html.find(marker).expect("an error ID on the page") + marker.len();
    let error_id = &html[start..start + 32];
    let logs = crate::support::logs();
    let lines: Vec<&str> = logs.lines().filter(|line| line.contains(error_id)).collect();
    assert_eq!(lines.len(), 1, "one log line carries {error_id}: {lines:?}");
    let line = lines[0];
    assert!(line.contains(&format!("request_id={request_id}")), "{line}");
    assert!(line.contains(&format!("path={path}")), "{line}");
    assert!(line.contains("status=503"), "{line}");
    assert!(
        line.contains(refusal),
        "the cause chain names the refusal: {line}"
    );
}

db_test!(
    while_the_database_cannot_be_written_pages_and_changes_answer_the_error_page_and_nothing_is_lost,
    readyz_answers_503_while_the_database_cannot_be_written_and_200_once_it_can,
);

async fn while_the_database_cannot_be_written_pages_and_changes_answer_the_error_page_and_nothing_is_lost(
    backend: Backend,
) {
    let Some(storage) = Storage::create(backend) else {
        return;
    };
    let app = spawn_on(&storage).await;
    let dash = Dashboard::admin(&app).await;
    let key = dash.generate_ok("Steady").await;
    let row = dash.key_named("Steady");
    let token = dash.browser.csrf_token(LIST).await;
    let disable = format!("{LIST}/{}/disable", row.id);
    let new_form = format!("{LIST}/new");

    storage.refuse_writes(&app.db);
    // A page that writes nothing still reads.
    assert_eq!(dash.browser.get(LIST).await.status(), StatusCode::OK);
    // The Generate form must store its one-time value in the session.
    let res = dash.browser.get(&new_form).await;
    assert_failure_page(res, &new_form, storage.refusal()).await;
    let res = dash.browser.post_form(&disable, &[("csrf_token", &token)]).await;
    assert_failure_page(res, &disable, storage.refusal()).await;
    // Verifying a key writes nothing: the API keeps answering, its usage waits in memory.
    let res = reqwest::Client::new()
        .get(format!("{}/api/v1/whoami", app.address))
        .header("Authorization", format!("ApiKey {key}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().contains_key("x-request-id"));

    storage.take_writes();
    assert_eq!(
        dash.row(&row.id).status,
        KeyStatus::Active,
        "no change was half written"
    );
    assert_eq!(
        dash.events(&row.id),
        ["generated", "revealed"],
        "no event without its change"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while dash.row(&row.id).last_used_at.is_none() {
        assert!(
            Instant::now() < deadline,
            "the use counted while unwritable was lost"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(dash.browser.get(&new_form).await.status(), StatusCode::OK);
    let res = dash.browser.post_form(&disable, &[("csrf_token", &token)]).await;
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "the same session changes again"
    );
    assert_eq!(dash.row(&row.id).status, KeyStatus::Disabled);
}

async fn readyz_answers_503_while_the_database_cannot_be_written_and_200_once_it_can(backend: Backend) {
    let Some(storage) = Storage::create(backend) else {
        return;
    };
    let app = spawn_on(&storage).await;
    let browser = app.browser();
    let readyz = || async {
        let res = browser.get("/readyz").await;
        let status = res.status();
        let body: serde_json::Value = res.json().await.unwrap();
        (status, body)
    };
    assert_eq!(readyz().await.0, StatusCode::OK);
    storage.refuse_writes(&app.db);
    let (status, body) = readyz().await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "database_unwritable");
    assert_eq!(browser.get("/healthz").await.status(), StatusCode::OK);
    storage.take_writes();
    let (status, body) = readyz().await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "ready");
}
