//! IP allowlists per key (issue 15): set on the dashboard, through the management API and
//! the CLI, carried by rotation and duplication, recorded in history, and enforced by
//! verification on the client address (the peer's, or a trusted proxy's client).

use keyward::domain::{Actor, KeyId};
use keyward::service::keys::{self, GenerateRequest, Generated};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::db_test;
use crate::support::cli::{assert_one_line_error, json_of, key_named, run_key, run_remote, stdout};
use crate::support::dashboard::{Dashboard, LIST, revealed_key};
use crate::support::manage::ManageApi;
use crate::support::tokens::create_token;
use crate::support::{Backend, TestApp, spawn_app, spawn_app_with, test_secret};

db_test!(
    behind_a_trusted_proxy_the_forwarded_client_must_be_on_the_list,
    an_untrusted_peers_forwarded_headers_are_not_believed,
    refusals_from_outside_the_list_are_counted_as_failures,
    the_dashboard_sets_shows_edits_and_records_the_list,
    rotation_and_duplication_carry_the_list,
    the_management_api_sets_and_refuses_entries_by_name,
    the_cli_sets_shows_and_clears_the_list_locally_and_remotely,
);

fn generate(app: &TestApp, name: &str, allowed_ips: &[&str]) -> Generated {
    keys::generate(
        &mut app.db.get().unwrap(),
        &app.demo_merchant_id(),
        &GenerateRequest {
            name: name.to_owned(),
            scopes: vec!["orders:read".to_owned()],
            allowed_ips: allowed_ips.iter().map(|entry| (*entry).to_owned()).collect(),
            ..Default::default()
        },
        &Actor::cli(),
        &keyward::startup::key_pepper(&test_secret()),
        app.clock.now(),
    )
    .unwrap()
}

/// `GET path` with the key and extra headers; the answer's status and error code.
async fn call(app: &TestApp, path: &str, key: &Generated, headers: &[(&str, &str)]) -> (StatusCode, String) {
    let mut request = reqwest::Client::new()
        .get(format!("{}{path}", app.address))
        .header("Authorization", format!("ApiKey {}", key.key.expose()));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let res = request.send().await.unwrap();
    let status = res.status();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    (
        status,
        body["error"]["code"].as_str().unwrap_or_default().to_owned(),
    )
}

fn accepted() -> (StatusCode, String) {
    (StatusCode::OK, String::new())
}

fn not_allowed() -> (StatusCode, String) {
    (StatusCode::FORBIDDEN, "ip_not_allowed".to_owned())
}

async fn behind_a_trusted_proxy_the_forwarded_client_must_be_on_the_list(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |settings| {
        settings.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await
    else {
        return;
    };
    let key = generate(&app, "Office", &["203.0.113.0/24", "2001:db8::/32"]);
    let whoami = "/api/v1/whoami";
    let auth = "/api/v1/auth?scope=orders:read";
    for (headers, expected) in [
        (vec![("X-Forwarded-For", "203.0.113.9")], accepted()),
        (
            vec![("X-Forwarded-For", "198.51.100.1, 203.0.113.200")],
            accepted(),
        ),
        (vec![("X-Forwarded-For", "::ffff:203.0.113.10")], accepted()),
        (vec![("X-Forwarded-For", "2001:db8::77")], accepted()),
        (vec![("X-Forwarded-For", "198.51.100.1")], not_allowed()),
        (
            vec![("X-Forwarded-For", "203.0.113.9, 198.51.100.1")],
            not_allowed(),
        ),
        (vec![("X-Forwarded-For", "2001:db9::1")], not_allowed()),
        // The proxy itself is not on the list.
        (vec![], not_allowed()),
        // X-Real-IP is a gateway's, for forward-auth only.
        (vec![("X-Real-IP", "203.0.113.9")], not_allowed()),
    ] {
        assert_eq!(
            call(&app, whoami, &key, &headers).await,
            expected,
            "whoami {headers:?}"
        );
    }
    for (headers, expected) in [
        (vec![("X-Real-IP", "203.0.113.9")], accepted()),
        (vec![("X-Real-IP", "198.51.100.1")], not_allowed()),
        (vec![("X-Forwarded-For", "203.0.113.9")], accepted()),
        // The gateway's X-Forwarded-For comes first: a client's X-Real-IP passed on
        // unchanged cannot open the list.
        (
            vec![("X-Forwarded-For", "198.51.100.1"), ("X-Real-IP", "203.0.113.9")],
            not_allowed(),
        ),
        (vec![], not_allowed()),
    ] {
        assert_eq!(
            call(&app, auth, &key, &headers).await,
            expected,
            "auth {headers:?}"
        );
    }

    let res = reqwest::Client::new()
        .get(format!("{}{whoami}", app.address))
        .header("Authorization", format!("ApiKey {}", key.key.expose()))
        .header("X-Forwarded-For", "198.51.100.1")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let body: Value = res.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("198.51.100.1") && message.contains("not allowed for this key"),
        "{message}"
    );
    assert!(
        !message.contains("203.0.113.0/24"),
        "the list is not told to the caller: {message}"
    );

    // A key without a list is usable from anywhere.
    let open = generate(&app, "Open", &[]);
    assert_eq!(
        call(&app, whoami, &open, &[("X-Forwarded-For", "198.51.100.1")]).await,
        accepted()
    );
}

async fn an_untrusted_peers_forwarded_headers_are_not_believed(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let elsewhere = generate(&app, "Elsewhere", &["203.0.113.9"]);
    for headers in [
        vec![("X-Forwarded-For", "203.0.113.9")],
        vec![("X-Real-IP", "203.0.113.9")],
        vec![("X-Forwarded-For", "203.0.113.9"), ("X-Real-IP", "203.0.113.9")],
    ] {
        assert_eq!(
            call(&app, "/api/v1/whoami", &elsewhere, &headers).await,
            not_allowed(),
            "whoami {headers:?}"
        );
        assert_eq!(
            call(&app, "/api/v1/auth", &elsewhere, &headers).await,
            not_allowed(),
            "auth {headers:?}"
        );
    }
    // The peer's own address counts, whatever the headers claim.
    let here = generate(&app, "Here", &["127.0.0.1"]);
    assert_eq!(
        call(
            &app,
            "/api/v1/whoami",
            &here,
            &[("X-Forwarded-For", "198.51.100.1")]
        )
        .await,
        accepted()
    );
    assert_eq!(
        call(&app, "/api/v1/auth", &here, &[("X-Real-IP", "198.51.100.1")]).await,
        accepted()
    );
}

async fn refusals_from_outside_the_list_are_counted_as_failures(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let key = generate(&app, "Counted", &["203.0.113.9"]);
    for _ in 0..3 {
        assert_eq!(call(&app, "/api/v1/whoami", &key, &[]).await, not_allowed());
    }
    app.wait_for_flush(key.row.id.as_str(), 3).await;
    let failed = app.count(&format!(
        "SELECT CAST(COALESCE(SUM(failed), 0) AS BIGINT) AS n FROM key_usage_hourly WHERE key_id = '{}'",
        key.row.id
    ));
    assert_eq!(failed, 3);
    let row = keyward::db::keys::find(&mut app.db.get().unwrap(), &app.demo_merchant_id(), &key.row.id)
        .unwrap()
        .unwrap();
    assert!(row.last_used_at.is_none(), "a refused request is not a use");
    let browser = app.signed_in_admin().await;
    let page = browser.html(LIST).await;
    let card = &page[page.find("Counted</h2>").unwrap()..];
    assert!(
        card.contains("<code>ip_not_allowed</code>"),
        "the last refusal's code: {card}"
    );
}

/// The Allowed IP addresses shown on the card of `name` on API Credentials.
fn card_addresses(page: &str, name: &str) -> String {
    let card = &page[page
        .find(&format!("{name}</h2>"))
        .unwrap_or_else(|| panic!("no {name} in {page}"))..];
    let start = card
        .find("<dt>Allowed IP addresses</dt>")
        .expect("the allowlist on the card");
    let end = card[start..].find("</div>").unwrap() + start;
    card[start..end].to_owned()
}

async fn the_dashboard_sets_shows_edits_and_records_the_list(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let dashboard = Dashboard::admin(&app).await;
    let form = dashboard.browser.html("/settings/api-credentials/new").await;
    assert!(
        form.contains(r#"<label for="key-allowed-ips">Allowed IP addresses</label>"#)
            && form.contains(r#"<textarea id="key-allowed-ips" name="allowed_ips""#),
        "a labelled field: {form}"
    );

    let res = dashboard
        .generate(&[("name", "Bad"), ("allowed_ips", "198.51.100.7\n203.0.113.5/24")])
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    assert!(html.contains("`203.0.113.5/24`"), "the entry is named: {html}");
    assert!(html.contains("203.0.113.0/24"), "the range it may mean: {html}");
    assert!(
        html.contains("198.51.100.7\n203.0.113.5/24</textarea>"),
        "what was typed is kept: {html}"
    );
    assert!(
        dashboard.keys().iter().all(|row| row.name != "Bad"),
        "nothing written"
    );

    let res = dashboard
        .generate(&[
            ("name", "Office"),
            (
                "allowed_ips",
                "203.0.113.0/24, 2001:DB8::/32\r\n198.51.100.7 203.0.113.0/24",
            ),
        ])
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let office = dashboard.key_named("Office");
    assert_eq!(
        office.allowed_ips.entries(),
        ["203.0.113.0/24", "2001:db8::/32", "198.51.100.7"]
    );
    let page = dashboard.page().await;
    assert_eq!(
        card_addresses(&page, "Office"),
        "<dt>Allowed IP addresses</dt><dd class=\"allowed-ips\"><code>203.0.113.0/24</code>, <code>2001:db8::/32</code>, <code>198.51.100.7</code></dd>"
    );
    dashboard.generate_ok("Anywhere").await;
    assert!(card_addresses(&dashboard.page().await, "Anywhere").contains("Any address"));
    let detail = dashboard.browser.html(&format!("{LIST}/{}", office.id)).await;
    assert!(
        detail.contains("<code>198.51.100.7</code>"),
        "the key page shows it: {detail}"
    );

    let edit_form = dashboard
        .browser
        .html(&format!("{LIST}/{}/edit", office.id))
        .await;
    assert!(
        edit_form.contains("203.0.113.0/24\n2001:db8::/32\n198.51.100.7</textarea>"),
        "the edit form holds the list: {edit_form}"
    );
    let edit = |allowed_ips: &'static str| {
        let id = office.id.clone();
        let dashboard = &dashboard;
        async move {
            dashboard
                .act(
                    &id,
                    "edit",
                    &[
                        ("name", "Office"),
                        ("description", ""),
                        ("allowed_ips", allowed_ips),
                    ],
                )
                .await
        }
    };
    let res = edit("198.51.100.0/24, bogus").await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("`bogus`"));
    assert_eq!(
        dashboard.row(&office.id).allowed_ips,
        office.allowed_ips,
        "unchanged"
    );

    let res = edit("198.51.100.0/24").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        dashboard.row(&office.id).allowed_ips.entries(),
        ["198.51.100.0/24"]
    );
    // Saving the same list again records nothing.
    assert_eq!(edit("198.51.100.0/24").await.status(), StatusCode::SEE_OTHER);
    assert_eq!(edit("").await.status(), StatusCode::SEE_OTHER);
    assert!(dashboard.row(&office.id).allowed_ips.is_empty());
    let changes = dashboard
        .events(&office.id)
        .into_iter()
        .filter(|event| event == "allowed_ips_changed")
        .count();
    assert_eq!(changes, 2);

    let events =
        keyward::db::key_events::for_key(&mut app.db.get().unwrap(), &dashboard.merchant_id, &office.id)
            .unwrap();
    let first = events
        .iter()
        .find(|event| event.event_type == "allowed_ips_changed")
        .unwrap();
    let details: Value = serde_json::from_str(&first.details).unwrap();
    assert_eq!(
        details,
        json!({
            "before": {"allowed_ips": ["203.0.113.0/24", "2001:db8::/32", "198.51.100.7"]},
            "after": {"allowed_ips": ["198.51.100.0/24"]},
        })
    );
    let detail = dashboard.browser.html(&format!("{LIST}/{}", office.id)).await;
    assert!(
        detail
            .contains("allowed IP addresses: 203.0.113.0/24, 2001:db8::/32, 198.51.100.7 → 198.51.100.0/24"),
        "history reads before and after: {detail}"
    );
    assert!(
        detail.contains("allowed IP addresses: 198.51.100.0/24 → any address"),
        "{detail}"
    );
}

async fn rotation_and_duplication_carry_the_list(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let dashboard = Dashboard::admin(&app).await;
    let res = dashboard
        .generate(&[("name", "Branch"), ("allowed_ips", "203.0.113.0/24\n2001:db8::1")])
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let branch = dashboard.key_named("Branch");

    let rotated = dashboard.rotate_ok(&branch.id, "1h").await;
    let next = dashboard
        .keys()
        .into_iter()
        .find(|row| row.name == "Branch" && row.version == 2)
        .unwrap();
    assert_eq!(next.allowed_ips, branch.allowed_ips);
    // Both versions are enforced: the new one at once, the old one in its grace period.
    let status = reqwest::Client::new()
        .get(format!("{}/api/v1/whoami", app.address))
        .header("Authorization", format!("ApiKey {rotated}"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "127.0.0.1 is not on the rotated key's list"
    );

    let form = dashboard
        .browser
        .html(&format!("{LIST}/{}/duplicate", next.id))
        .await;
    assert!(
        form.contains("203.0.113.0/24\n2001:db8::1</textarea>"),
        "Duplicate prefills the list: {form}"
    );
    let res = dashboard
        .submit(
            &format!("{LIST}/{}/duplicate", next.id),
            LIST,
            &[
                ("name", "Branch copy"),
                ("duplicated_from", next.id.as_str()),
                ("allowed_ips", &field_text(&form)),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    revealed_key(&res.text().await.unwrap());
    assert_eq!(dashboard.key_named("Branch copy").allowed_ips, branch.allowed_ips);

    let token = create_token(
        &app.db,
        &dashboard.merchant_id,
        "Deploy",
        &["keys:read", "keys:write"],
    );
    let api = ManageApi::new(&app.address, &token);
    let copied = api
        .post(&format!("/api/v1/keys/{}/duplicate", next.id), json!({}))
        .await;
    assert_eq!(copied.status, StatusCode::CREATED, "{}", copied.body);
    assert_eq!(
        copied.body["key"]["allowed_ips"],
        json!(["203.0.113.0/24", "2001:db8::1"])
    );
    let changed = api
        .post(
            &format!("/api/v1/keys/{}/duplicate", next.id),
            json!({"name": "Branch elsewhere", "allowed_ips": ["198.51.100.0/24"]}),
        )
        .await;
    assert_eq!(changed.status, StatusCode::CREATED, "{}", changed.body);
    assert_eq!(changed.body["key"]["allowed_ips"], json!(["198.51.100.0/24"]));
    let copy = dashboard.key_named("Branch copy");
    let rotated = api
        .post(&format!("/api/v1/keys/{}/rotate", copy.id), json!({}))
        .await;
    assert_eq!(rotated.status, StatusCode::CREATED, "{}", rotated.body);
    assert_eq!(
        rotated.body["key"]["allowed_ips"],
        json!(["203.0.113.0/24", "2001:db8::1"])
    );
}

/// The text of the allowlist's text area in a form.
fn field_text(html: &str) -> String {
    let marker = r#"name="allowed_ips""#;
    let start = html[html.find(marker).unwrap()..].find('>').unwrap() + html.find(marker).unwrap() + 1;
    let end = html[start..].find("</textarea>").unwrap() + start;
    html[start..end].to_owned()
}

async fn the_management_api_sets_and_refuses_entries_by_name(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let token = create_token(
        &app.db,
        &app.demo_merchant_id(),
        "Deploy",
        &["keys:read", "keys:write"],
    );
    let api = ManageApi::new(&app.address, &token);

    let bad = api
        .post(
            "/api/v1/keys",
            json!({"name": "Bad", "allowed_ips": ["203.0.113.0/24", "203.0.113.300"]}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    assert_eq!(bad.body["error"]["field"], "allowed_ips", "{}", bad.body);
    assert!(
        bad.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`203.0.113.300`"),
        "{}",
        bad.body
    );
    let too_many: Vec<String> = (0..101)
        .map(|n| format!("10.0.{}.{}", n / 256, n % 256))
        .collect();
    let crowded = api
        .post(
            "/api/v1/keys",
            json!({"name": "Crowded", "allowed_ips": too_many}),
        )
        .await;
    assert_eq!(
        crowded.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        crowded.body
    );
    assert_eq!(crowded.body["error"]["field"], "allowed_ips");
    // A blank entry (an unset variable in a script) is refused, never read as "any".
    let blank = api
        .post("/api/v1/keys", json!({"name": "Blank", "allowed_ips": ["", " "]}))
        .await;
    assert_eq!(blank.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", blank.body);
    assert_eq!(blank.body["error"]["field"], "allowed_ips");

    let created = api
        .post(
            "/api/v1/keys",
            json!({"name": "Api", "allowed_ips": ["2001:DB8::/32", "127.0.0.2", "2001:db8::/32"]}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(
        created.body["key"]["allowed_ips"],
        json!(["2001:db8::/32", "127.0.0.2"])
    );
    let id = created.body["key"]["id"].as_str().unwrap().to_owned();
    let secret = created.body["secret"].as_str().unwrap().to_owned();
    let whoami = || {
        let secret = secret.clone();
        let address = app.address.clone();
        async move {
            reqwest::Client::new()
                .get(format!("{address}/api/v1/whoami"))
                .header("Authorization", format!("ApiKey {secret}"))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(whoami().await, StatusCode::FORBIDDEN);
    assert_eq!(
        api.get(&format!("/api/v1/keys/{id}")).await.body["allowed_ips"][1],
        "127.0.0.2"
    );

    let refused = api
        .patch(
            &format!("/api/v1/keys/{id}"),
            json!({"allowed_ips": ["10.0.0.0/8", "10.0.0.1/8"]}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused.body["error"]["field"], "allowed_ips");
    assert!(
        refused.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`10.0.0.1/8`")
    );

    // The change is seen by the very next verification: the cache is cleared on commit.
    let patched = api
        .patch(
            &format!("/api/v1/keys/{id}"),
            json!({"allowed_ips": ["127.0.0.0/8"]}),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    assert_eq!(patched.body["allowed_ips"], json!(["127.0.0.0/8"]));
    assert_eq!(whoami().await, StatusCode::OK);
    let untouched = api
        .patch(&format!("/api/v1/keys/{id}"), json!({"description": "kept list"}))
        .await;
    assert_eq!(untouched.body["allowed_ips"], json!(["127.0.0.0/8"]));
    let cleared = api
        .patch(&format!("/api/v1/keys/{id}"), json!({"allowed_ips": []}))
        .await;
    assert_eq!(cleared.body["allowed_ips"], json!([]));

    let history = api.get(&format!("/api/v1/keys/{id}/history")).await;
    let changes: Vec<&Value> = history.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|event| event["type"] == "allowed_ips_changed")
        .collect();
    assert_eq!(changes.len(), 2, "{}", history.body);
    assert_eq!(
        changes[0]["details"]["before"]["allowed_ips"],
        json!(["2001:db8::/32", "127.0.0.2"]),
        "{}",
        history.body
    );
    assert_eq!(
        changes[0]["details"]["after"]["allowed_ips"],
        json!(["127.0.0.0/8"])
    );
}

async fn the_cli_sets_shows_and_clears_the_list_locally_and_remotely(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let url = app.test_db.url_string();
    let created = run_key(
        &url,
        &[
            "create",
            "--merchant",
            "Demo Merchant",
            "--name",
            "Cron",
            "--allow-ip",
            "203.0.113.0/24",
            "--allow-ip",
            "2001:db8::1",
        ],
    );
    assert!(created.status.success(), "{created:?}");
    let cron = key_named(&app, "Cron");
    assert_eq!(cron.allowed_ips.entries(), ["203.0.113.0/24", "2001:db8::1"]);
    let shown = stdout(&run_key(&url, &["show", cron.id.as_str()]));
    assert!(
        shown
            .lines()
            .any(|line| line.starts_with("Allowed IPs") && line.ends_with("  203.0.113.0/24 2001:db8::1")),
        "{shown}"
    );

    let bad = run_key(
        &url,
        &[
            "create",
            "--merchant",
            "Demo Merchant",
            "--name",
            "Bad",
            "--allow-ip",
            "203.0.113.5/24",
        ],
    );
    assert_one_line_error(&bad, "`203.0.113.5/24`");
    let edited = run_key(&url, &["edit", cron.id.as_str(), "--allow-ip", "198.51.100.7"]);
    assert!(edited.status.success(), "{edited:?}");
    assert_eq!(key_named(&app, "Cron").allowed_ips.entries(), ["198.51.100.7"]);
    let both = run_key(
        &url,
        &[
            "edit",
            cron.id.as_str(),
            "--allow-ip",
            "198.51.100.7",
            "--allow-any-ip",
        ],
    );
    assert!(!both.status.success(), "one or the other: {both:?}");
    let cleared = run_key(&url, &["edit", cron.id.as_str(), "--allow-any-ip"]);
    assert!(cleared.status.success(), "{cleared:?}");
    assert!(key_named(&app, "Cron").allowed_ips.is_empty());
    let shown = stdout(&run_key(&url, &["show", cron.id.as_str()]));
    assert!(
        shown
            .lines()
            .any(|line| line.starts_with("Allowed IPs") && line.ends_with("  any address")),
        "{shown}"
    );

    let token = create_token(
        &app.db,
        &app.demo_merchant_id(),
        "Deploy",
        &["keys:read", "keys:write"],
    );
    let remote = run_remote(
        &app,
        &token,
        &[
            "create",
            "--name",
            "Remote",
            "--allow-ip",
            "::ffff:192.0.2.1",
            "--json",
        ],
    )
    .await;
    assert_eq!(json_of(&remote)["key"]["allowed_ips"], json!(["192.0.2.1"]));
    let remote_id = KeyId::parse(json_of(&remote)["key"]["id"].as_str().unwrap()).unwrap();
    let edited = run_remote(
        &app,
        &token,
        &[
            "edit",
            remote_id.as_str(),
            "--allow-ip",
            "192.0.2.0/24",
            "--allow-ip",
            "2001:db8::/48",
        ],
    )
    .await;
    assert!(edited.status.success(), "{edited:?}");
    assert_eq!(
        key_named(&app, "Remote").allowed_ips.entries(),
        ["192.0.2.0/24", "2001:db8::/48"]
    );
    let refused = run_remote(&app, &token, &["edit", remote_id.as_str(), "--allow-ip", "nope"]).await;
    assert_one_line_error(&refused, "`nope`");
    let shown = run_remote(&app, &token, &["show", remote_id.as_str()]).await;
    assert!(
        stdout(&shown).contains("192.0.2.0/24 2001:db8::/48"),
        "{}",
        stdout(&shown)
    );
    let cleared = run_remote(&app, &token, &["edit", remote_id.as_str(), "--allow-any-ip"]).await;
    assert!(cleared.status.success(), "{cleared:?}");
    assert!(key_named(&app, "Remote").allowed_ips.is_empty());
}
