//! `Idempotency-Key`: a retry answers like the first time and changes nothing more; a
//! key's plaintext is never kept or answered twice.

use reqwest::{Method, StatusCode};
use serde_json::json;
use time::Duration;

use super::{key_path, setup};
use crate::db_test;
use crate::support::Backend;

db_test!(
    a_retried_create_answers_the_same_without_the_secret_and_makes_no_second_key,
    retried_rotations_changes_and_refusals_answer_as_the_first_time,
    a_retry_after_the_first_answer_was_lost_finds_the_key_already_made,
    a_key_still_running_or_malformed_is_refused,
    answers_older_than_a_day_are_ignored_and_pruned,
    a_claim_whose_instance_died_is_taken_by_a_retry_after_five_minutes,
);

async fn a_retried_create_answers_the_same_without_the_secret_and_makes_no_second_key(backend: Backend) {
    let Some(s) = setup(backend).await else {
        return;
    };
    let body = json!({"name": "Once", "scopes": ["orders:read"]});
    let first = s
        .api
        .post_once("/api/v1/keys", "create-once-1", body.clone())
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    assert!(first.header("idempotent-replayed").is_none());
    let secret = first.body["secret"].as_str().unwrap().to_owned();

    let again = s
        .api
        .post_once("/api/v1/keys", "create-once-1", body.clone())
        .await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.header("location"), first.header("location"));
    assert_eq!(again.body["key"], first.body["key"], "the same key");
    assert!(
        again.body["secret"].is_null(),
        "the plaintext is never answered twice"
    );
    assert_eq!(
        again.body["secret_note"],
        "The key was shown once, in the first response to this Idempotency-Key; it is never stored or shown again."
    );
    assert_eq!(s.key_count(), 1, "no second key");
    let kept = s.app.count(&format!(
        "SELECT COUNT(*) AS n FROM idempotency_keys WHERE response_body LIKE '%{}%'",
        &secret[8..30]
    ));
    assert_eq!(kept, 0, "the plaintext is not kept with the answer");

    let other = s
        .api
        .post_once("/api/v1/keys", "create-once-1", json!({"name": "Other"}))
        .await;
    other.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused");
    let elsewhere = s
        .api
        .post_once(
            &format!("{}/disable", first.header("location").unwrap()),
            "create-once-1",
            json!({}),
        )
        .await;
    elsewhere.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused");

    let second_token = s.client("second", &["keys:write"]);
    let theirs = second_token
        .post_once("/api/v1/keys", "create-once-1", json!({"name": "Theirs"}))
        .await;
    assert_eq!(
        theirs.status,
        StatusCode::CREATED,
        "keys are per token: {}",
        theirs.body
    );
    assert_eq!(s.key_count(), 2);
}

async fn retried_rotations_changes_and_refusals_answer_as_the_first_time(backend: Backend) {
    let Some(s) = setup(backend).await else {
        return;
    };
    let id = s.api.create_key("Retried").await;
    let rotate = format!("{}/rotate", key_path(&id));
    let first = s.api.post_once(&rotate, "rotate-1", json!({"grace": "1h"})).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let again = s.api.post_once(&rotate, "rotate-1", json!({"grace": "1h"})).await;
    assert_eq!(
        (again.status, again.header("idempotent-replayed")),
        (StatusCode::CREATED, Some("true"))
    );
    assert_eq!(
        (&again.body["key"], &again.body["previous"]),
        (&first.body["key"], &first.body["previous"])
    );
    assert!(again.body["secret"].is_null() && first.body["secret"].is_string());
    assert_eq!(s.key_count(), 2, "one rotation");

    let new_id = first.body["key"]["id"].as_str().unwrap().to_owned();
    let patch = |name: &str| {
        s.api
            .request(Method::PATCH, &key_path(&new_id))
            .header("Idempotency-Key", "rename-1")
            .json(&json!({ "name": name }))
    };
    let renamed = s.api.send(patch("Renamed")).await;
    assert_eq!(renamed.status, StatusCode::OK);
    s.api
        .patch(&key_path(&new_id), json!({"name": "Renamed again"}))
        .await;
    let replayed = s.api.send(patch("Renamed")).await;
    assert_eq!(
        replayed.body, renamed.body,
        "the first answer, not the key's state now"
    );
    assert_eq!(replayed.header("idempotent-replayed"), Some("true"));
    let current = s.api.get(&key_path(&new_id)).await;
    assert_eq!(
        current.body["name"], "Renamed again",
        "the replay changed nothing"
    );

    let refused = s.api.post_once(&rotate, "rotate-old", json!({})).await;
    refused.assert_error(StatusCode::CONFLICT, "rotate_needs_active");
    let refused_again = s.api.post_once(&rotate, "rotate-old", json!({})).await;
    refused_again.assert_error(StatusCode::CONFLICT, "rotate_needs_active");
    assert_eq!(
        refused_again.header("idempotent-replayed"),
        Some("true"),
        "a refusal is kept too"
    );
}

/// What a failure on the server's side leaves of a claim.
const GIVE_UP: &str = "UPDATE idempotency_keys SET status_code = 0, response_body = NULL, location = NULL";

async fn a_retry_after_the_first_answer_was_lost_finds_the_key_already_made(backend: Backend) {
    let Some(s) = setup(backend).await else {
        return;
    };
    let first = s
        .api
        .post_once("/api/v1/keys", "lost-answer", json!({"name": "Committed"}))
        .await;
    assert_eq!(first.status, StatusCode::CREATED);
    // As if the server had failed after the key was stored but before the answer was
    // kept: the claim is given up, the key is stored.
    s.app.execute(GIVE_UP);
    let retry = s
        .api
        .post_once("/api/v1/keys", "lost-answer", json!({"name": "Committed"}))
        .await;
    assert_eq!(retry.status, StatusCode::CREATED, "{}", retry.body);
    assert_eq!(
        retry.body["key"]["id"], first.body["key"]["id"],
        "the key made the first time"
    );
    assert!(retry.body["secret"].is_null());
    assert_eq!(s.key_count(), 1, "no second key");

    let id = first.body["key"]["id"].as_str().unwrap().to_owned();
    let rotate = format!("{}/rotate", key_path(&id));
    let rotated = s.api.post_once(&rotate, "lost-rotation", json!({})).await;
    s.app.execute(GIVE_UP);
    let retry = s.api.post_once(&rotate, "lost-rotation", json!({})).await;
    assert_eq!(retry.status, StatusCode::CREATED, "{}", retry.body);
    assert_eq!(retry.body["key"]["id"], rotated.body["key"]["id"]);
    assert_eq!(retry.body["previous"]["id"], json!(id));
    assert_eq!(s.key_count(), 2, "one rotation");
}

async fn a_key_still_running_or_malformed_is_refused(backend: Backend) {
    let Some(s) = setup(backend).await else {
        return;
    };
    let id = s.api.create_key("Busy").await;
    let disable = format!("{}/disable", key_path(&id));
    // The first request with this key still running: claimed, no answer yet.
    let claimed = s.api.post_once(&disable, "running", json!({})).await;
    assert_eq!(claimed.status, StatusCode::OK);
    s.app
        .execute("UPDATE idempotency_keys SET status_code = NULL, response_body = NULL");
    let res = s.api.post_once(&disable, "running", json!({})).await;
    res.assert_error(StatusCode::CONFLICT, "idempotency_in_progress");

    for bad in ["", "with space", &"k".repeat(256)] {
        let res = s.api.post_once(&disable, bad, json!({})).await;
        res.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
        assert_eq!(res.body["error"]["field"], "Idempotency-Key", "{bad:?}");
    }
}

async fn answers_older_than_a_day_are_ignored_and_pruned(backend: Backend) {
    let Some(app) = crate::support::spawn_app_with(backend, |settings| {
        settings.sweep_interval = std::time::Duration::from_millis(200);
    })
    .await
    else {
        return;
    };
    let s = super::with_token(app);
    let id = s.api.create_key("Aged").await;
    let path = key_path(&id);
    let rename = |name: &str| {
        s.api
            .request(Method::PATCH, &path)
            .header("Idempotency-Key", "daily")
            .json(&json!({ "name": name }))
    };
    assert_eq!(s.api.send(rename("Monday")).await.status, StatusCode::OK);
    s.api
        .send(rename("Tuesday"))
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused");
    s.app.clock.advance(Duration::hours(24) + Duration::seconds(1));
    let next_day = s.api.send(rename("Tuesday")).await;
    assert_eq!(
        next_day.status,
        StatusCode::OK,
        "a day later the key is free: {}",
        next_day.body
    );
    assert_eq!(next_day.body["name"], "Tuesday");
    assert!(next_day.header("idempotent-replayed").is_none());

    // A create under a key first used more than a day ago makes a new key.
    let first = s
        .api
        .post_once("/api/v1/keys", "weekly", json!({"name": "Week 1"}))
        .await;
    assert_eq!(first.status, StatusCode::CREATED);
    s.app.clock.advance(Duration::hours(24) + Duration::seconds(1));
    let later = s
        .api
        .post_once("/api/v1/keys", "weekly", json!({"name": "Week 2"}))
        .await;
    assert_eq!(later.status, StatusCode::CREATED, "{}", later.body);
    assert_ne!(later.body["key"]["id"], first.body["key"]["id"]);
    assert_eq!(later.body["key"]["name"], "Week 2");
    assert!(later.body["secret"].is_string(), "a new key, shown once");

    s.app.clock.advance(Duration::hours(25));
    let started = std::time::Instant::now();
    while s.app.count("SELECT COUNT(*) AS n FROM idempotency_keys") > 0 {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "the sweep prunes old answers"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

async fn a_claim_whose_instance_died_is_taken_by_a_retry_after_five_minutes(backend: Backend) {
    let Some(s) = setup(backend).await else {
        return;
    };
    let first = s
        .api
        .post_once("/api/v1/keys", "died", json!({"name": "Orphan"}))
        .await;
    assert_eq!(first.status, StatusCode::CREATED);
    // As if the instance had stopped after the key was stored and before it answered:
    // the claim still says "running".
    s.app
        .execute("UPDATE idempotency_keys SET status_code = NULL, response_body = NULL, location = NULL");
    let soon = s
        .api
        .post_once("/api/v1/keys", "died", json!({"name": "Orphan"}))
        .await;
    soon.assert_error(StatusCode::CONFLICT, "idempotency_in_progress");

    s.app.clock.advance(Duration::minutes(5) + Duration::seconds(1));
    let later = s
        .api
        .post_once("/api/v1/keys", "died", json!({"name": "Orphan"}))
        .await;
    assert_eq!(later.status, StatusCode::CREATED, "{}", later.body);
    assert_eq!(
        later.body["key"]["id"], first.body["key"]["id"],
        "the key the first attempt made"
    );
    assert!(later.body["secret"].is_null());
    assert_eq!(s.key_count(), 1, "no second key");
}
