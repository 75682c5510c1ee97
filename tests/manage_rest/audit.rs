//! `GET /api/v1/audit-log`: every event exactly once across pages read with the cursor,
//! the dashboard's filters, and bad filters refused by name.

use std::collections::HashSet;

use keyward::domain::{Actor, KeyPolicy, MerchantId};
use keyward::service::keys::{self, GenerateRequest};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime, PrimitiveDateTime};

use super::{call, get};
use crate::db_test;
use crate::support::dashboard::Dashboard;
use crate::support::tokens::create_token;
use crate::support::{Backend, TestApp, spawn_app, test_secret};

db_test!(
    the_cursor_returns_every_event_exactly_once_newest_first,
    the_filters_are_the_dashboards,
    bad_filters_are_refused_naming_them,
);

/// Generates a key through the service, as the command line does, at `now`.
fn generate(app: &TestApp, merchant: &MerchantId, name: &str, now: PrimitiveDateTime) -> String {
    let request = GenerateRequest {
        name: name.to_owned(),
        scopes: vec!["orders:read".to_owned()],
        expires: "never".to_owned(),
        ..GenerateRequest::default()
    };
    keys::generate(
        &mut app.db.get().unwrap(),
        merchant,
        &request,
        &Actor::cli(),
        &keyward::startup::key_pepper(&test_secret()),
        now,
    )
    .unwrap()
    .row
    .id
    .to_string()
}

/// Saves the policy through the service, as the command line would, at `now`.
fn set_policy(app: &TestApp, merchant: &MerchantId, max_active_keys: u32, now: PrimitiveDateTime) {
    let policy = KeyPolicy {
        max_active_keys,
        ..KeyPolicy::default()
    };
    keyward::service::policy::set_policy(&mut app.db.get().unwrap(), merchant, &policy, &Actor::cli(), now)
        .unwrap();
}

fn rfc3339(at: PrimitiveDateTime) -> String {
    at.assume_utc().format(&Rfc3339).unwrap()
}

fn ids(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["id"].as_str().unwrap().to_owned())
        .collect()
}

fn stored_ids(app: &TestApp, merchant: &MerchantId) -> HashSet<String> {
    use diesel::prelude::*;
    use keyward::db::schema::key_events;
    key_events::table
        .filter(key_events::merchant_id.eq(merchant.as_str()))
        .select(key_events::id)
        .load::<String>(&mut **app.db.get().unwrap())
        .unwrap()
        .into_iter()
        .collect()
}

async fn the_cursor_returns_every_event_exactly_once_newest_first(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let merchant = app.demo_merchant_id();
    // Events that share their time to the microsecond, as the events of one transaction
    // do: only the ID orders them, and a page may end between them.
    let same_time = app.clock.now();
    set_policy(&app, &merchant, 20, same_time);
    for n in 1..=4 {
        generate(&app, &merchant, &format!("Batch {n}"), same_time);
    }
    for limit in [7, 9, 11] {
        set_policy(&app, &merchant, limit, same_time);
    }
    app.clock.advance(Duration::minutes(5));
    generate(&app, &merchant, "Later", app.clock.now());
    let token = create_token(&app.db, &merchant, "auditor", &["audit:read"]);
    let expected = stored_ids(&app, &merchant);
    assert!(expected.len() >= 15, "{} events", expected.len());

    let mut seen: Vec<String> = Vec::new();
    let mut times: Vec<OffsetDateTime> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(cursor) => format!("/api/v1/audit-log?limit=4&cursor={cursor}"),
            None => "/api/v1/audit-log?limit=4".to_owned(),
        };
        let page = get(&app, &path, &token).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        pages += 1;
        assert!(ids(&page.body).len() <= 4);
        for event in page.body["data"].as_array().unwrap() {
            times.push(OffsetDateTime::parse(event["created_at"].as_str().unwrap(), &Rfc3339).unwrap());
        }
        seen.extend(ids(&page.body));
        if pages == 1 {
            // A change made while the pages are read is newer than every page still to
            // come: it is neither repeated nor does it push an event off a page.
            app.clock.advance(Duration::minutes(1));
            set_policy(&app, &merchant, 3, app.clock.now());
        }
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let unique: HashSet<String> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "no event twice: {seen:?}");
    assert_eq!(unique, expected, "every event that existed when reading began");
    assert_eq!(pages, expected.len().div_ceil(4));
    assert!(times.windows(2).all(|pair| pair[0] >= pair[1]), "newest first");

    let all = get(&app, "/api/v1/audit-log", &token).await;
    assert_eq!(ids(&all.body).len(), expected.len() + 1, "50 a page by default");
    assert_eq!(all.body["next_cursor"], Value::Null);
    assert_eq!(all.body["data"][0]["type"], "policy_changed", "the newest first");
}

async fn the_filters_are_the_dashboards(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let merchant = app.demo_merchant_id();
    let start = app.clock.now();
    let first = generate(&app, &merchant, "First", start);
    generate(&app, &merchant, "Second", start);
    app.clock.advance(Duration::hours(2));
    let token = create_token(&app.db, &merchant, "deploy", &["audit:read", "policy:write"]);
    let policy = json!({
        "max_active_keys": 4, "default_grace": "1h", "name_required": true,
        "revoke_only_disabled": false, "delete_only_inactive": true,
        "scopes_editable": true, "max_lifetime_days": null,
    });
    assert_eq!(
        call(&app, Method::PUT, "/api/v1/key-policy", &token, Some(&policy))
            .await
            .status,
        StatusCode::OK
    );
    Dashboard::admin(&app).await.set_policy("flexible").await;
    let admin_id = {
        let mut conn = app.db.get().unwrap();
        let email = keyward::domain::Email::parse(&app.admin_email).unwrap();
        keyward::db::users::find_by_email(&mut conn, &email)
            .unwrap()
            .unwrap()
            .id
    };

    let events = |query: String| {
        let (app, token) = (&app, &token);
        async move {
            let page = get(app, &format!("/api/v1/audit-log?{query}"), token).await;
            assert_eq!(page.status, StatusCode::OK, "{query}: {}", page.body);
            page.body["data"].as_array().unwrap().clone()
        }
    };
    let everything = events(String::new()).await;

    let of_first = events(format!("key_id={first}")).await;
    assert!(!of_first.is_empty());
    assert!(of_first.iter().all(|event| event["key_id"] == first.as_str()));
    let expected = everything
        .iter()
        .filter(|event| event["key_id"] == first.as_str())
        .count();
    assert_eq!(of_first.len(), expected);

    let by_token = events("actor_type=token".to_owned()).await;
    assert_eq!(by_token.len(), 1);
    assert_eq!(by_token[0]["actor"]["name"], "token deploy");
    assert_eq!(by_token[0]["actor"]["detail"], "created by cli");
    let token_id = by_token[0]["actor"]["id"].as_str().unwrap().to_owned();
    let by_this_token = events(format!("actor_id=token:{token_id}")).await;
    assert_eq!(
        by_this_token, by_token,
        "one token's events, as the dashboard filters them"
    );
    let other_token = uuid::Uuid::new_v4();
    assert!(events(format!("actor_id=token:{other_token}")).await.is_empty());

    let by_cli = events("actor_type=cli".to_owned()).await;
    assert!(by_cli.iter().all(|event| event["actor"]["type"] == "cli"));
    let expected = everything
        .iter()
        .filter(|event| event["actor"]["type"] == "cli")
        .count();
    assert_eq!(by_cli.len(), expected);
    assert!(expected >= 2);

    let by_admin = events(format!("actor_id={admin_id}")).await;
    assert_eq!(by_admin.len(), 1, "{by_admin:?}");
    assert_eq!(by_admin[0]["actor"]["type"], "user");
    assert_eq!(by_admin[0]["actor"]["id"], admin_id.to_string());
    assert_eq!(by_admin[0]["type"], "policy_changed");

    let generated = events("event_type=generated".to_owned()).await;
    assert_eq!(generated.len(), 2);
    assert!(
        generated
            .iter()
            .all(|event| event["type"] == "generated" && event["label"] == "Created")
    );

    let midpoint = rfc3339(start + Duration::hours(1));
    let since = events(format!("since={midpoint}")).await;
    assert_eq!(since.len(), 2, "the two policy changes after the midpoint");
    let before = events(format!("before={midpoint}")).await;
    assert_eq!(before.len(), everything.len() - 2);
    assert!(before.iter().all(|event| event["type"] != "policy_changed"));
    let two_hours_east = (start + Duration::hours(1))
        .assume_utc()
        .to_offset(time::UtcOffset::from_hms(2, 0, 0).unwrap())
        .format(&Rfc3339)
        .unwrap();
    assert!(two_hours_east.ends_with("+02:00"), "{two_hours_east}");
    assert_eq!(
        events(format!("since={}", two_hours_east.replace('+', "%2B")))
            .await
            .len(),
        2,
        "an offset is read as the same instant in UTC"
    );

    let combined = events("event_type=policy_changed&actor_type=token".to_owned()).await;
    assert_eq!(combined.len(), 1);
    let window = events(format!(
        "since={}&before={}",
        rfc3339(start - Duration::minutes(1)),
        rfc3339(start + Duration::minutes(1))
    ))
    .await;
    assert_eq!(window.len(), everything.len() - 2);
}

async fn bad_filters_are_refused_naming_them(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let merchant = app.demo_merchant_id();
    let token = create_token(&app.db, &merchant, "auditor", &["audit:read"]);
    let cases = [
        ("key_id=not-a-key", "key_id"),
        ("actor_type=robot", "actor_type"),
        ("actor_id=someone", "actor_id"),
        (
            "actor_type=cli&actor_id=0190f5a4-7c1e-7d2a-9b3c-4d5e6f708192",
            "actor_id",
        ),
        ("event_type=exploded", "event_type"),
        ("since=yesterday", "since"),
        ("since=2026-11-03", "since"),
        ("before=2026-13-01T00:00:00Z", "before"),
        ("since=2026-11-04T00:00:00Z&before=2026-11-03T00:00:00Z", "before"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=ten", "limit"),
        ("cursor=garbage", "cursor"),
        ("cursor=3132", "cursor"),
    ];
    for (query, field) in cases {
        let refused = get(&app, &format!("/api/v1/audit-log?{query}"), &token).await;
        assert_eq!(
            refused.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{query}: {}",
            refused.body
        );
        assert_eq!(refused.code(), "invalid_field", "{query}");
        assert_eq!(refused.field(), field, "{query}: {}", refused.body);
    }
    let misspelt = get(&app, "/api/v1/audit-log?actor=cli", &token).await;
    assert_eq!(
        misspelt.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "an unknown filter is not ignored"
    );
    assert!(
        misspelt.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("actor")
    );

    let elsewhere = app.create_merchant("Elsewhere");
    set_policy(&app, &elsewhere, 5, app.clock.now());
    let theirs = generate(&app, &elsewhere, "Theirs", app.clock.now());
    let hidden = get(&app, &format!("/api/v1/audit-log?key_id={theirs}"), &token).await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND, "{}", hidden.body);
    assert_eq!(hidden.code(), "not_found");
    let unknown = get(
        &app,
        "/api/v1/audit-log?key_id=0190f5a4-7c1e-7d2a-9b3c-4d5e6f708192",
        &token,
    )
    .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let ours = get(&app, "/api/v1/audit-log", &token).await;
    assert_eq!(
        ids(&ours.body).into_iter().collect::<HashSet<_>>(),
        stored_ids(&app, &merchant),
        "this merchant's events and never another's"
    );
    assert!(!stored_ids(&app, &elsewhere).is_empty());
}
