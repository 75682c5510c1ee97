//! The key-authenticated API, over HTTP against the real server.

use std::time::Duration as StdDuration;

use keyward::api::http_date;
use keyward::domain::{Actor, ApiKey};
use keyward::service::keys::{self, GenerateRequest, Generated};
use reqwest::{Response, StatusCode};
use time::Duration;

use crate::db_test;
use crate::support::{Backend, Browser, TestApp, spawn_app, spawn_app_with, test_secret};

fn generate(app: &TestApp, name: &str, scopes: &[&str], extra: GenerateRequest) -> Generated {
    keys::generate(
        &mut app.db.get().unwrap(),
        &app.demo_merchant_id(),
        &GenerateRequest {
            name: name.to_owned(),
            scopes: scopes.iter().map(|scope| (*scope).to_owned()).collect(),
            ..extra
        },
        &Actor::cli(),
        &keyward::startup::key_pepper(&test_secret()),
        app.clock.now(),
    )
    .unwrap()
}

/// Rotates `old` as the CLI would (another process: the server's cache is not told),
/// then waits out the cache's lifetime.
async fn rotate(app: &TestApp, old: &Generated, grace: keyward::domain::GracePeriod) -> Generated {
    let new = keys::rotate(
        &mut app.db.get().unwrap(),
        &app.demo_merchant_id(),
        &keys::Rotate {
            key_id: &old.row.id,
            grace,
            request_id: None,
        },
        &Actor::cli(),
        &keyward::startup::key_pepper(&test_secret()),
        app.clock.now(),
    )
    .unwrap();
    tokio::time::sleep(StdDuration::from_millis(1100)).await;
    new
}

async fn assert_error(res: Response, status: StatusCode, code: &str) {
    assert_eq!(res.status(), status, "expected {code}");
    if status == StatusCode::UNAUTHORIZED {
        assert_eq!(res.headers()["www-authenticate"], "ApiKey");
    }
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
}

fn bearer(key: &Generated) -> String {
    format!("ApiKey {}", key.key.expose())
}

db_test!(
    whoami_describes_the_key,
    forward_auth_answers_with_the_key_headers_and_checks_scopes,
    each_failure_has_its_code,
    header_variants_are_401_and_never_500,
    keys_are_read_from_the_authorization_header_only,
    a_bad_checksum_costs_no_database_query,
    revoking_on_the_dashboard_refuses_the_very_next_request,
    a_disabled_key_is_refused_and_accepted_again_once_enabled,
    a_key_in_grace_works_with_sunset_until_the_grace_ends,
    a_change_made_by_the_cli_is_picked_up_within_a_second,
    usage_reaches_the_database_within_a_couple_of_seconds,
    a_key_rate_limit_answers_429_with_retry_after,
    a_flood_of_made_up_keys_never_locks_out_a_cached_real_key_from_that_address,
    a_flood_of_made_up_keys_never_locks_out_an_uncached_real_key_from_that_address,
    a_key_stored_elsewhere_during_a_flood_works_at_once_from_the_flooding_address,
    x_merchant_id_sent_more_than_once_is_refused_with_400,
);

async fn whoami_describes_the_key(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let key = generate(
        &app,
        "Orders sync",
        &["orders:read", "orders:write"],
        GenerateRequest {
            expires: "30".into(),
            ..Default::default()
        },
    );
    let res = app.call("/api/v1/whoami", Some(&bearer(&key))).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers().get("sunset").is_none(),
        "an active key has no Sunset"
    );
    let expires = key.row.expires_at.unwrap();
    assert_eq!(
        res.headers()["x-keyward-key-expires"],
        http_date(expires).as_str()
    );
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["key_id"], key.row.id.as_str());
    assert_eq!(body["name"], "Orders sync");
    assert_eq!(body["merchant_id"], app.demo_merchant_id().as_str());
    assert_eq!(body["scopes"], serde_json::json!(["orders:read", "orders:write"]));
    assert_eq!(body["version"], 1);
    assert!(body["expires_at"].as_str().unwrap().ends_with('Z'));

    let lower = format!("apikey {}", key.key.expose());
    assert_eq!(
        app.call("/api/v1/whoami", Some(&lower)).await.status(),
        StatusCode::OK,
        "the scheme is case-insensitive"
    );
}

async fn forward_auth_answers_with_the_key_headers_and_checks_scopes(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let key = generate(
        &app,
        "Gateway",
        &["orders:read", "feeds:upload"],
        GenerateRequest::default(),
    );
    let res = app
        .call("/api/v1/auth?scope=orders:read", Some(&bearer(&key)))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()["x-keyward-merchant-id"],
        app.demo_merchant_id().as_str()
    );
    assert_eq!(res.headers()["x-keyward-key-id"], key.row.id.as_str());
    assert_eq!(res.headers()["x-keyward-scopes"], "orders:read feeds:upload");
    assert_eq!(
        app.call("/api/v1/auth", Some(&bearer(&key))).await.status(),
        StatusCode::OK,
        "no scope asked"
    );
    assert_error(
        app.call("/api/v1/auth?scope=orders:write", Some(&bearer(&key)))
            .await,
        StatusCode::FORBIDDEN,
        "insufficient_scope",
    )
    .await;
    assert_error(
        app.call("/api/v1/auth?scope=root", Some(&bearer(&key))).await,
        StatusCode::FORBIDDEN,
        "insufficient_scope",
    )
    .await;
    // Every scope named is checked: adding one, or an empty one first, widens nothing.
    for query in [
        "scope=orders:read&scope=orders:write",
        "scope=&scope=orders:write",
    ] {
        assert_error(
            app.call(&format!("/api/v1/auth?{query}"), Some(&bearer(&key)))
                .await,
            StatusCode::FORBIDDEN,
            "insufficient_scope",
        )
        .await;
    }
    assert_eq!(
        app.call(
            "/api/v1/auth?scope=orders:read&scope=feeds:upload",
            Some(&bearer(&key))
        )
        .await
        .status(),
        StatusCode::OK,
        "both held"
    );
}

async fn each_failure_has_its_code(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let whoami = "/api/v1/whoami";
    assert_error(
        app.call(whoami, None).await,
        StatusCode::UNAUTHORIZED,
        "missing_key",
    )
    .await;
    let made_up = format!("ApiKey {}", ApiKey::generate().expose());
    assert_error(
        app.call(whoami, Some(&made_up)).await,
        StatusCode::UNAUTHORIZED,
        "invalid_key",
    )
    .await;
    let mut mistyped = ApiKey::generate().expose().to_owned();
    mistyped.replace_range(20..21, if &mistyped[20..21] == "a" { "b" } else { "a" });
    assert_error(
        app.call(whoami, Some(&format!("ApiKey {mistyped}"))).await,
        StatusCode::UNAUTHORIZED,
        "malformed_key",
    )
    .await;

    let merchant = app.demo_merchant_id();
    let mut conn = app.db.get().unwrap();
    let now = app.clock.now();
    let disabled = generate(&app, "Disabled", &[], GenerateRequest::default());
    keys::disable(&mut conn, &merchant, &disabled.row.id, &Actor::cli(), now).unwrap();
    assert_error(
        app.call(whoami, Some(&bearer(&disabled))).await,
        StatusCode::UNAUTHORIZED,
        "key_disabled",
    )
    .await;
    let revoked = generate(&app, "Revoked", &[], GenerateRequest::default());
    keys::revoke(
        &mut conn,
        &merchant,
        &revoked.row.id,
        "REVOKE",
        &Actor::cli(),
        now,
    )
    .unwrap();
    assert_error(
        app.call(whoami, Some(&bearer(&revoked))).await,
        StatusCode::UNAUTHORIZED,
        "key_revoked",
    )
    .await;
    let expiring = generate(
        &app,
        "Expiring",
        &[],
        GenerateRequest {
            expires: "7".into(),
            ..Default::default()
        },
    );
    drop(conn);

    let scoped = generate(&app, "Scoped", &["products:read"], GenerateRequest::default());
    assert_error(
        app.call("/api/v1/auth?scope=orders:read", Some(&bearer(&scoped)))
            .await,
        StatusCode::FORBIDDEN,
        "insufficient_scope",
    )
    .await;
    let res = reqwest::Client::new()
        .get(format!("{}{whoami}", app.address))
        .header("Authorization", bearer(&scoped))
        .header("X-Merchant-Id", "someone-else")
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::FORBIDDEN, "merchant_mismatch").await;
    let res = reqwest::Client::new()
        .get(format!("{}{whoami}", app.address))
        .header("Authorization", bearer(&scoped))
        .header("X-Merchant-Id", merchant.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "the right merchant passes");

    app.clock.advance(Duration::days(7));
    tokio::time::sleep(StdDuration::from_millis(1100)).await;
    assert_error(
        app.call(whoami, Some(&bearer(&expiring))).await,
        StatusCode::UNAUTHORIZED,
        "key_expired",
    )
    .await;
}

async fn header_variants_are_401_and_never_500(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let key = generate(&app, "Real", &[], GenerateRequest::default());
    let client = reqwest::Client::new();
    let url = format!("{}/api/v1/whoami", app.address);
    let cases: Vec<(&str, Vec<Vec<u8>>)> = vec![
        ("missing", vec![]),
        ("empty", vec![b"".to_vec()]),
        ("scheme only", vec![b"ApiKey".to_vec()]),
        (
            "bearer",
            vec![format!("Bearer {}", key.key.expose()).into_bytes()],
        ),
        ("lowercase scheme, bad key", vec![b"apikey kw_live_nope".to_vec()]),
        (
            "two headers",
            vec![bearer(&key).into_bytes(), bearer(&key).into_bytes()],
        ),
        (
            "10 KB",
            vec![format!("ApiKey {}", "k".repeat(10 * 1024)).into_bytes()],
        ),
        ("non-ASCII", vec![b"ApiKey kw_live_\xc3\xa9t\xc3\xa9".to_vec()]),
        ("latin-1 byte", vec![b"ApiKey \xff\xfe".to_vec()]),
    ];
    for (name, values) in cases {
        let mut request = client.get(&url);
        for value in values {
            request = request.header(
                "Authorization",
                reqwest::header::HeaderValue::from_bytes(&value).unwrap(),
            );
        }
        let res = request.send().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{name}");
        let body: serde_json::Value = res.json().await.unwrap();
        assert!(
            ["missing_key", "malformed_key"].contains(&body["error"]["code"].as_str().unwrap()),
            "{name}: {body}"
        );
    }
}

async fn keys_are_read_from_the_authorization_header_only(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let key = generate(&app, "Header only", &[], GenerateRequest::default());
    let res = app
        .call(
            &format!(
                "/api/v1/whoami?api_key={}&key={}",
                key.key.expose(),
                key.key.expose()
            ),
            None,
        )
        .await;
    assert_error(res, StatusCode::UNAUTHORIZED, "missing_key").await;
    let res = reqwest::Client::new()
        .get(format!("{}/api/v1/whoami", app.address))
        .header("Cookie", format!("api_key={}", key.key.expose()))
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::UNAUTHORIZED, "missing_key").await;
}

async fn a_bad_checksum_costs_no_database_query(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let before = app.db.queries_started();
    for _ in 0..5 {
        let mut raw = ApiKey::generate().expose().to_owned();
        raw.truncate(48);
        raw.push_str("000000");
        assert_error(
            app.call("/api/v1/whoami", Some(&format!("ApiKey {raw}"))).await,
            StatusCode::UNAUTHORIZED,
            "malformed_key",
        )
        .await;
    }
    assert_eq!(app.db.queries_started(), before, "no statement ran");
    let made_up = format!("ApiKey {}", ApiKey::generate().expose());
    app.call("/api/v1/whoami", Some(&made_up)).await;
    assert!(
        app.db.queries_started() > before,
        "a well-formed key is looked up (the counter works)"
    );
}

async fn revoking_on_the_dashboard_refuses_the_very_next_request(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let key = generate(&app, "Soon revoked", &[], GenerateRequest::default());
    assert_eq!(
        app.call("/api/v1/whoami", Some(&bearer(&key))).await.status(),
        StatusCode::OK,
        "now cached"
    );
    let browser = app.signed_in_admin().await;
    let path = format!("/settings/api-credentials/{}/revoke", key.row.id);
    let token = browser.csrf_token(&path).await;
    let res = browser
        .post_form(&path, &[("csrf_token", &token), ("confirm", "REVOKE")])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_error(
        app.call("/api/v1/whoami", Some(&bearer(&key))).await,
        StatusCode::UNAUTHORIZED,
        "key_revoked",
    )
    .await;
}

async fn a_disabled_key_is_refused_and_accepted_again_once_enabled(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let key = generate(&app, "Toggled", &[], GenerateRequest::default());
    let browser = app.signed_in_admin().await;
    let token = browser.csrf_token("/settings/api-credentials").await;
    assert_eq!(
        app.call("/api/v1/whoami", Some(&bearer(&key))).await.status(),
        StatusCode::OK
    );
    browser
        .post_form(
            &format!("/settings/api-credentials/{}/disable", key.row.id),
            &[("csrf_token", &token)],
        )
        .await;
    assert_error(
        app.call("/api/v1/whoami", Some(&bearer(&key))).await,
        StatusCode::UNAUTHORIZED,
        "key_disabled",
    )
    .await;
    browser
        .post_form(
            &format!("/settings/api-credentials/{}/enable", key.row.id),
            &[("csrf_token", &token)],
        )
        .await;
    assert_eq!(
        app.call("/api/v1/whoami", Some(&bearer(&key))).await.status(),
        StatusCode::OK
    );
}

async fn a_key_in_grace_works_with_sunset_until_the_grace_ends(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let old = generate(&app, "Rotating", &[], GenerateRequest::default());
    let new = rotate(&app, &old, keyward::domain::GracePeriod::OneHour).await;
    let grace_end = keyward::db::keys::find(&mut app.db.get().unwrap(), &app.demo_merchant_id(), &old.row.id)
        .unwrap()
        .unwrap()
        .grace_ends_at
        .unwrap();
    let res = app.call("/api/v1/whoami", Some(&bearer(&old))).await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "the old key works during the grace period"
    );
    assert_eq!(res.headers()["sunset"], http_date(grace_end).as_str());
    let res = app.call("/api/v1/whoami", Some(&bearer(&new))).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().get("sunset").is_none());

    app.clock.advance(Duration::minutes(59));
    assert_eq!(
        app.call("/api/v1/whoami", Some(&bearer(&old))).await.status(),
        StatusCode::OK,
        "before the end"
    );
    app.clock.advance(Duration::minutes(1));
    assert_error(
        app.call("/api/v1/whoami", Some(&bearer(&old))).await,
        StatusCode::UNAUTHORIZED,
        "key_expired",
    )
    .await;
    assert_eq!(
        app.call("/api/v1/whoami", Some(&bearer(&new))).await.status(),
        StatusCode::OK
    );
}

async fn a_change_made_by_the_cli_is_picked_up_within_a_second(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let key = generate(&app, "From outside", &[], GenerateRequest::default());
    assert_eq!(
        app.call("/api/v1/whoami", Some(&bearer(&key))).await.status(),
        StatusCode::OK,
        "now cached"
    );
    // Another process: the cache is not told, so only its time-to-live brings the change.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_keyward"))
        .env("DATABASE_URL", app.test_db.url_string())
        .env("KEYWARD_SECRET", "test-secret-".repeat(8))
        .args(["key", "disable", &key.row.id])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let changed = std::time::Instant::now();
    loop {
        let res = app.call("/api/v1/whoami", Some(&bearer(&key))).await;
        if res.status() == StatusCode::UNAUTHORIZED {
            break;
        }
        assert!(
            changed.elapsed() < StdDuration::from_millis(1500),
            "still accepted after the time-to-live"
        );
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    }
}

async fn usage_reaches_the_database_within_a_couple_of_seconds(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let key = generate(&app, "Busy", &["orders:read"], GenerateRequest::default());
    for _ in 0..3 {
        assert_eq!(
            app.call("/api/v1/auth?scope=orders:read", Some(&bearer(&key)))
                .await
                .status(),
            StatusCode::OK
        );
    }
    for _ in 0..2 {
        assert_eq!(
            app.call("/api/v1/auth?scope=orders:write", Some(&bearer(&key)))
                .await
                .status(),
            StatusCode::FORBIDDEN
        );
    }
    let query = format!(
        "SELECT CAST(COALESCE(SUM(succeeded), 0) * 1000 + COALESCE(SUM(failed), 0) AS BIGINT) AS n FROM key_usage_hourly WHERE key_id = '{}'",
        key.row.id
    );
    let started = std::time::Instant::now();
    while app.count(&query) != 3002 {
        assert!(
            started.elapsed() < StdDuration::from_secs(3),
            "counts not flushed: {}",
            app.count(&query)
        );
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
    let row = keyward::db::keys::find(&mut app.db.get().unwrap(), &app.demo_merchant_id(), &key.row.id)
        .unwrap()
        .unwrap();
    assert!(row.last_used_at.is_some());
    assert_eq!(row.last_used_from.as_deref(), Some("127.0.0.1"));
    let browser = app.signed_in_admin().await;
    let page = browser.html("/settings/api-credentials").await;
    let card = &page[page.find("Busy</h2>").unwrap()..];
    let last_used = &card[card.find("<dt>Last Used</dt>").unwrap()..];
    assert!(
        !last_used.starts_with("<dt>Last Used</dt><dd>Never"),
        "Last Used is shown: {last_used}"
    );
}

async fn a_key_rate_limit_answers_429_with_retry_after(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let key = generate(
        &app,
        "Limited",
        &[],
        GenerateRequest {
            rate_limit: "2".into(),
            ..Default::default()
        },
    );
    for _ in 0..2 {
        assert_eq!(
            app.call("/api/v1/whoami", Some(&bearer(&key))).await.status(),
            StatusCode::OK
        );
    }
    let res = app.call("/api/v1/whoami", Some(&bearer(&key))).await;
    let retry_after: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after));
    assert_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}

/// The address the floods in these tests come from.
const FLOODER: &str = "127.0.0.5";

/// Sends `count` made-up keys with valid checksums from `source` all at once; returns
/// the statuses and the codes of the errors.
async fn flood(app: &TestApp, source: &str, count: usize) -> Vec<(StatusCode, String)> {
    let client = reqwest::Client::builder()
        .local_address(Some(source.parse().unwrap()))
        .build()
        .unwrap();
    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..count {
        let request = client
            .get(format!("{}/api/v1/whoami", app.address))
            .header("Authorization", format!("ApiKey {}", ApiKey::generate().expose()));
        requests.spawn(async move {
            let res = request.send().await.unwrap();
            let status = res.status();
            let body: serde_json::Value = res.json().await.unwrap();
            (
                status,
                body["error"]["code"].as_str().unwrap_or_default().to_owned(),
            )
        });
    }
    requests.join_all().await
}

/// Floods from [`FLOODER`] twice with 200 made-up keys: every one is refused as
/// invalid, the first flood spends the address's budget of database reads, and the
/// second costs fewer statements than one per five keys (reads of new keys, and
/// whatever the usage flusher and the sweep run meanwhile).
async fn flood_twice(app: &TestApp) {
    for round in ["first", "second"] {
        let before = app.db.queries_started();
        let statuses = flood(app, FLOODER, 200).await;
        let statements = app.db.queries_started() - before;
        assert!(
            statuses
                .iter()
                .all(|(status, code)| *status == StatusCode::UNAUTHORIZED && code == "invalid_key"),
            "{round} flood: {statuses:?}"
        );
        let budget = u64::from(keyward::api::limits::UNKNOWN_KEY_READS_PER_MINUTE);
        match round {
            "first" => assert!(
                (budget..budget + 40).contains(&statements),
                "the first flood reads its budget and little more: {statements} statements"
            ),
            _ => assert!(
                statements < 40,
                "a flood past the budget costs no read per key: {statements} statements"
            ),
        }
    }
}

async fn whoami_from(source: &str, app: &TestApp, key: &Generated) -> StatusCode {
    let from = Browser::from(&app.address, source);
    from.send(
        from.builder(reqwest::Method::GET, "/api/v1/whoami")
            .header("Authorization", bearer(key)),
    )
    .await
    .status()
}

async fn a_flood_of_made_up_keys_never_locks_out_a_cached_real_key_from_that_address(backend: Backend) {
    // A minute-long cache: the key verified before the floods is still cached after
    // them (on Postgres, unless the change listener fell silent meanwhile).
    let Some(app) = spawn_app_with(backend, |settings| {
        settings.key_cache_ttl = StdDuration::from_secs(60);
    })
    .await
    else {
        return;
    };
    let key = generate(&app, "Behind the NAT", &[], GenerateRequest::default());
    assert_eq!(whoami_from(FLOODER, &app, &key).await, StatusCode::OK);
    flood_twice(&app).await;
    assert_eq!(whoami_from(FLOODER, &app, &key).await, StatusCode::OK);
}

async fn a_flood_of_made_up_keys_never_locks_out_an_uncached_real_key_from_that_address(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |settings| settings.key_cache_ttl = StdDuration::ZERO).await
    else {
        return;
    };
    let key = generate(&app, "Behind the NAT", &[], GenerateRequest::default());
    flood_twice(&app).await;
    for _ in 0..3 {
        assert_eq!(whoami_from(FLOODER, &app, &key).await, StatusCode::OK);
    }
    assert_eq!(
        app.call("/api/v1/whoami", Some(&bearer(&key))).await.status(),
        StatusCode::OK,
        "nor from another address"
    );
}

async fn a_key_stored_elsewhere_during_a_flood_works_at_once_from_the_flooding_address(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    flood_twice(&app).await;
    // Stored by another process, as the CLI or another instance would: this server
    // learns of it only from the database.
    let key = generate(&app, "Brand new", &[], GenerateRequest::default());
    assert_eq!(whoami_from(FLOODER, &app, &key).await, StatusCode::OK);
}

/// Postgres only: SQLite commits one writer at a time, so keys commit in the order of
/// their `seq` there.
#[tokio::test]
async fn a_key_whose_insert_commits_after_a_newer_one_still_works_from_a_flooding_address() {
    let Some(app) = spawn_app(Backend::Postgres).await else {
        return;
    };
    flood_twice(&app).await;
    // An insert that draws its `seq` first and commits last.
    let (inserted_tx, inserted) = std::sync::mpsc::channel();
    let (commit_tx, commit) = std::sync::mpsc::channel::<()>();
    let db = app.db.clone();
    let merchant = app.demo_merchant_id();
    let slow = std::thread::spawn(move || {
        use diesel::Connection;
        let mut conn = db.get().unwrap();
        conn.transaction(|conn| {
            let key = keys::generate(
                conn,
                &merchant,
                &GenerateRequest {
                    name: "Slow".into(),
                    ..Default::default()
                },
                &Actor::cli(),
                &keyward::startup::key_pepper(&test_secret()),
                keyward::clock::Clock::default().now(),
            )
            .unwrap();
            inserted_tx.send(key).unwrap();
            commit.recv().unwrap();
            diesel::QueryResult::Ok(())
        })
        .unwrap();
    });
    let slow_key = inserted.recv().unwrap();
    // Another merchant's: keys of one merchant are stored one at a time, under its lock.
    let newer = keys::generate(
        &mut app.db.get().unwrap(),
        &app.create_merchant("Other Merchant"),
        &GenerateRequest {
            name: "Newer".into(),
            ..Default::default()
        },
        &Actor::cli(),
        &keyward::startup::key_pepper(&test_secret()),
        app.clock.now(),
    )
    .unwrap();
    let address = app.address.clone();
    let newer_auth = bearer(&newer);
    let newer_status = tokio::spawn(async move {
        reqwest::Client::builder()
            .local_address(Some(FLOODER.parse().unwrap()))
            .build()
            .unwrap()
            .get(format!("{address}/api/v1/whoami"))
            .header("Authorization", newer_auth)
            .send()
            .await
            .unwrap()
            .status()
    });
    // Commit the slow insert once the newer key's lookup is done, or waits for it.
    let started = std::time::Instant::now();
    while !newer_status.is_finished()
        && app.count("SELECT COUNT(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted") == 0
    {
        assert!(
            started.elapsed() < StdDuration::from_secs(5),
            "the lookup neither ended nor waited"
        );
        tokio::time::sleep(StdDuration::from_millis(10)).await;
    }
    commit_tx.send(()).unwrap();
    slow.join().unwrap();
    assert_eq!(newer_status.await.unwrap(), StatusCode::OK);
    assert_eq!(whoami_from(FLOODER, &app, &slow_key).await, StatusCode::OK);
}

async fn x_merchant_id_sent_more_than_once_is_refused_with_400(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let key = generate(&app, "Merchant", &[], GenerateRequest::default());
    let merchant = app.demo_merchant_id();
    let request = || {
        reqwest::Client::new()
            .get(format!("{}/api/v1/whoami", app.address))
            .header("Authorization", bearer(&key))
    };
    let before = app.db.queries_started();
    for (what, request) in [
        (
            "the same value twice",
            request()
                .header("X-Merchant-Id", merchant.as_str())
                .header("X-Merchant-Id", merchant.as_str()),
        ),
        (
            "another merchant second",
            request()
                .header("X-Merchant-Id", merchant.as_str())
                .header("X-Merchant-Id", "someone-else"),
        ),
        (
            "folded into one header",
            request().header("X-Merchant-Id", format!("{merchant}, someone-else")),
        ),
    ] {
        let res = request.send().await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{what}");
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "duplicate_merchant_id", "{what}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("X-Merchant-Id"))
        );
    }
    assert_eq!(app.db.queries_started(), before, "refused before any lookup");
    let once = request()
        .header("X-Merchant-Id", merchant.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(once.status(), StatusCode::OK, "once is fine");
}

db_test!(
    cards_and_the_key_page_show_usage_from_the_api,
    keys_expiring_within_a_week_are_flagged_and_filterable,
    a_rotated_card_compares_versions_and_says_when_revoking_is_safe,
    the_rate_limit_is_chosen_at_generate_and_shown,
);

async fn cards_and_the_key_page_show_usage_from_the_api(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let key = generate(&app, "Charted", &["orders:read"], GenerateRequest::default());
    for _ in 0..4 {
        app.call("/api/v1/auth?scope=orders:read", Some(&bearer(&key)))
            .await;
    }
    app.call("/api/v1/auth?scope=orders:write", Some(&bearer(&key)))
        .await;
    app.wait_for_flush(&key.row.id, 5).await;

    let browser = app.signed_in_admin().await;
    let page = browser.html("/settings/api-credentials").await;
    let card = &page[page.find("Charted</h2>").unwrap()..];
    let card = &card[..card.find("</article>").unwrap()];
    assert!(
        card.contains("4 successful") && card.contains("1 failed") && card.contains("20.0%"),
        "{card}"
    );
    assert!(
        card.contains("just now") && card.contains(r#"<time datetime=""#),
        "{card}"
    );

    let detail = browser
        .get(&format!("/settings/api-credentials/{}", key.row.id))
        .await;
    assert_eq!(detail.status(), StatusCode::OK);
    let html = detail.text().await.unwrap();
    for text in [
        "Developers corner",
        &key.row.id,
        &key.row.masked_key,
        "Versions",
        "Requests in the last 24 hours",
        "<svg",
        "History",
        "Created by the command line on",
    ] {
        assert!(html.contains(text), "{text} missing");
    }
    assert_eq!(html.matches(r#"class="bar-ok""#).count(), 24, "one bar per hour");
    assert!(
        html.contains(": 4 successful, 1 failed</title>"),
        "the current hour's bar"
    );
    assert!(
        !html.contains("<script>") && !html.contains(" style="),
        "no inline script or style"
    );

    let viewer = app.browser();
    app.create_member(
        "v@example.com",
        "viewer password",
        &app.demo_merchant_id(),
        keyward::domain::Role::Viewer,
    );
    viewer.sign_in("v@example.com", "viewer password").await;
    assert_eq!(
        viewer
            .get(&format!("/settings/api-credentials/{}", key.row.id))
            .await
            .status(),
        StatusCode::OK
    );
    for id in ["not-a-key", "00000000-0000-0000-0000-000000000000"] {
        assert_eq!(
            viewer
                .get(&format!("/settings/api-credentials/{id}"))
                .await
                .status(),
            StatusCode::NOT_FOUND
        );
    }
}

async fn keys_expiring_within_a_week_are_flagged_and_filterable(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    generate(
        &app,
        "Soon",
        &[],
        GenerateRequest {
            expires: "7".into(),
            ..Default::default()
        },
    );
    generate(
        &app,
        "Later",
        &[],
        GenerateRequest {
            expires: "30".into(),
            ..Default::default()
        },
    );
    let browser = app.signed_in_admin().await;
    let page = browser.html("/settings/api-credentials").await;
    assert_eq!(page.matches(">Expires soon<").count(), 1);
    assert!(page.contains("Expiring soon (1)"));
    let filtered = browser.html("/settings/api-credentials?filter=expiring").await;
    assert!(filtered.contains("Soon</h2>") && !filtered.contains("Later</h2>"));
    assert!(filtered.contains("Show all keys"));
}

async fn a_rotated_card_compares_versions_and_says_when_revoking_is_safe(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let old = generate(&app, "Migrating", &[], GenerateRequest::default());
    app.call("/api/v1/whoami", Some(&bearer(&old))).await;
    app.wait_for_flush(&old.row.id, 1).await;
    let new = rotate(&app, &old, keyward::domain::GracePeriod::OneDay).await;
    for _ in 0..2 {
        app.call("/api/v1/whoami", Some(&bearer(&new))).await;
    }
    app.wait_for_flush(&new.row.id, 2).await;
    let browser = app.signed_in_admin().await;
    let page = browser.html("/settings/api-credentials").await;
    assert!(
        page.contains("Last hour: 1 requests on this version, 2 on version 2."),
        "{page}"
    );
    assert!(
        !page.contains("Safe to revoke"),
        "the old key was used a moment ago"
    );

    app.clock.advance(Duration::minutes(61));
    let browser = app.signed_in_admin().await;
    let page = browser.html("/settings/api-credentials").await;
    assert!(page.contains("Safe to revoke"), "{page}");
}

fn nonce_in(form: &str) -> String {
    let marker = r#"name="nonce" value=""#;
    let start = form.find(marker).unwrap() + marker.len();
    form[start..start + form[start..].find('"').unwrap()].to_owned()
}

async fn the_rate_limit_is_chosen_at_generate_and_shown(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let browser = app.signed_in_admin().await;
    let generate = |rate_limit: &'static str| {
        let browser = &browser;
        async move {
            let form = browser.html("/settings/api-credentials/new").await;
            assert!(form.contains(r#"name="rate_limit""#));
            let (token, nonce) = (crate::support::csrf_token_in(&form).unwrap(), nonce_in(&form));
            let fields = [
                ("csrf_token", token.as_str()),
                ("nonce", &nonce),
                ("name", "Throttled"),
                ("rate_limit", rate_limit),
            ];
            browser.post_form("/settings/api-credentials", &fields).await
        }
    };
    let res = generate("lots").await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("requests per minute"));
    assert_eq!(generate("600").await.status(), StatusCode::OK);
    let page = browser.html("/settings/api-credentials").await;
    assert!(page.contains("600 per minute"));
}

db_test!(every_dashboard_change_is_seen_by_the_very_next_request);

/// Cached, then changed on the dashboard, then asked again at once: each change must
/// clear the cache itself, not wait for the entry's lifetime.
async fn every_dashboard_change_is_seen_by_the_very_next_request(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let key = generate(
        &app,
        "Changing",
        &["orders:read", "orders:write"],
        GenerateRequest::default(),
    );
    let browser = app.signed_in_admin().await;
    let base = format!("/settings/api-credentials/{}", key.row.id);
    let authorization = bearer(&key);
    let auth = |scope: &'static str| {
        let path = if scope == "write" {
            "/api/v1/auth?scope=orders:write"
        } else {
            "/api/v1/auth?scope=orders:read"
        };
        app.call(path, Some(&authorization))
    };

    // Edit removes a scope.
    let token = browser.csrf_token(&format!("{base}/edit")).await;
    assert_eq!(auth("write").await.status(), StatusCode::OK, "now cached");
    let res = browser
        .post_form(
            &format!("{base}/edit"),
            &[
                ("csrf_token", &token),
                ("name", "Changing"),
                ("scopes", "orders:read"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_error(auth("write").await, StatusCode::FORBIDDEN, "insufficient_scope").await;
    assert_eq!(auth("read").await.status(), StatusCode::OK);

    // Rotation without grace retires the key at once.
    let form = browser.html(&format!("{base}/rotate")).await;
    let nonce = nonce_in(&form);
    assert_eq!(auth("read").await.status(), StatusCode::OK, "cached again");
    let res = browser
        .post_form(
            &format!("{base}/rotate"),
            &[("csrf_token", &token), ("nonce", &nonce), ("grace", "now")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_error(auth("read").await, StatusCode::UNAUTHORIZED, "key_expired").await;
}
