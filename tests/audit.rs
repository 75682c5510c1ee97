//! History and the audit log: every event recorded once, the events nobody clicks for,
//! filters, pages and the CSV.

use std::time::Duration as StdDuration;

use keyward::db::key_events::{self, EventType};
use keyward::domain::{Actor, Role};
use reqwest::StatusCode;
use time::Duration;

use crate::db_test;
use crate::support::dashboard::{Dashboard, LIST};
use crate::support::{Backend, TestApp, USER_AGENT, spawn_app, spawn_app_with};

db_test!(
    policy_and_member_changes_are_in_the_audit_log_and_filter_by_who_made_them,
    grace_ended_expired_and_first_used_are_recorded_once_without_a_click,
    first_used_is_the_first_successful_request,
    a_lapse_is_recorded_by_the_next_change_when_the_sweep_has_not_run,
    the_key_page_tells_the_whole_story_newest_first,
    the_audit_log_filters_pages_and_downloads_the_same_filter,
    bad_audit_filters_get_a_message_and_other_merchants_ids_are_not_found,
);

fn count(app: &TestApp, key_id: &str, event: &str) -> i64 {
    app.count(&format!(
        "SELECT COUNT(*) AS n FROM key_events WHERE key_id = '{key_id}' AND event_type = '{event}'"
    ))
}

async fn whoami(app: &TestApp, key: &str) -> StatusCode {
    reqwest::Client::new()
        .get(format!("{}/api/v1/whoami", app.address))
        .header("Authorization", format!("ApiKey {key}"))
        .send()
        .await
        .unwrap()
        .status()
}

async fn policy_and_member_changes_are_in_the_audit_log_and_filter_by_who_made_them(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let admin = Dashboard::admin(&app).await;
    admin.set_policy("single-key").await;
    let developer = Dashboard::member(&app, "dev@example.com", Role::Developer).await;
    developer.generate_ok("By the developer").await;
    let (admin_id, developer_id) = {
        let mut conn = app.db.get().unwrap();
        let mut id = |email: &str| {
            keyward::db::users::find_by_email(&mut conn, &keyward::domain::Email::parse(email).unwrap())
                .unwrap()
                .unwrap()
                .id
        };
        (id(&app.admin_email), id("dev@example.com"))
    };
    let token = admin.browser.csrf_token("/settings/members").await;
    let res = admin
        .browser
        .post_form(
            &format!("/settings/members/{developer_id}/role"),
            &[("csrf_token", &token), ("role", "viewer")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);

    let policy = admin
        .browser
        .html("/settings/audit-log?type=policy_changed")
        .await;
    assert!(
        policy.contains("1 event") && policy.contains("Key policy changed"),
        "{policy}"
    );
    assert!(policy.contains("max active keys: 5 → 1"), "{policy}");
    let role = admin
        .browser
        .html("/settings/audit-log?type=member_role_changed")
        .await;
    assert!(
        role.contains("role: developer → viewer") && role.contains("dev@example.com"),
        "{role}"
    );
    // By who made them: the admin's changes, then the developer's key alone.
    let by_admin = admin
        .browser
        .html(&format!("/settings/audit-log?actor={admin_id}"))
        .await;
    assert!(
        by_admin.contains("<td>Key policy changed</td>") && by_admin.contains("<td>Member role changed</td>")
    );
    assert!(
        by_admin.contains("2 events") && !by_admin.contains("<td>Created</td>"),
        "{by_admin}"
    );
    let by_developer = admin
        .browser
        .html(&format!("/settings/audit-log?actor={developer_id}"))
        .await;
    assert!(by_developer.contains("2 events") && by_developer.contains("<td>Created</td>"));
    assert!(!by_developer.contains("<td>Key policy changed</td>"));
}

async fn grace_ended_expired_and_first_used_are_recorded_once_without_a_click(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |settings| {
        settings.sweep_interval = StdDuration::from_millis(100);
    })
    .await
    else {
        return;
    };
    let admin = Dashboard::admin(&app).await;
    let used = admin.generate_ok("Used").await;
    let used_id = admin.key_named("Used").id;
    assert_eq!(
        admin
            .generate(&[("name", "Weekly"), ("expires", "7")])
            .await
            .status(),
        StatusCode::OK
    );
    let weekly = admin.key_named("Weekly");
    let old = admin.generate_key("Rotating").await;
    admin.rotate_ok(&old.id, "1h").await;

    assert_eq!(whoami(&app, &used).await, StatusCode::OK);
    assert_eq!(whoami(&app, &used).await, StatusCode::OK);
    admin.advance(Duration::days(8)).await;
    let mut waited = 0;
    while (count(&app, &old.id, "grace_ended") == 0
        || count(&app, &weekly.id, "expired") == 0
        || count(&app, &used_id, "first_used") == 0)
        && waited < 100
    {
        tokio::time::sleep(StdDuration::from_millis(100)).await;
        waited += 1;
    }
    // Many more sweeps and flushes later, still once each.
    assert_eq!(whoami(&app, &used).await, StatusCode::OK);
    tokio::time::sleep(StdDuration::from_millis(1500)).await;
    assert_eq!(count(&app, &old.id, "grace_ended"), 1);
    assert_eq!(count(&app, &weekly.id, "expired"), 1);
    assert_eq!(count(&app, &used_id, "first_used"), 1);
    assert_eq!(
        count(&app, &used_id, "expired"),
        0,
        "a key without expiry never expires"
    );
    let first_use = key_events::for_key(&mut app.db.get().unwrap(), &admin.merchant_id, &used_id)
        .unwrap()
        .into_iter()
        .find(|event| event.event_type == "first_used")
        .unwrap();
    assert_eq!(first_use.actor_type, "system");
    let page = admin.browser.html(&format!("{LIST}/{}", old.id)).await;
    assert!(page.contains("Grace period ended by Keyward (system)"), "{page}");

    // A renewed key that expires again is recorded again, once.
    let renewable = {
        let res = admin.generate(&[("name", "Renewable"), ("expires", "7")]).await;
        assert_eq!(res.status(), StatusCode::OK);
        admin.key_named("Renewable")
    };
    admin.advance(Duration::days(8)).await;
    let mut waited = 0;
    while count(&app, &renewable.id, "expired") == 0 && waited < 100 {
        tokio::time::sleep(StdDuration::from_millis(100)).await;
        waited += 1;
    }
    assert_eq!(
        admin.act(&renewable.id, "renew", &[]).await.status(),
        StatusCode::SEE_OTHER
    );
    admin.advance(Duration::days(8)).await;
    let mut waited = 0;
    while count(&app, &renewable.id, "expired") < 2 && waited < 100 {
        tokio::time::sleep(StdDuration::from_millis(100)).await;
        waited += 1;
    }
    tokio::time::sleep(StdDuration::from_millis(500)).await;
    assert_eq!(count(&app, &renewable.id, "expired"), 2);
}

async fn first_used_is_the_first_successful_request(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let admin = Dashboard::admin(&app).await;
    let key = admin.generate_ok("Late starter").await;
    let id = admin.key_named("Late starter").id;
    assert_eq!(
        admin.act(&id, "disable", &[]).await.status(),
        StatusCode::SEE_OTHER
    );
    tokio::time::sleep(StdDuration::from_millis(1100)).await;
    assert_eq!(whoami(&app, &key).await, StatusCode::UNAUTHORIZED);
    tokio::time::sleep(StdDuration::from_millis(1500)).await;
    assert_eq!(count(&app, &id, "first_used"), 0, "a refused request is no use");
    assert_eq!(
        admin.act(&id, "enable", &[]).await.status(),
        StatusCode::SEE_OTHER
    );
    admin.advance(Duration::minutes(5)).await;
    let enabled_at = app.clock.now();
    tokio::time::sleep(StdDuration::from_millis(1100)).await;
    assert_eq!(whoami(&app, &key).await, StatusCode::OK);
    admin.advance(Duration::minutes(5)).await;
    assert_eq!(whoami(&app, &key).await, StatusCode::OK);
    let mut waited = 0;
    while count(&app, &id, "first_used") == 0 && waited < 50 {
        tokio::time::sleep(StdDuration::from_millis(100)).await;
        waited += 1;
    }
    let first = key_events::for_key(&mut app.db.get().unwrap(), &admin.merchant_id, &id)
        .unwrap()
        .into_iter()
        .filter(|event| event.event_type == "first_used")
        .collect::<Vec<_>>();
    assert_eq!(first.len(), 1);
    assert!(
        first[0].created_at >= enabled_at && first[0].created_at < enabled_at + Duration::minutes(5),
        "at the first success, not the latest"
    );
    assert_eq!(first[0].client_address.as_deref(), Some("127.0.0.1"));
}

async fn a_lapse_is_recorded_by_the_next_change_when_the_sweep_has_not_run(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let admin = Dashboard::admin(&app).await;
    assert_eq!(
        admin
            .generate(&[("name", "Monthly"), ("expires", "30")])
            .await
            .status(),
        StatusCode::OK
    );
    let key = admin.key_named("Monthly");
    let expired_at = key.expires_at.unwrap();
    admin.advance(Duration::days(31)).await;
    // The sweep runs once a minute; the renewal comes first and must not hide the expiry.
    assert_eq!(
        admin.act(&key.id, "renew", &[]).await.status(),
        StatusCode::SEE_OTHER
    );
    let events = key_events::for_key(&mut app.db.get().unwrap(), &admin.merchant_id, &key.id).unwrap();
    let kinds: Vec<&str> = events.iter().map(|event| event.event_type.as_str()).collect();
    assert_eq!(kinds, ["generated", "revealed", "expired", "renewed"]);
    assert_eq!(
        events[2].created_at, expired_at,
        "recorded at the moment it expired"
    );
    assert_eq!(events[2].actor_type, "system");
}

async fn the_key_page_tells_the_whole_story_newest_first(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let admin = Dashboard::admin(&app).await;
    let key = admin.generate_key("Story").await;
    let fields = [
        ("name", "Story renamed"),
        ("description", ""),
        ("scopes", "orders:read"),
    ];
    assert_eq!(
        admin.act(&key.id, "edit", &fields).await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        admin.act(&key.id, "disable", &[]).await.status(),
        StatusCode::SEE_OTHER
    );
    let res = admin
        .submit(
            &format!("{LIST}/{}/duplicate", key.id),
            LIST,
            &[("name", "Story copy"), ("duplicated_from", &key.id)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let copy = admin.key_named("Story copy");

    let page = admin.browser.html(&format!("{LIST}/{}", key.id)).await;
    for line in [
        "Created by Admin on",
        "Key shown once by Admin on",
        "Edited by Admin on",
        "name: Story → Story renamed",
        "Scopes changed by Admin on",
        "scopes: none → orders:read",
        "Disabled by Admin on",
    ] {
        assert!(page.contains(line), "the history shows {line}");
    }
    let newest = page.find("Disabled by Admin").unwrap();
    let oldest = page.find("Created by Admin").unwrap();
    assert!(newest < oldest, "newest first");
    assert!(page.contains("from 127.0.0.1"));
    assert_eq!(
        admin.events(&key.id),
        ["generated", "revealed", "edited", "scopes_changed", "disabled"]
    );
    for event in key_events::for_key(&mut app.db.get().unwrap(), &admin.merchant_id, &key.id).unwrap() {
        let recorded = (
            event.actor_type.as_str(),
            event.actor_name.as_str(),
            event.client_address.as_deref(),
            event.user_agent.as_deref(),
        );
        assert_eq!(
            recorded,
            ("user", "Admin", Some("127.0.0.1"), Some(USER_AGENT)),
            "{}",
            event.event_type
        );
        assert!(!event.details.contains("kw_live_"), "no key in the details");
    }
    assert_eq!(
        admin.events(&copy.id),
        ["generated", "duplicated_from", "revealed"]
    );
    let copy_page = admin.browser.html(&format!("{LIST}/{}", copy.id)).await;
    assert!(copy_page.contains("settings copied from “Story renamed”"));

    // An edit that changes nothing records nothing.
    let fields = [
        ("name", "Story renamed"),
        ("description", ""),
        ("scopes", "orders:read"),
    ];
    assert_eq!(
        admin.act(&key.id, "enable", &[]).await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        admin.act(&key.id, "edit", &fields).await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(admin.events(&key.id).len(), 6);
}

async fn the_audit_log_filters_pages_and_downloads_the_same_filter(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let admin = Dashboard::admin(&app).await;
    let alpha = admin.generate_key("Alpha").await;
    admin.generate_ok("Beta, \"quoted\"").await;
    let beta = admin.key_named("Beta, \"quoted\"");
    assert_eq!(
        admin.act(&alpha.id, "disable", &[]).await.status(),
        StatusCode::SEE_OTHER
    );
    // 60 events by the command line yesterday, to fill more than one page.
    {
        let mut conn = app.db.get().unwrap();
        let yesterday = app.clock.now() - Duration::days(1);
        for i in 0..60 {
            key_events::record(
                &mut conn,
                &admin.merchant_id,
                Some(&beta.id),
                EventType::Enabled,
                &Actor::cli(),
                &serde_json::json!({ "n": i }),
                yesterday,
            )
            .unwrap();
        }
    }
    let viewer = Dashboard::member(&app, "viewer@example.com", Role::Viewer).await;
    let res = viewer.browser.get("/settings/audit-log").await;
    assert_eq!(res.status(), StatusCode::OK);
    let page = res.text().await.unwrap();
    assert!(
        page.contains("65 events") && page.contains("page 1 of 2"),
        "{page}"
    );
    assert!(page.contains("Older (page 2)"));
    let second = viewer.browser.html("/settings/audit-log?page=2").await;
    assert!(second.contains("page 2 of 2") && second.contains("Newer (page 1)"));

    let by_type = viewer.browser.html("/settings/audit-log?type=disabled").await;
    assert!(
        by_type.contains("1 event ") || by_type.contains("1 event<"),
        "{by_type}"
    );
    assert!(by_type.contains("Alpha v1"));

    let today = app.clock.now().date().to_string();
    let by_key_and_day = viewer
        .browser
        .html(&format!(
            "/settings/audit-log?key={}&from={today}&to={today}",
            beta.id
        ))
        .await;
    assert!(
        by_key_and_day.contains("2 events"),
        "generated and revealed today"
    );
    let by_cli = viewer.browser.html("/settings/audit-log?actor=cli").await;
    assert!(by_cli.contains("60 events"));

    let res = viewer
        .browser
        .get("/settings/audit-log?actor=cli&format=csv")
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(
        res.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("attachment")
    );
    let csv = res.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines.len(),
        61,
        "a header and every event of the filter, not one page"
    );
    assert!(lines[0].starts_with("time,event,event_type,actor"));
    assert!(lines[1..].iter().all(|line| line.contains("\"enabled\"")));
    assert!(
        csv.contains("\"Beta, \"\"quoted\"\" v1\""),
        "quotes are doubled: {}",
        lines[1]
    );

    // Every event has a page; the list links to it.
    let event_id = {
        let events = key_events::for_key(&mut app.db.get().unwrap(), &admin.merchant_id, &alpha.id).unwrap();
        events
            .into_iter()
            .find(|event| event.event_type == "disabled")
            .unwrap()
            .id
    };
    assert!(by_type.contains(&format!("/settings/audit-log/{event_id}")));
    let res = viewer
        .browser
        .get(&format!("/settings/audit-log/{event_id}"))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let page = res.text().await.unwrap();
    assert!(page.contains("Disabled by Admin on") && page.contains("127.0.0.1"));
}

async fn bad_audit_filters_get_a_message_and_other_merchants_ids_are_not_found(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let admin = Dashboard::admin(&app).await;
    let mine = admin.generate_key("Mine").await;
    let event_id = key_events::for_key(&mut app.db.get().unwrap(), &admin.merchant_id, &mine.id)
        .unwrap()
        .remove(0)
        .id;
    for (query, message) in [
        ("from=2026-13-01", "From must be a date such as 2026-11-03."),
        ("to=yesterday", "To must be a date such as 2026-11-03."),
        ("from=2026-11-05&to=2026-11-01", "From must be on or before To."),
        ("type=exploded", "Event must be one of the listed events."),
        ("key=not-a-key", "Key must be a key ID."),
        ("actor=%3Cscript%3E", "Actor must be someone from the list."),
        ("page=0", "Page must be a whole number from 1."),
    ] {
        let res = admin.browser.get(&format!("/settings/audit-log?{query}")).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert!(res.text().await.unwrap().contains(message), "{query}");
    }

    let rival = app.create_merchant("Rival");
    app.create_member("rival@example.com", "rival password", &rival, Role::Admin);
    let other = app.browser();
    other.sign_in("rival@example.com", "rival password").await;
    for path in [
        format!("/settings/audit-log?key={}", mine.id),
        format!("/settings/audit-log/{event_id}"),
        "/settings/audit-log/not-an-id".to_owned(),
        format!("{LIST}/{}", mine.id),
    ] {
        let res = other.get(&path).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
        assert!(!res.text().await.unwrap().contains("Mine"));
    }
    let log = other.html("/settings/audit-log").await;
    assert!(log.contains("0 events") && !log.contains("Mine"));
}
