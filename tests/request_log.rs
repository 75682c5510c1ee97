//! The request log: what each verification leaves in `key_requests`, written by the
//! usage flush, bounded under floods, pruned by the sweep.

use std::collections::HashSet;

use diesel::prelude::*;
use keyward::db::key_requests::RequestRow;
use keyward::db::schema::key_requests;
use keyward::domain::{ApiKey, MerchantId};
use reqwest::StatusCode;

use crate::db_test;
use crate::support::cli::{assert_one_line_error, json_of, run_key, run_remote, stdout};
use crate::support::dashboard::Dashboard;
use crate::support::manage::ManageApi;
use crate::support::tokens::create_token;
use crate::support::{Backend, TestApp, spawn_app_with};

db_test!(
    accepted_requests_are_counted_per_address_and_minute,
    refused_requests_are_kept_under_the_request_id_they_were_answered_with,
    a_flood_of_refusals_leaves_a_bounded_number_of_rows_that_add_up,
    unknown_keys_are_kept_only_for_an_existing_merchant_named_in_x_merchant_id,
    forward_auth_keeps_the_method_and_path_the_gateway_reports,
    only_a_trusted_gateway_writes_the_logged_method_and_path,
    the_card_shows_where_the_key_was_last_used_from,
    the_sweep_prunes_rows_older_than_the_retention,
    a_log_of_zero_days_keeps_nothing,
    the_management_api_lists_a_keys_requests_newest_first_a_page_at_a_time,
    key_requests_prints_the_log_from_the_database_and_through_the_api,
    what_a_caller_sends_is_kept_printable_and_never_as_a_whole_key,
    log_rows_the_database_refuses_hold_back_nothing_else,
);

/// A server that believes `X-Forwarded-For` from the test client, so each test can
/// choose its client's address.
async fn app_behind_proxy(backend: Backend) -> Option<TestApp> {
    spawn_app_with(backend, |settings| {
        settings.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await
}

/// One active key of the first merchant (scope `orders:read`): the key and its ID.
fn one_key(app: &TestApp) -> (ApiKey, String, MerchantId) {
    let merchant = app.demo_merchant_id();
    let key = app.seed_keys(&merchant, 1, 0).remove(0);
    let id = crate::support::cli::key_named(app, "Key 001")
        .id
        .as_str()
        .to_owned();
    (key, id, merchant)
}

/// `GET path` with these headers.
async fn get(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = reqwest::Client::new().get(format!("{}{path}", app.address));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

/// Every stored row, oldest first.
fn rows(app: &TestApp) -> Vec<RequestRow> {
    let mut conn = app.db.get().unwrap();
    key_requests::table
        .select(RequestRow::as_select())
        .order((key_requests::first_at.asc(), key_requests::id.asc()))
        .load(&mut **conn)
        .unwrap()
}

async fn accepted_requests_are_counted_per_address_and_minute(backend: Backend) {
    let Some(app) = app_behind_proxy(backend).await else {
        return;
    };
    let (key, id, merchant) = one_key(&app);
    let auth = format!("ApiKey {}", key.expose());
    for n in 0..5 {
        let agent = format!("billing-worker/{n}");
        let res = get(
            &app,
            "/api/v1/whoami",
            &[
                ("Authorization", &auth),
                ("X-Forwarded-For", "203.0.113.7"),
                ("User-Agent", &agent),
            ],
        )
        .await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    for _ in 0..3 {
        let headers = [
            ("Authorization", auth.as_str()),
            ("X-Forwarded-For", "198.51.100.2"),
            ("User-Agent", "cron"),
        ];
        assert_eq!(
            get(&app, "/api/v1/whoami", &headers).await.status(),
            StatusCode::OK
        );
    }
    app.wait_for_flush(&id, 8).await;

    let stored = rows(&app);
    let from = |address: &str| -> Vec<&RequestRow> {
        stored
            .iter()
            .filter(|row| row.client_address == address)
            .collect()
    };
    let (first, second) = (from("203.0.113.7"), from("198.51.100.2"));
    // One row per minute: two only when the requests straddled a minute's end.
    assert!(
        (1..=2).contains(&first.len()) && (1..=2).contains(&second.len()),
        "{stored:?}"
    );
    assert_eq!(first.iter().map(|row| row.count).sum::<i64>(), 5);
    assert_eq!(second.iter().map(|row| row.count).sum::<i64>(), 3);
    for row in &stored {
        assert_eq!(row.outcome, "accepted");
        assert_eq!(
            row.request_id, "",
            "accepted rows are counted, not kept one by one"
        );
        assert_eq!(row.key_id.as_deref(), Some(id.as_str()));
        assert_eq!(row.merchant_id.as_str(), merchant.as_str());
        assert_eq!(
            (row.method.as_str(), row.path.as_str()),
            ("GET", "/api/v1/whoami")
        );
        assert!(row.first_at <= row.last_at && row.minute <= row.first_at);
    }
    let latest = first.iter().max_by_key(|row| row.last_at).unwrap();
    assert_eq!(
        latest.user_agent, "billing-worker/4",
        "the latest request's agent"
    );

    // The next minute is a row of its own; the same minute again adds to its row.
    app.clock.advance(time::Duration::minutes(2));
    let headers = [
        ("Authorization", auth.as_str()),
        ("X-Forwarded-For", "203.0.113.7"),
    ];
    for _ in 0..2 {
        assert_eq!(
            get(&app, "/api/v1/whoami", &headers).await.status(),
            StatusCode::OK
        );
    }
    app.wait_for_flush(&id, 10).await;
    let later = rows(&app);
    assert_eq!(later.len(), stored.len() + 1, "{later:?}");
    assert_eq!(later.iter().map(|row| row.count).sum::<i64>(), 10);
}

async fn refused_requests_are_kept_under_the_request_id_they_were_answered_with(backend: Backend) {
    let Some(app) = app_behind_proxy(backend).await else {
        return;
    };
    let (key, id, _) = one_key(&app);
    let other = app.create_merchant("Other Shop");
    let auth = format!("ApiKey {}", key.expose());
    let mut answered = Vec::new();
    for (path, merchant, outcome, detail) in [
        (
            "/api/v1/auth?scope=orders:read&scope=refunds:write",
            None,
            "insufficient_scope",
            "refunds:write",
        ),
        (
            "/api/v1/whoami",
            Some(other.as_str()),
            "merchant_mismatch",
            other.as_str(),
        ),
        (
            "/api/v1/whoami",
            Some(other.as_str()),
            "merchant_mismatch",
            other.as_str(),
        ),
    ] {
        let mut headers = vec![
            ("Authorization", auth.as_str()),
            ("X-Forwarded-For", "192.0.2.44"),
        ];
        if let Some(merchant) = merchant {
            headers.push(("X-Merchant-Id", merchant));
        }
        let res = get(&app, path, &headers).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        let request_id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
        answered.push((request_id, outcome, detail.to_owned()));
    }
    app.wait_for_flush(&id, 3).await;

    let stored = rows(&app);
    assert_eq!(stored.len(), 3, "each refusal a row of its own: {stored:?}");
    for (request_id, outcome, detail) in &answered {
        let row = stored
            .iter()
            .find(|row| &row.request_id == request_id)
            .unwrap_or_else(|| panic!("no row for {request_id}: {stored:?}"));
        assert_eq!(
            (row.outcome.as_str(), row.detail.as_str()),
            (*outcome, detail.as_str())
        );
        assert_eq!((row.count, row.client_address.as_str()), (1, "192.0.2.44"));
        assert_eq!(row.key_id.as_deref(), Some(id.as_str()));
    }
}

async fn a_flood_of_refusals_leaves_a_bounded_number_of_rows_that_add_up(backend: Backend) {
    let Some(app) = app_behind_proxy(backend).await else {
        return;
    };
    let (key, id, merchant) = one_key(&app);
    let auth = format!("ApiKey {}", key.expose());
    let made_up = format!("ApiKey {}", ApiKey::generate().expose());
    let client = reqwest::Client::new();
    let scoped = format!("{}/api/v1/auth?scope=refunds:write", app.address);
    let whoami = format!("{}/api/v1/whoami", app.address);
    let wave = 100;
    // Two waves, each flushed before the next: the second adds to the rows the first
    // left (most often in the same minute, so the counted rows are upserted).
    for flushed in [wave, 2 * wave] {
        let refused = futures_util::future::join_all((0..wave).map(|_| {
            client
                .get(&scoped)
                .header("Authorization", &auth)
                .header("X-Forwarded-For", "203.0.113.66")
                .send()
        }))
        .await;
        assert!(
            refused
                .iter()
                .all(|res| res.as_ref().unwrap().status() == StatusCode::FORBIDDEN)
        );
        let unknown = futures_util::future::join_all((0..wave).map(|_| {
            client
                .get(&whoami)
                .header("Authorization", &made_up)
                .header("X-Merchant-Id", merchant.as_str())
                .header("X-Forwarded-For", "203.0.113.67")
                .send()
        }))
        .await;
        assert!(
            unknown
                .iter()
                .all(|res| res.as_ref().unwrap().status() == StatusCode::UNAUTHORIZED)
        );
        app.wait_for_flush(&id, flushed).await;
    }

    // The key's usage is flushed; the merchant's rows for unknown keys may be written
    // by the next flush.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let stored = loop {
        let stored = rows(&app);
        let unknown: i64 = stored
            .iter()
            .filter(|row| row.key_id.is_none())
            .map(|row| row.count)
            .sum();
        if unknown >= 2 * wave || std::time::Instant::now() > deadline {
            break stored;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let kept = keyward::usage::requests::KEPT_PER_MINUTE as usize;
    for (rows, outcome) in [
        (
            stored
                .iter()
                .filter(|row| row.key_id.is_some())
                .collect::<Vec<_>>(),
            "insufficient_scope",
        ),
        (
            stored
                .iter()
                .filter(|row| row.key_id.is_none())
                .collect::<Vec<_>>(),
            "invalid_key",
        ),
    ] {
        // At most two minutes (the flood may straddle a minute's end): in each, the cap
        // of rows kept one by one and one row counting the rest.
        assert!(rows.len() <= 2 * (kept + 1), "{} {outcome} rows", rows.len());
        assert!(rows.len() > kept, "the first {kept} are kept one by one");
        assert_eq!(rows.iter().map(|row| row.count).sum::<i64>(), 2 * wave);
        let singles: Vec<&&RequestRow> = rows.iter().filter(|row| !row.request_id.is_empty()).collect();
        let distinct: HashSet<&str> = singles.iter().map(|row| row.request_id.as_str()).collect();
        assert_eq!(distinct.len(), singles.len());
        assert!(singles.iter().all(|row| row.count == 1 && row.outcome == outcome));
        let counted: Vec<&&RequestRow> = rows.iter().filter(|row| row.request_id.is_empty()).collect();
        assert!(
            (1..=2).contains(&counted.len()),
            "one counted row a minute: {counted:?}"
        );
        assert!(counted.iter().all(|row| row.outcome == outcome && row.count > 1));
    }
}

async fn unknown_keys_are_kept_only_for_an_existing_merchant_named_in_x_merchant_id(backend: Backend) {
    let Some(app) = app_behind_proxy(backend).await else {
        return;
    };
    let (key, id, merchant) = one_key(&app);
    let made_up = ApiKey::generate();
    let made_up_auth = format!("ApiKey {}", made_up.expose());
    // A real key with one character changed: its checksum no longer holds.
    let mut mistyped = key.expose().to_owned();
    let swapped = if mistyped.as_bytes()[12] == b'a' { "b" } else { "a" };
    mistyped.replace_range(12..13, swapped);
    let mistyped_auth = format!("ApiKey {mistyped}");
    let nobody = "0b6f2b1e-5d4a-4c1b-9a53-1f2e3d4c5b6a";
    let address = ("X-Forwarded-For", "198.51.100.99");
    let named = ("X-Merchant-Id", merchant.as_str());
    for (headers, status) in [
        (
            vec![("Authorization", made_up_auth.as_str()), address, named],
            StatusCode::UNAUTHORIZED,
        ),
        (
            vec![("Authorization", mistyped_auth.as_str()), address, named],
            StatusCode::UNAUTHORIZED,
        ),
        // The integration lost its key but still names its merchant.
        (vec![address, named], StatusCode::UNAUTHORIZED),
        // Not kept: no merchant named, a merchant that does not exist, an unreadable ID.
        (
            vec![("Authorization", made_up_auth.as_str()), address],
            StatusCode::UNAUTHORIZED,
        ),
        (
            vec![
                ("Authorization", made_up_auth.as_str()),
                address,
                ("X-Merchant-Id", nobody),
            ],
            StatusCode::UNAUTHORIZED,
        ),
        (
            vec![
                ("Authorization", made_up_auth.as_str()),
                address,
                ("X-Merchant-Id", "shop-1"),
            ],
            StatusCode::UNAUTHORIZED,
        ),
    ] {
        assert_eq!(get(&app, "/api/v1/whoami", &headers).await.status(), status);
    }
    // A real key's use after them: once it is flushed, so are they.
    let auth = format!("ApiKey {}", key.expose());
    assert_eq!(
        get(&app, "/api/v1/whoami", &[("Authorization", &auth)])
            .await
            .status(),
        StatusCode::OK
    );
    app.wait_for_flush(&id, 1).await;

    let unknown: Vec<RequestRow> = rows(&app)
        .into_iter()
        .filter(|row| row.key_id.is_none())
        .collect();
    assert_eq!(unknown.len(), 3, "{unknown:?}");
    for row in &unknown {
        assert_eq!(row.merchant_id.as_str(), merchant.as_str());
        assert_eq!(row.client_address, "198.51.100.99");
        assert!(!row.request_id.is_empty());
    }
    let invalid = unknown.iter().find(|row| row.outcome == "invalid_key").unwrap();
    assert_eq!(invalid.presented_key, made_up.masked());
    let malformed = unknown.iter().find(|row| row.outcome == "malformed_key").unwrap();
    assert_eq!(malformed.detail, "checksum");
    assert_eq!(
        malformed.presented_key,
        key.masked(),
        "the ends of the key are kept"
    );
    let missing = unknown.iter().find(|row| row.outcome == "missing_key").unwrap();
    assert_eq!(missing.presented_key, "");
}

async fn forward_auth_keeps_the_method_and_path_the_gateway_reports(backend: Backend) {
    let Some(app) = app_behind_proxy(backend).await else {
        return;
    };
    let (key, id, _) = one_key(&app);
    let auth = format!("ApiKey {}", key.expose());
    let leaked = ApiKey::generate();
    let traefik_uri = format!("/v2/orders/42?token={}", leaked.expose());
    let nginx_uri = format!("/v2/keys/{}/refunds", leaked.expose());
    for (headers, address) in [
        (
            vec![
                ("X-Forwarded-Method", "POST"),
                ("X-Forwarded-Uri", traefik_uri.as_str()),
            ],
            "203.0.113.1",
        ),
        (
            vec![
                ("X-Original-Method", "DELETE"),
                ("X-Original-URI", nginx_uri.as_str()),
            ],
            "203.0.113.2",
        ),
    ] {
        let mut headers = headers;
        headers.push(("Authorization", &auth));
        headers.push(("X-Forwarded-For", address));
        assert_eq!(get(&app, "/api/v1/auth", &headers).await.status(), StatusCode::OK);
    }
    app.wait_for_flush(&id, 2).await;

    let stored = rows(&app);
    let at = |address: &str| stored.iter().find(|row| row.client_address == address).unwrap();
    let traefik = at("203.0.113.1");
    assert_eq!(
        (traefik.method.as_str(), traefik.path.as_str()),
        ("POST", "/v2/orders/42")
    );
    let nginx = at("203.0.113.2");
    assert_eq!(nginx.method, "DELETE");
    assert_eq!(nginx.path, format!("/v2/keys/{}/refunds", leaked.masked()));
    assert!(stored.iter().all(|row| !row.path.contains(leaked.expose())));
}

async fn only_a_trusted_gateway_writes_the_logged_method_and_path(backend: Backend) {
    // No trusted proxy: the caller is a client, whatever headers it sends.
    let Some(app) = spawn_app_with(backend, |_| {}).await else {
        return;
    };
    let (key, id, _) = one_key(&app);
    let auth = format!("ApiKey {}", key.expose());
    let headers = [
        ("Authorization", auth.as_str()),
        ("X-Forwarded-Method", "DELETE"),
        ("X-Forwarded-Uri", "/products/harmless"),
        ("X-Original-Method", "DELETE"),
        ("X-Original-URI", "/products/harmless"),
    ];
    assert_eq!(get(&app, "/api/v1/auth", &headers).await.status(), StatusCode::OK);
    app.wait_for_flush(&id, 1).await;
    let stored = rows(&app);
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(
        (stored[0].method.as_str(), stored[0].path.as_str()),
        ("GET", "/api/v1/auth"),
        "the request as it came, not as its sender describes another"
    );
}

async fn the_card_shows_where_the_key_was_last_used_from(backend: Backend) {
    let Some(app) = app_behind_proxy(backend).await else {
        return;
    };
    let dash = Dashboard::admin(&app).await;
    let key = dash.generate_ok("Worker").await;
    let row = dash.key_named("Worker");
    let auth = format!("ApiKey {key}");
    let agent = "ShopSync/3.1 (+https://shopsync.example/bot; contact ops@shopsync.example)";
    let headers = [
        ("Authorization", auth.as_str()),
        ("X-Forwarded-For", "203.0.113.50"),
        ("User-Agent", agent),
    ];
    assert_eq!(
        get(&app, "/api/v1/whoami", &headers).await.status(),
        StatusCode::OK
    );
    app.wait_for_flush(row.id.as_str(), 1).await;
    assert_eq!(dash.row(&row.id).last_used_agent.as_deref(), Some(agent));

    let shown = format!("203.0.113.50 · {}…", &agent[..40]);
    let key_page = format!("{}/{}", crate::support::dashboard::LIST, row.id);
    for html in [dash.page().await, dash.browser.html(&key_page).await] {
        assert!(
            html.contains(&format!(
                "<dt>Last used from</dt><dd title=\"{}\">{shown}</dd>",
                escape(agent)
            )),
            "{html}"
        );
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('"', "&#34;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\'', "&#39;")
}

async fn the_sweep_prunes_rows_older_than_the_retention(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |settings| {
        settings.sweep_interval = std::time::Duration::from_millis(100);
        settings.request_log_days = 3;
    })
    .await
    else {
        return;
    };
    let (_, id, merchant) = one_key(&app);
    let now = app.clock.now();
    let mut conn = app.db.get().unwrap();
    for (row_id, days) in [("old-1", 4), ("old-2", 30), ("recent", 2)] {
        let at = now - time::Duration::days(days);
        diesel::insert_into(key_requests::table)
            .values((
                key_requests::id.eq(row_id),
                key_requests::merchant_id.eq(merchant.as_str()),
                key_requests::key_id.eq(Some(id.as_str())),
                key_requests::minute.eq(at),
                key_requests::first_at.eq(at),
                key_requests::last_at.eq(at),
                key_requests::outcome.eq("accepted"),
                key_requests::client_address.eq("192.0.2.1"),
                key_requests::count.eq(1_i64),
            ))
            .execute(&mut **conn)
            .unwrap();
    }
    drop(conn);
    let started = std::time::Instant::now();
    loop {
        let left: Vec<String> = rows(&app).into_iter().map(|row| row.id).collect();
        if left == ["recent"] {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "not pruned: {left:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

async fn a_log_of_zero_days_keeps_nothing(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |settings| settings.request_log_days = 0).await else {
        return;
    };
    let (key, id, _) = one_key(&app);
    let auth = format!("ApiKey {}", key.expose());
    assert_eq!(
        get(&app, "/api/v1/whoami", &[("Authorization", &auth)])
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        get(
            &app,
            "/api/v1/auth?scope=refunds:write",
            &[("Authorization", &auth)]
        )
        .await
        .status(),
        StatusCode::FORBIDDEN
    );
    app.wait_for_flush(&id, 2).await;
    assert!(rows(&app).is_empty());
    assert!(
        crate::support::cli::key_named(&app, "Key 001")
            .last_used_at
            .is_some(),
        "usage still counted"
    );
}

/// Three refusals and two accepted requests of the first merchant's key, flushed.
async fn five_requests(app: &TestApp) -> (String, Vec<String>) {
    let (key, id, _) = one_key(app);
    let auth = format!("ApiKey {}", key.expose());
    let mut refused = Vec::new();
    for scope in ["refunds:write", "feeds:upload", "members:read"] {
        let res = get(
            app,
            &format!("/api/v1/auth?scope={scope}"),
            &[("Authorization", &auth)],
        )
        .await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        refused.push(res.headers()["x-request-id"].to_str().unwrap().to_owned());
        // Each a moment apart, so "newest first" has one answer.
        app.clock.advance(time::Duration::seconds(1));
    }
    for address in ["203.0.113.1", "203.0.113.2"] {
        let headers = [("Authorization", auth.as_str()), ("X-Forwarded-For", address)];
        assert_eq!(
            get(app, "/api/v1/whoami", &headers).await.status(),
            StatusCode::OK
        );
        app.clock.advance(time::Duration::seconds(1));
    }
    app.wait_for_flush(&id, 5).await;
    (id, refused)
}

async fn the_management_api_lists_a_keys_requests_newest_first_a_page_at_a_time(backend: Backend) {
    let Some(app) = app_behind_proxy(backend).await else {
        return;
    };
    let (id, refused) = five_requests(&app).await;
    let merchant = app.demo_merchant_id();
    let api = ManageApi::new(
        &app.address,
        &create_token(&app.db, &merchant, "Reader", &["keys:read"]),
    );
    let path = format!("/api/v1/keys/{id}/requests");

    let all = api.get(&path).await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.body);
    let data = all.body["data"].as_array().unwrap();
    assert_eq!(data.len(), 5);
    assert!(all.body["next_cursor"].is_null());
    let outcomes: Vec<&str> = data.iter().map(|row| row["outcome"].as_str().unwrap()).collect();
    assert_eq!(
        outcomes,
        [
            "accepted",
            "accepted",
            "insufficient_scope",
            "insufficient_scope",
            "insufficient_scope"
        ],
        "newest first"
    );
    assert_eq!(data[0]["client_address"], "203.0.113.2");
    assert!(data[0]["request_id"].is_null() && data[0]["detail"].is_null());
    assert_eq!(data[0]["count"], 1);
    assert_eq!(data[2]["request_id"].as_str(), Some(refused[2].as_str()));
    assert_eq!(data[2]["detail"], "members:read");
    assert_eq!(data[4]["detail"], "refunds:write");
    assert_eq!(data[4]["key_id"].as_str(), Some(id.as_str()));

    // A page at a time, by outcome.
    let first = api
        .get(&format!("{path}?outcome=insufficient_scope&limit=2"))
        .await;
    let first_rows = first.body["data"].as_array().unwrap();
    assert_eq!(first_rows.len(), 2);
    let cursor = first.body["next_cursor"]
        .as_str()
        .expect("another page")
        .to_owned();
    let rest = api
        .get(&format!(
            "{path}?outcome=insufficient_scope&limit=2&cursor={cursor}"
        ))
        .await;
    let rest_rows = rest.body["data"].as_array().unwrap();
    assert_eq!(rest_rows.len(), 1);
    assert!(rest.body["next_cursor"].is_null());
    let ids: Vec<&str> = first_rows
        .iter()
        .chain(rest_rows)
        .map(|row| row["request_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [&refused[2], &refused[1], &refused[0]]);
    assert_eq!(
        api.get(&format!("{path}?outcome=key_revoked")).await.body["data"],
        serde_json::json!([])
    );

    // Bad input names the field; an unknown parameter is refused.
    for (query, field) in [
        ("outcome=Accepted!", "outcome"),
        ("outcome=key_revokd", "outcome"),
        ("limit=0", "limit"),
        ("cursor=nothex", "cursor"),
    ] {
        let answer = api.get(&format!("{path}?{query}")).await;
        answer.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
        assert_eq!(answer.body["error"]["field"], field, "{query}");
    }
    assert_eq!(
        api.get(&format!("{path}?status=active")).await.status.as_u16() / 100,
        4
    );

    // Another merchant's token finds no such key; a token without keys:read may not read.
    let other = app.create_merchant("Other Shop");
    let stranger = ManageApi::new(
        &app.address,
        &create_token(&app.db, &other, "Reader", &["keys:read"]),
    );
    stranger
        .get(&path)
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    let auditor = ManageApi::new(
        &app.address,
        &create_token(&app.db, &merchant, "Audit", &["audit:read"]),
    );
    assert_eq!(auditor.get(&path).await.status, StatusCode::FORBIDDEN);
}

async fn key_requests_prints_the_log_from_the_database_and_through_the_api(backend: Backend) {
    let Some(app) = app_behind_proxy(backend).await else {
        return;
    };
    let (id, refused) = five_requests(&app).await;
    let merchant = app.demo_merchant_id();
    let token = create_token(&app.db, &merchant, "Reader", &["keys:read"]);
    let url = app.test_db.url_string();

    let local = run_key(&url, &["requests", &id]);
    assert!(local.status.success(), "{local:?}");
    let printed = stdout(&local);
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(lines.len(), 5, "{printed}");
    assert!(
        lines[0].contains("accepted") && lines[0].contains("203.0.113.2  GET /api/v1/whoami"),
        "{printed}"
    );
    assert!(lines[2].contains("insufficient_scope"), "{printed}");
    assert!(lines[2].contains("(members:read)") && lines[2].ends_with(&format!("request {}", refused[2])));
    let remote = run_remote(&app, &token, &["requests", &id]).await;
    assert!(remote.status.success(), "{remote:?}");
    assert_eq!(stdout(&remote), printed, "both backends print the same");

    for output in [
        run_key(&url, &["requests", &id, "--outcome", "accepted", "--json"]),
        run_remote(
            &app,
            &token,
            &["requests", &id, "--outcome", "accepted", "--json"],
        )
        .await,
    ] {
        assert!(output.status.success(), "{output:?}");
        let json = json_of(&output);
        let rows = json["data"].as_array().unwrap();
        assert_eq!(rows.len(), 2);
        assert!(
            rows.iter()
                .all(|row| row["outcome"] == "accepted" && row["count"] == 1)
        );
    }
    assert_one_line_error(
        &run_key(&url, &["requests", &id, "--outcome", "Nope!"]),
        "--outcome",
    );
    assert_one_line_error(
        &run_key(&url, &["requests", &uuid::Uuid::new_v4().to_string()]),
        "no key has the ID",
    );
    let other = app.create_merchant("Other Shop");
    let stranger = create_token(&app.db, &other, "Reader", &["keys:read"]);
    let refused = run_remote(&app, &stranger, &["requests", &id]).await;
    assert!(!refused.status.success(), "another merchant's key: {refused:?}");
}

/// What a caller controls (a scope asked for, its User-Agent, the path a gateway reports)
/// reaches the log printable and with keys masked. A NUL in a scope once made Postgres
/// refuse the flush's batch, and every later one behind it, for every merchant.
async fn what_a_caller_sends_is_kept_printable_and_never_as_a_whole_key(backend: Backend) {
    let Some(app) = app_behind_proxy(backend).await else {
        return;
    };
    let (key, id, _) = one_key(&app);
    let auth = format!("ApiKey {}", key.expose());
    let agent = format!("leaky-sdk {}", key.expose());
    let encoded = key.expose().replacen("kw_", "kw%5F", 1);
    let uri = format!("/orders/{encoded}");
    let res = get(
        &app,
        "/api/v1/auth?scope=a%00b",
        &[
            ("Authorization", auth.as_str()),
            ("User-Agent", agent.as_str()),
            ("X-Forwarded-Uri", uri.as_str()),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    app.wait_for_flush(&id, 1).await;
    // The batch after it is written too.
    let res = get(&app, "/api/v1/whoami", &[("Authorization", auth.as_str())]).await;
    assert_eq!(res.status(), StatusCode::OK);
    app.wait_for_flush(&id, 2).await;

    let stored = rows(&app);
    assert_eq!(stored.len(), 2, "{stored:?}");
    let refused = &stored[0];
    assert_eq!(
        (refused.outcome.as_str(), refused.detail.as_str()),
        ("insufficient_scope", "a b")
    );
    assert_eq!(refused.user_agent, format!("leaky-sdk {}", key.masked()));
    assert_eq!(refused.path, format!("/orders/{}", key.masked()));
    for row in &stored {
        for text in [&row.user_agent, &row.path, &row.detail] {
            assert!(!text.contains(key.expose()), "a whole key kept: {row:?}");
        }
    }
}

/// A batch of log rows the database refuses (here a rule the writer knows nothing of)
/// is dropped: the usage counters of the same flush commit, and the next batch is
/// written, where before every later flush failed with it.
async fn log_rows_the_database_refuses_hold_back_nothing_else(backend: Backend) {
    let Some(app) = app_behind_proxy(backend).await else {
        return;
    };
    let (key, id, _) = one_key(&app);
    app.execute(match backend {
        Backend::Sqlite => {
            "CREATE TRIGGER refuse_poison BEFORE INSERT ON key_requests \
             WHEN NEW.user_agent = 'poison' BEGIN SELECT RAISE(ABORT, 'poison'); END"
        }
        Backend::Postgres => {
            "ALTER TABLE key_requests ADD CONSTRAINT refuse_poison CHECK (user_agent <> 'poison')"
        }
    });
    let auth = format!("ApiKey {}", key.expose());
    for (agent, total) in [("poison", 1), ("fine", 2)] {
        let res = get(
            &app,
            "/api/v1/whoami",
            &[("Authorization", auth.as_str()), ("User-Agent", agent)],
        )
        .await;
        assert_eq!(res.status(), StatusCode::OK);
        app.wait_for_flush(&id, total).await;
    }
    let started = std::time::Instant::now();
    while rows(&app).is_empty() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(3),
            "the next batch was not written"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let stored = rows(&app);
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!((stored[0].user_agent.as_str(), stored[0].count), ("fine", 1));
}
