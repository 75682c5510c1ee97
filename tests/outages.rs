//! Postgres out of reach: stopped (connections refused) or frozen (`SIGSTOP`: nothing
//! ever answers). Every request that needs the database answers 503 within its bound
//! (the API within a second, the dashboard within two), none hangs, and within two
//! seconds of the database's return everything works again. Each test runs on a
//! private Postgres that it stops, so the bounds are those of a real outage.

use std::future::Future;
use std::time::{Duration, Instant};

use keyward::config::DatabaseUrl;
use reqwest::{Response, StatusCode};

use crate::support::dashboard::{Dashboard, LIST};
use crate::support::manage::ManageApi;
use crate::support::postgres::PrivatePostgres;
use crate::support::tokens::create_token;
use crate::support::{Backend, Browser, TestApp, spawn_app, spawn_app_with};

/// How long an API request that needs the database may take while it is out of reach.
const API_BOUND: Duration = Duration::from_secs(1);
/// How long a dashboard page may take meanwhile.
const PAGE_BOUND: Duration = Duration::from_secs(2);
/// How soon after the database is back `/readyz` must answer 200.
const RECOVERY_BOUND: Duration = Duration::from_secs(2);

/// A server on a private Postgres, with a signed-in admin, a key used once (so it is in
/// the verification cache), a key never used, and a management token.
struct Outage {
    pg: PrivatePostgres,
    app: TestApp,
    browser: Browser,
    cached_key: String,
    cached_key_id: String,
    uncached_key: String,
    manage: ManageApi,
    api: reqwest::Client,
}

impl Outage {
    async fn start() -> Option<Self> {
        let mut pg = PrivatePostgres::create()?;
        pg.start();
        let url = pg.create_database("keyward");
        // The SQLite TestDb only lends its folder: the server runs on the private Postgres.
        let app = spawn_app_with(Backend::Sqlite, |settings| {
            settings.database = DatabaseUrl::Postgres(url);
        })
        .await
        .expect("SQLite is never skipped");
        let dash = Dashboard::admin(&app).await;
        let cached_key = dash.generate_ok("Cached").await;
        let uncached_key = dash.generate_ok("Uncached").await;
        let cached_key_id = dash.key_named("Cached").id.to_string();
        let token = create_token(&app.db, &dash.merchant_id, "Ops", &["keys:read"]);
        let browser = dash.browser;
        let manage = ManageApi::new(&app.address, &token);
        let outage = Self {
            pg,
            manage,
            browser,
            cached_key,
            cached_key_id,
            uncached_key,
            // A fresh connection per request: the server closes idle ones while the test
            // waits, which would fail a request on the client's side.
            api: reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .build()
                .unwrap(),
            app,
        };
        assert_eq!(outage.whoami(&outage.cached_key).await.status(), StatusCode::OK);
        assert_eq!(outage.get("/readyz").await.status(), StatusCode::OK);
        Some(outage)
    }

    async fn get(&self, path: &str) -> Response {
        self.api
            .get(format!("{}{path}", self.app.address))
            .send()
            .await
            .expect("the server answers")
    }

    async fn whoami(&self, key: &str) -> Response {
        self.api
            .get(format!("{}/api/v1/whoami", self.app.address))
            .header("Authorization", format!("ApiKey {key}"))
            .send()
            .await
            .expect("the server answers")
    }

    /// Everything that needs the database answers 503 within its bound, several
    /// requests at once included.
    async fn assert_unavailable(&self, when: &str) {
        let (res, took) = timed(self.get("/readyz")).await;
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE, "/readyz {when}");
        assert!(took < API_BOUND, "/readyz took {took:?} {when}");
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "database_unavailable");

        let (res, took) = timed(self.whoami(&self.uncached_key)).await;
        assert_api_unavailable(res, "unavailable", &format!("an uncached key {when}")).await;
        assert!(took < API_BOUND, "an uncached key took {took:?} {when}");

        let (answer, took) = timed(self.manage.get("/api/v1/keys")).await;
        answer.assert_error(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
        assert!(
            answer.header("retry-after").is_some(),
            "the management API {when}"
        );
        assert!(took < API_BOUND, "the management API took {took:?} {when}");

        for (browser, path) in [
            (&self.browser, LIST),
            (&self.browser, "/login"),
            (&Browser::new(&self.app.address), "/login"),
        ] {
            let (res, took) = timed(browser.get(path)).await;
            assert_unavailable_page(res, &format!("{path} {when}")).await;
            assert!(took < PAGE_BOUND, "{path} took {took:?} {when}");
        }
    }

    /// Twenty uncached verifications, a signed-in page, the sign-in page and `/readyz` at
    /// once, each 503 within its own bound.
    async fn assert_unavailable_all_at_once(&self, when: &str) {
        let verifications = (0..20).map(|_| timed(self.whoami(&self.uncached_key)));
        let visitor = Browser::new(&self.app.address);
        let (verifications, (page, page_took), (login, login_took), (ready, ready_took)) = tokio::join!(
            futures_util::future::join_all(verifications),
            timed(self.browser.get(LIST)),
            timed(visitor.get("/login")),
            timed(self.get("/readyz")),
        );
        for (res, took) in verifications {
            assert_api_unavailable(res, "unavailable", &format!("a verification {when}")).await;
            assert!(took < API_BOUND, "a verification took {took:?} {when}");
        }
        assert_unavailable_page(page, &format!("{LIST} {when}")).await;
        assert!(page_took < PAGE_BOUND, "{LIST} took {page_took:?} {when}");
        assert_unavailable_page(login, &format!("/login {when}")).await;
        assert!(login_took < PAGE_BOUND, "/login took {login_took:?} {when}");
        assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE, "/readyz {when}");
        assert!(ready_took < API_BOUND, "/readyz took {ready_took:?} {when}");
    }

    /// `/readyz` answers 200 within [`RECOVERY_BOUND`] of `back`, then a key never
    /// verified before verifies, the signed-in page and the management API work.
    async fn assert_recovered(&self, back: Instant) {
        loop {
            let res = self.get("/readyz").await;
            if res.status() == StatusCode::OK {
                break;
            }
            assert!(
                back.elapsed() < RECOVERY_BOUND,
                "/readyz still {} {:?} after the database came back",
                res.status(),
                back.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(self.whoami(&self.uncached_key).await.status(), StatusCode::OK);
        assert_eq!(self.whoami(&self.cached_key).await.status(), StatusCode::OK);
        let page = self.browser.get(LIST).await;
        assert_eq!(page.status(), StatusCode::OK, "the session survived");
        assert!(page.text().await.unwrap().contains("Uncached"));
        assert_eq!(self.manage.get("/api/v1/keys").await.status, StatusCode::OK);
        let login = Browser::new(&self.app.address).get("/login").await;
        assert_eq!(login.status(), StatusCode::OK);
    }
}

impl Outage {
    /// Waits (at most 3 s) until `total` successful verifications of the cached key
    /// are written: usage counted while the database was away waits in memory.
    async fn assert_usage_written(&self, total: i64) {
        #[derive(diesel::QueryableByName)]
        struct Total {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let written = || {
            use diesel::RunQueryDsl;
            diesel::sql_query(
                "SELECT CAST(COALESCE(SUM(succeeded), 0) AS BIGINT) AS n FROM key_usage_hourly \
                 WHERE key_id = $1",
            )
            .bind::<diesel::sql_types::Text, _>(&self.cached_key_id)
            .get_result::<Total>(&mut **self.app.db.get().unwrap())
            .unwrap()
            .n
        };
        let started = Instant::now();
        while written() < total {
            assert!(
                started.elapsed() < Duration::from_secs(3),
                "usage not written: {}",
                written()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(written(), total);
    }
}

async fn timed<T>(request: impl Future<Output = T>) -> (T, Duration) {
    let started = Instant::now();
    let outcome = request.await;
    (outcome, started.elapsed())
}

async fn assert_api_unavailable(res: Response, code: &str, what: &str) {
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE, "{what}");
    assert_eq!(res.headers()["retry-after"], "5", "{what}");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], code, "{what}: {body}");
}

async fn assert_unavailable_page(res: Response, what: &str) {
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE, "{what}");
    assert_eq!(res.headers()["retry-after"], "5", "{what}");
    assert!(
        res.headers().contains_key("content-security-policy"),
        "{what}: the page has the security headers"
    );
    let html = res.text().await.unwrap();
    assert!(html.contains("Temporarily unavailable"), "{what}: {html}");
    assert!(html.contains("error-page"), "{what}: in the layout: {html}");
}

#[tokio::test]
async fn a_stopped_postgres_gets_prompt_503s_and_everything_back_within_two_seconds_of_its_start() {
    let Some(mut outage) = Outage::start().await else {
        return;
    };
    outage.pg.kill();
    // A visitor's sign-in page reads nothing, yet says the database is out of reach
    // rather than offer a form that would fail, even as the first request to notice.
    let (res, took) = timed(Browser::new(&outage.app.address).get("/login")).await;
    assert_unavailable_page(res, "the sign-in page just after the stop").await;
    assert!(took < PAGE_BOUND, "the sign-in page took {took:?}");
    outage.assert_unavailable_all_at_once("just after the stop").await;
    // The listener's connection closed with the server: the cache was dropped at once
    // (a change made meanwhile elsewhere could not be heard), so no key verifies.
    let res = outage.whoami(&outage.cached_key).await;
    assert_api_unavailable(res, "unavailable", "a cached key after the stop").await;
    outage.assert_unavailable("while stopped").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    outage.assert_unavailable("two seconds into the outage").await;
    outage.pg.start();
    outage.assert_recovered(Instant::now()).await;
    // Before and after the stop.
    outage.assert_usage_written(2).await;
}

#[tokio::test]
async fn a_frozen_postgres_gets_prompt_503s_and_everything_back_within_two_seconds_of_resuming() {
    let Some(outage) = Outage::start().await else {
        return;
    };
    outage.pg.freeze();
    let frozen = Instant::now();
    // The listener last got through less than a second ago: its cache still answers.
    let res = outage.whoami(&outage.cached_key).await;
    assert_eq!(res.status(), StatusCode::OK, "a cached key just after the freeze");
    outage
        .assert_unavailable_all_at_once("just after the freeze")
        .await;
    outage.assert_unavailable("while frozen").await;
    // Past the listener's silence, a cached key is not trusted either.
    tokio::time::sleep(Duration::from_millis(1200).saturating_sub(frozen.elapsed())).await;
    let res = outage.whoami(&outage.cached_key).await;
    assert_api_unavailable(res, "unavailable", "a cached key a second into the freeze").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    outage.assert_unavailable("three seconds into the freeze").await;

    outage.pg.thaw();
    outage.assert_recovered(Instant::now()).await;
    // Before, during (from the cache) and after the freeze.
    outage.assert_usage_written(3).await;
}

#[tokio::test]
async fn a_slow_statement_is_waited_for_without_opening_the_circuit_and_the_server_bounds_every_statement() {
    use diesel::connection::SimpleConnection;
    use keyward::db::{DbConnection, DbError};

    let Some(app) = spawn_app(Backend::Postgres).await else {
        return;
    };
    let statement = |sql: &'static str| {
        move |conn: &mut DbConnection| -> Result<(), DbError> {
            let DbConnection::Postgres(pg) = conn else {
                unreachable!("a Postgres test database")
            };
            Ok(pg.batch_execute(sql)?)
        }
    };
    // Far past the moment a call asks the probe, and past the probe's own bound: the
    // probe gets its answer at once, so the call is left to finish.
    let started = Instant::now();
    let slept = app.db.run(statement("SELECT pg_sleep(1.2)")).await;
    assert!(slept.is_ok(), "{slept:?}");
    assert!(started.elapsed() >= Duration::from_millis(1200));
    let res = reqwest::get(format!("{}/readyz", app.address)).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "the circuit stayed closed");

    #[derive(diesel::QueryableByName)]
    struct Setting {
        #[diesel(sql_type = diesel::sql_types::Text)]
        statement_timeout: String,
    }
    let setting = app
        .db
        .run(|conn| -> Result<String, DbError> {
            use diesel::RunQueryDsl;
            let DbConnection::Postgres(pg) = conn else {
                unreachable!("a Postgres test database")
            };
            Ok(diesel::sql_query("SHOW statement_timeout")
                .get_result::<Setting>(pg)?
                .statement_timeout)
        })
        .await
        .unwrap();
    assert_eq!(
        setting, "10s",
        "every pooled connection has the server-side bound"
    );
}

#[tokio::test]
async fn work_under_way_when_postgres_froze_is_reported_as_maybe_done_and_work_not_started_never_runs() {
    use diesel::connection::SimpleConnection;
    use keyward::db::{DbConnection, DbError};

    let Some(outage) = Outage::start().await else {
        return;
    };
    let statement = |sql: &'static str| {
        move |conn: &mut DbConnection| -> Result<(), DbError> {
            let DbConnection::Postgres(pg) = conn else {
                unreachable!("a private Postgres")
            };
            Ok(pg.batch_execute(sql)?)
        }
    };
    let db = &outage.app.db;
    db.run(statement("CREATE TABLE cut_off (n INT)")).await.unwrap();

    outage.pg.freeze();
    // Sent before anyone knew: the caller stops waiting, but the server has the
    // statement and may carry it out once it runs again.
    let (under_way, took) = timed(db.run(statement("INSERT INTO cut_off VALUES (1)"))).await;
    assert!(matches!(under_way, Err(DbError::Interrupted)), "{under_way:?}");
    assert!(took < API_BOUND, "the caller waited {took:?}");
    // Asked once the database is known to be out of reach: refused before it starts,
    // and never started later.
    let (refused, took) = timed(db.run(statement("INSERT INTO cut_off VALUES (2)"))).await;
    assert!(matches!(refused, Err(DbError::Unreachable)), "{refused:?}");
    assert!(
        took < Duration::from_millis(50),
        "refused at once, not after {took:?}"
    );

    outage.pg.thaw();
    outage.assert_recovered(Instant::now()).await;
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        n: i32,
    }
    let rows = db
        .run(|conn| -> Result<Vec<i32>, DbError> {
            use diesel::RunQueryDsl;
            let DbConnection::Postgres(pg) = conn else {
                unreachable!("a private Postgres")
            };
            let rows = diesel::sql_query("SELECT n FROM cut_off ORDER BY n").load::<Row>(pg)?;
            Ok(rows.into_iter().map(|row| row.n).collect())
        })
        .await
        .unwrap();
    assert_eq!(
        rows,
        [1],
        "the interrupted insert was carried out after the thaw (hence 'may have been'), the refused one never"
    );
}

#[tokio::test]
async fn a_crowd_of_uncached_verifications_from_one_address_gets_its_503s_at_once() {
    let Some(mut outage) = Outage::start().await else {
        return;
    };
    outage.pg.kill();
    // Past the address's 60 budgeted reads a minute, a miss goes through the screen of
    // known digests; neither may queue the crowd behind one failing read after another.
    for round in ["first", "second"] {
        let crowd = (0..100).map(|_| timed(outage.whoami(&outage.uncached_key)));
        for (res, took) in futures_util::future::join_all(crowd).await {
            assert_api_unavailable(res, "unavailable", &format!("the {round} crowd")).await;
            assert!(
                took < API_BOUND,
                "a verification of the {round} crowd took {took:?}"
            );
        }
    }
    outage.pg.start();
    outage.assert_recovered(Instant::now()).await;
}

#[tokio::test]
async fn after_a_restart_no_one_heard_of_one_dead_connection_retires_the_others() {
    let Some(mut outage) = Outage::start().await else {
        return;
    };
    // Several pooled connections, all opened before the restart.
    let warm = (0..8).map(|_| outage.manage.get("/api/v1/keys"));
    for answer in futures_util::future::join_all(warm).await {
        assert_eq!(answer.status, StatusCode::OK);
    }
    // Stopped and started again with no request in between: the circuit never opened,
    // so nothing retired the pool's connections to the old server.
    outage.pg.kill();
    outage.pg.start();
    let mut failed = 0;
    for _ in 0..8 {
        let answer = outage.manage.get("/api/v1/keys").await;
        if answer.status != StatusCode::OK {
            answer.assert_error(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
            failed += 1;
        }
    }
    assert!(
        failed <= 1,
        "{failed} of 8 requests got a connection to the old server"
    );
}
