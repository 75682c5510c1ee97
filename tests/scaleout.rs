//! Several instances on one Postgres: a change made through one holds on the others
//! within a second, sessions work anywhere, usage adds up, and scheduled work runs on
//! one instance at a time.

use std::time::{Duration as StdDuration, Instant};

use keyward::domain::Role;
use reqwest::StatusCode;

use crate::support::dashboard::{Dashboard, LIST};
use crate::support::{Backend, Browser, TestApp, spawn_app_with};

/// Long enough that only a notification can explain a change being seen in time.
const LONG_CACHE: StdDuration = StdDuration::from_secs(60);

async fn two_instances() -> Option<(TestApp, String)> {
    let app = spawn_app_with(Backend::Postgres, |settings| settings.key_cache_ttl = LONG_CACHE).await?;
    let second = app.second_instance(|settings| settings.key_cache_ttl = LONG_CACHE);
    Some((app, second))
}

/// Has `address` verify `key` (and so cache it) once the notification of the key's
/// creation has reached every instance, so that only a later change can clear it.
async fn prime(address: &str, key: &str) {
    tokio::time::sleep(StdDuration::from_millis(300)).await;
    assert_eq!(whoami(address, key).await, StatusCode::OK);
}

async fn whoami(address: &str, key: &str) -> StatusCode {
    reqwest::Client::new()
        .get(format!("{address}/api/v1/whoami"))
        .header("Authorization", format!("ApiKey {key}"))
        .send()
        .await
        .unwrap()
        .status()
}

/// How long until `address` answers `status` for `key`, polling every 20 ms; `None`
/// after `limit`.
async fn time_until(address: &str, key: &str, status: StatusCode, limit: StdDuration) -> Option<StdDuration> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if whoami(address, key).await == status {
            return Some(started.elapsed());
        }
        tokio::time::sleep(StdDuration::from_millis(20)).await;
    }
    None
}

#[tokio::test]
async fn a_key_revoked_through_one_instance_is_refused_by_the_other_within_a_second() {
    let Some((app, second)) = two_instances().await else {
        return;
    };
    let admin = Dashboard::admin(&app).await;
    let key = admin.generate_ok("Shared").await;
    let id = admin.key_named("Shared").id;
    // The second instance has verified the key and keeps it for a minute.
    prime(&second, &key).await;

    let res = admin.act(&id, "revoke", &[("confirm", "REVOKE")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let took = time_until(&second, &key, StatusCode::UNAUTHORIZED, StdDuration::from_secs(2)).await;
    assert!(
        took.is_some(),
        "the second instance still accepts a revoked key after 2 s"
    );
    assert!(took.unwrap() < StdDuration::from_secs(1), "took {took:?}");
}

#[tokio::test]
async fn a_key_revoked_from_the_command_line_is_refused_by_every_instance_within_a_second() {
    let Some((app, second)) = two_instances().await else {
        return;
    };
    let admin = Dashboard::admin(&app).await;
    let key = admin.generate_ok("Shared").await;
    let id = admin.key_named("Shared").id;
    prime(&app.address, &key).await;
    prime(&second, &key).await;
    // What `keyward key revoke` runs: the library, in a process with no cache of its own.
    keyward::service::keys::revoke(
        &mut app.db.get().unwrap(),
        &admin.merchant_id,
        &id,
        "REVOKE",
        &keyward::domain::Actor::cli(),
        app.clock.now(),
    )
    .unwrap();
    for address in [&app.address, &second] {
        let took = time_until(address, &key, StatusCode::UNAUTHORIZED, StdDuration::from_secs(2)).await;
        assert!(
            took.is_some_and(|took| took < StdDuration::from_secs(1)),
            "{address}: {took:?}"
        );
    }
}

#[tokio::test]
async fn a_change_made_while_the_listeners_are_away_is_seen_within_a_second() {
    let Some((app, second)) = two_instances().await else {
        return;
    };
    let admin = Dashboard::admin(&app).await;
    let key = admin.generate_ok("Shared").await;
    let id = admin.key_named("Shared").id;
    prime(&second, &key).await;

    // Every listener loses its connection; the key is revoked before they are back.
    let listeners = || {
        app.count(&format!(
            "SELECT COUNT(*) AS n FROM pg_stat_activity WHERE application_name = '{}' AND datname = current_database()",
            keyward::db::changes::LISTENER_NAME
        ))
    };
    assert_eq!(listeners(), 2, "one listener per instance");
    app.execute(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE application_name = '{}' AND datname = current_database()",
        keyward::db::changes::LISTENER_NAME
    ));
    assert_eq!(
        admin.act(&id, "revoke", &[("confirm", "REVOKE")]).await.status(),
        StatusCode::SEE_OTHER
    );
    let took = time_until(&second, &key, StatusCode::UNAUTHORIZED, StdDuration::from_secs(2)).await;
    assert!(
        took.is_some_and(|took| took < StdDuration::from_secs(1)),
        "took {took:?}"
    );
    let started = Instant::now();
    while listeners() < 2 && started.elapsed() < StdDuration::from_secs(5) {
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    }
    assert_eq!(listeners(), 2, "both listeners are back");
}

#[tokio::test]
async fn sessions_work_on_any_instance_and_end_on_all() {
    let Some((app, second)) = two_instances().await else {
        return;
    };
    // Signed in through one, served by the other.
    let first = app.signed_in_admin().await;
    let elsewhere = Browser::new(&second);
    elsewhere.set_session_cookie(first.session_cookie());
    assert!(elsewhere.is_signed_in().await);
    // Signed out on one: the cookie is worth nothing on the other.
    let token = first.csrf_token(LIST).await;
    assert_eq!(
        first
            .post_form("/logout", &[("csrf_token", &token)])
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
    assert!(!elsewhere.is_signed_in().await);

    // A member removed through one instance loses the session held on the other.
    let member = Dashboard::member(&app, "dev@example.com", Role::Developer).await;
    let on_second = Browser::new(&second);
    on_second.set_session_cookie(member.browser.session_cookie());
    assert!(on_second.is_signed_in().await);
    let admin = app.signed_in_admin().await;
    let user_id = keyward::db::users::find_by_email(
        &mut app.db.get().unwrap(),
        &keyward::domain::Email::parse("dev@example.com").unwrap(),
    )
    .unwrap()
    .unwrap()
    .id;
    let token = admin.csrf_token("/settings/members").await;
    let res = admin
        .post_form(
            &format!("/settings/members/{user_id}/remove"),
            &[("csrf_token", &token)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(
        !on_second.is_signed_in().await,
        "removed on the very next request"
    );
}

#[tokio::test]
async fn usage_sent_to_both_instances_is_summed_exactly() {
    let Some((app, second)) = two_instances().await else {
        return;
    };
    let admin = Dashboard::admin(&app).await;
    let key = admin.generate_ok("Counted").await;
    let id = admin.key_named("Counted").id;
    let (to_first, to_second) = (37, 25);
    let mut calls = Vec::new();
    for i in 0..(to_first + to_second) {
        let address = if i < to_first {
            app.address.clone()
        } else {
            second.clone()
        };
        let key = key.clone();
        calls.push(tokio::spawn(async move { whoami(&address, &key).await }));
    }
    for call in calls {
        assert_eq!(call.await.unwrap(), StatusCode::OK);
    }
    let sum = |column: &str| {
        app.count(&format!(
            "SELECT CAST(COALESCE(SUM({column}), 0) AS BIGINT) AS n FROM key_usage_hourly WHERE key_id = '{id}'"
        ))
    };
    let started = Instant::now();
    while sum("succeeded") < to_first + to_second && started.elapsed() < StdDuration::from_secs(5) {
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
    // Two more flush intervals: nothing is counted twice either.
    tokio::time::sleep(StdDuration::from_millis(2200)).await;
    assert_eq!(sum("succeeded"), to_first + to_second);
    assert_eq!(sum("failed"), 0);
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) AS n FROM key_events WHERE key_id = '{id}' AND event_type = 'first_used'"
        )),
        1,
        "both instances saw a first use; one is recorded"
    );
}

#[tokio::test]
async fn scheduled_work_runs_on_one_instance_at_a_time() {
    let fast = |settings: &mut keyward::config::Settings| {
        settings.sweep_interval = StdDuration::from_millis(100);
    };
    let Some(app) = spawn_app_with(Backend::Postgres, fast).await else {
        return;
    };
    let _second = app.second_instance(fast);
    let admin = Dashboard::admin(&app).await;
    let old = admin.generate_key("Rotating").await;
    admin.rotate_ok(&old.id, "1h").await;
    let grace_ended = || {
        app.count(&format!(
            "SELECT COUNT(*) AS n FROM key_events WHERE key_id = '{}' AND event_type = 'grace_ended'",
            old.id
        ))
    };

    // While something else holds the schedule's lock, no instance sweeps.
    let url = app.test_db.url_string();
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        use diesel::Connection;
        use diesel::connection::SimpleConnection;
        let mut conn = diesel::PgConnection::establish(&url).unwrap();
        conn.batch_execute(&format!(
            "SELECT pg_advisory_lock({})",
            keyward::db::SCHEDULE_LOCK_ID
        ))
        .unwrap();
        locked_tx.send(()).unwrap();
        release_rx.recv().unwrap();
        conn.batch_execute(&format!(
            "SELECT pg_advisory_unlock({})",
            keyward::db::SCHEDULE_LOCK_ID
        ))
        .unwrap();
    });
    locked_rx.recv().unwrap();
    admin.advance(time::Duration::hours(2)).await;
    // Ten sweep periods of each instance.
    tokio::time::sleep(StdDuration::from_millis(1000)).await;
    assert_eq!(grace_ended(), 0, "an instance swept while the lock was held");
    release_tx.send(()).unwrap();
    holder.join().unwrap();
    let started = Instant::now();
    while grace_ended() == 0 && started.elapsed() < StdDuration::from_secs(5) {
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
    tokio::time::sleep(StdDuration::from_millis(500)).await;
    assert_eq!(grace_ended(), 1, "recorded once, by one of the two instances");
}

#[tokio::test]
async fn a_management_token_revoked_through_one_instance_is_refused_by_the_other_at_once() {
    let Some((app, second)) = two_instances().await else {
        return;
    };
    let merchant = app.demo_merchant_id();
    let token = crate::support::tokens::create_token(&app.db, &merchant, "deploy", &["keys:read"]);
    let list = |address: String| {
        let token = token.clone();
        async move {
            reqwest::Client::new()
                .get(format!("{address}/api/v1/keys"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(list(second.clone()).await.status(), StatusCode::OK);

    let digest = keyward::domain::ManagementToken::parse(&token)
        .unwrap()
        .digest(&keyward::startup::key_pepper(&crate::support::app::test_secret()));
    let mut conn = app.db.get().unwrap();
    let row = keyward::db::management_tokens::find_by_digest(&mut conn, &digest)
        .unwrap()
        .unwrap();
    keyward::service::tokens::revoke(
        &mut conn,
        &merchant,
        &row.id,
        "REVOKE",
        &keyward::domain::Actor::cli(),
        keyward::clock::Clock::default().now(),
    )
    .unwrap();

    // No cache stands between a token and its row: the very next request is refused.
    let res = list(second).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "token_revoked");
}
