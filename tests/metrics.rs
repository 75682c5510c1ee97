//! `GET /metrics`: never public by default, behind the operator's bearer token on the
//! main listener or open on a listener of its own, and numbers that move by what the
//! server did.

use std::time::{Duration, Instant};

use keyward::domain::{Actor, ApiKey};
use keyward::service::keys::{self, GenerateRequest, Generated};
use reqwest::StatusCode;

use crate::db_test;
use crate::support::{Backend, TestApp, TestDb, spawn_app, spawn_app_with, test_secret};

db_test!(
    metrics_are_served_nowhere_without_a_setting,
    metrics_on_the_main_listener_ask_for_the_bearer_token,
    a_metrics_listener_of_its_own_serves_them_and_the_main_port_does_not,
    counters_move_by_the_traffic_the_server_answered,
    one_route_label_however_many_ids_are_asked_for,
    work_that_waits_for_a_pooled_connection_is_counted,
);

/// A token long enough to be accepted.
const TOKEN: &str = "metrics-token-for-tests-0123456789abcdef";

/// The exposition text's samples: the value of `series` (the name with its labels as
/// rendered, e.g. `keyward_verifications_total{outcome="accepted"}`), 0 when absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            (name == series).then(|| value.parse::<f64>().expect("a sample is a number"))
        })
        .unwrap_or(0.0)
}

/// Scrapes the listener of its own.
async fn scrape(app: &TestApp) -> String {
    let address = app.metrics_address.as_ref().expect("a metrics listener");
    let res = reqwest::get(format!("{address}/metrics")).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.text().await.unwrap()
}

/// Scrapes until `done` holds for the text, for at most five seconds.
async fn scrape_until(app: &TestApp, what: &str, done: impl Fn(&str) -> bool) -> String {
    let started = Instant::now();
    loop {
        let text = scrape(app).await;
        if done(&text) {
            return text;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "{what}:\n{text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn with_own_listener(backend: Backend) -> Option<TestApp> {
    spawn_app_with(backend, |settings| {
        settings.metrics.bind = Some("127.0.0.1:0".parse().unwrap());
        // Long enough that the second request with a key surely hits the cache.
        settings.key_cache_ttl = Duration::from_secs(60);
        settings.sweep_interval = Duration::from_millis(100);
    })
    .await
}

fn generate(app: &TestApp, name: &str) -> Generated {
    keys::generate(
        &mut app.db.get().unwrap(),
        &app.demo_merchant_id(),
        &GenerateRequest {
            name: name.to_owned(),
            ..GenerateRequest::default()
        },
        &Actor::cli(),
        &keyward::startup::key_pepper(&test_secret()),
        app.clock.now(),
    )
    .unwrap()
}

fn revoke(app: &TestApp, key: &Generated) {
    keys::revoke(
        &mut app.db.get().unwrap(),
        &app.demo_merchant_id(),
        &key.row.id,
        "REVOKE",
        &Actor::cli(),
        app.clock.now(),
    )
    .unwrap();
}

fn api_key(key: &ApiKey) -> String {
    format!("ApiKey {}", key.expose())
}

async fn metrics_are_served_nowhere_without_a_setting(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    assert!(app.metrics_address.is_none());
    let res = reqwest::Client::new()
        .get(format!("{}/metrics", app.address))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(!res.text().await.unwrap().contains("keyward_"));
}

async fn metrics_on_the_main_listener_ask_for_the_bearer_token(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |settings| {
        settings.metrics.token =
            Some(keyward::config::MetricsToken::parse(TOKEN, "KEYWARD_METRICS_TOKEN").unwrap());
    })
    .await
    else {
        return;
    };
    let client = reqwest::Client::new();
    let url = format!("{}/metrics", app.address);
    let refusals = [
        (None, "missing_token"),
        (Some(format!("Bearer {TOKEN}x")), "invalid_token"),
        (Some("Bearer ".to_owned()), "invalid_token"),
        (Some(format!("Basic {TOKEN}")), "invalid_token"),
        (Some(format!("ApiKey {TOKEN}")), "invalid_token"),
    ];
    for (authorization, code) in refusals {
        let mut request = client.get(&url);
        if let Some(value) = &authorization {
            request = request.header("Authorization", value);
        }
        let res = request.send().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{authorization:?}");
        assert_eq!(res.headers()["www-authenticate"], "Bearer");
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], code, "{authorization:?}: {body}");
        assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let res = client.get(&url).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let content_type = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let text = res.text().await.unwrap();
    assert!(
        text.contains("# TYPE keyward_key_cache_hits_total counter"),
        "{text}"
    );
    assert!(
        text.contains(r#"keyward_http_requests_total{route="/metrics",status="401"} 5"#),
        "the refused scrapes are counted like any request:\n{text}"
    );
    assert!(
        !crate::support::logs().contains(TOKEN),
        "the token is never logged"
    );
}

async fn a_metrics_listener_of_its_own_serves_them_and_the_main_port_does_not(backend: Backend) {
    let Some(app) = with_own_listener(backend).await else {
        return;
    };
    let text = scrape(&app).await;
    assert!(text.contains("keyward_db_pool_connections_in_use"), "{text}");
    let own = app.metrics_address.clone().unwrap();
    assert_ne!(own, app.address);
    for path in ["/", "/healthz", "/api/v1/whoami", "/settings/api-credentials"] {
        let res = reqwest::get(format!("{own}{path}")).await.unwrap();
        assert_eq!(
            res.status(),
            StatusCode::NOT_FOUND,
            "{path} on the metrics listener"
        );
    }
    let res = reqwest::get(format!("{}/metrics", app.address)).await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND, "not on the main listener");
}

async fn counters_move_by_the_traffic_the_server_answered(backend: Backend) {
    let Some(app) = with_own_listener(backend).await else {
        return;
    };
    let accepted = generate(&app, "Accepted");
    let revoked = generate(&app, "Revoked");
    revoke(&app, &revoked);
    let before = scrape(&app).await;

    let whoami = "/api/v1/whoami";
    for _ in 0..2 {
        let res = app.call(whoami, Some(&api_key(&accepted.key))).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    let res = app.call(whoami, Some(&api_key(&revoked.key))).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = app.call(whoami, Some(&api_key(&ApiKey::generate()))).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let browser = app.browser();
    assert_eq!(browser.get("/login").await.status(), StatusCode::OK);
    assert_eq!(browser.get("/no-such-page").await.status(), StatusCode::NOT_FOUND);
    let after = scrape(&app).await;

    let moved = |series: &str| sample(&after, series) - sample(&before, series);
    assert_eq!(
        moved(r#"keyward_verifications_total{outcome="accepted"}"#),
        2.0,
        "{after}"
    );
    assert_eq!(
        moved(r#"keyward_verifications_total{outcome="key_revoked"}"#),
        1.0
    );
    assert_eq!(
        moved(r#"keyward_verifications_total{outcome="invalid_key"}"#),
        1.0
    );
    assert_eq!(moved("keyward_verification_duration_seconds_count"), 4.0);
    assert_eq!(
        moved("keyward_key_cache_hits_total"),
        1.0,
        "the second request with the key"
    );
    assert_eq!(
        moved("keyward_key_cache_misses_total"),
        3.0,
        "the first of each key"
    );
    let requests = |route: &str, status: u16| {
        moved(&format!(
            r#"keyward_http_requests_total{{route="{route}",status="{status}"}}"#
        ))
    };
    assert_eq!(requests(whoami, 200), 2.0, "{after}");
    assert_eq!(requests(whoami, 401), 2.0);
    assert_eq!(requests("/login", 200), 1.0);
    assert_eq!(requests("unmatched", 404), 1.0);
    assert_eq!(
        moved(r#"keyward_http_request_duration_seconds_count{route="/api/v1/whoami"}"#),
        4.0
    );
    assert!(after.contains("\nkeyward_db_pool_connections_in_use "), "{after}");
    assert!(
        sample(&after, "keyward_db_pool_connections_idle") >= 1.0,
        "the pool keeps one idle connection:\n{after}"
    );

    // The four verifications are written by the next flush: a batch of rows observed.
    let flushed = scrape_until(&app, "a flush observed", |text| {
        sample(text, "keyward_usage_flush_batch_size_count")
            > sample(&after, "keyward_usage_flush_batch_size_count")
    })
    .await;
    assert!(
        sample(&flushed, "keyward_usage_flush_batch_size_sum") >= 2.0,
        "{flushed}"
    );
    assert!(
        sample(&flushed, "keyward_usage_flush_lag_seconds") > 0.0,
        "the counts waited for the flush:\n{flushed}"
    );
    assert_eq!(sample(&flushed, "keyward_usage_flush_failures_total"), 0.0);

    scrape_until(&app, "a sweep run counted", |text| {
        sample(text, r#"keyward_sweep_runs_total{step="sessions",result="ok"}"#) >= 1.0
    })
    .await;

    let heard = sample(&flushed, "keyward_change_notifications_total");
    if backend == Backend::Postgres {
        revoke(&app, &accepted);
        scrape_until(&app, "the revocation's notification counted", |text| {
            sample(text, "keyward_change_notifications_total") > heard
        })
        .await;
    } else {
        assert_eq!(heard, 0.0, "SQLite has nobody to hear");
    }
    assert_eq!(sample(&flushed, "keyward_listener_reconnects_total"), 0.0);
}

async fn one_route_label_however_many_ids_are_asked_for(backend: Backend) {
    let Some(app) = with_own_listener(backend).await else {
        return;
    };
    let browser = app.signed_in_admin().await;
    let ids: Vec<String> = (0..5).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    for id in &ids {
        let res = browser.get(&format!("/settings/api-credentials/{id}")).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "no such key");
        let res = browser.get(&format!("/nowhere/{id}")).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
    }
    let text = scrape(&app).await;
    for id in &ids {
        assert!(!text.contains(id.as_str()), "{id} became a label:\n{text}");
    }
    let key_page: Vec<&str> = text
        .lines()
        .filter(|line| line.starts_with("keyward_http_requests_total{"))
        .filter(|line| line.contains("/settings/api-credentials/{key_id}"))
        .collect();
    assert_eq!(
        key_page,
        [r#"keyward_http_requests_total{route="/settings/api-credentials/{key_id}",status="404"} 5"#],
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"keyward_http_requests_total{route="unmatched",status="404"}"#
        ),
        5.0,
        "{text}"
    );
}

async fn work_that_waits_for_a_pooled_connection_is_counted(backend: Backend) {
    let Some(test_db) = TestDb::create(backend) else {
        return;
    };
    let metrics = keyward::telemetry::Metrics::new();
    let db = keyward::db::Db::connect(&test_db.url)
        .unwrap()
        .with_metrics(metrics.clone());
    let alone = db.run(|_| Ok::<_, keyward::db::DbError>(())).await;
    alone.unwrap();
    let text = metrics.render();
    assert_eq!(
        sample(&text, "keyward_db_pool_waits_total"),
        0.0,
        "a free pool: no wait"
    );
    // More work at once than the pool has connections (8 on SQLite, 10 on Postgres):
    // the rest wait for the first to finish.
    let busy = (0..12).map(|_| {
        db.run(|_| {
            std::thread::sleep(Duration::from_millis(200));
            Ok::<_, keyward::db::DbError>(())
        })
    });
    for done in futures_util::future::join_all(busy).await {
        done.unwrap();
    }
    let text = metrics.render();
    let waits = sample(&text, "keyward_db_pool_waits_total");
    assert!((2.0..=4.0).contains(&waits), "{text}");
    assert_eq!(
        sample(&text, "keyward_db_pool_wait_duration_seconds_count"),
        waits
    );
    assert!(
        sample(&text, "keyward_db_pool_wait_duration_seconds_sum") >= 0.1 * waits,
        "each waited for a connection busy for 200 ms:\n{text}"
    );
}
