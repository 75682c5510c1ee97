//! Reading keys: the list with its filters and cursor, one key, its usage and history.

use std::collections::HashSet;

use keyward::domain::KeyPolicy;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{key_path, setup};
use crate::db_test;
use crate::support::Backend;

db_test!(
    cursor_pagination_returns_every_key_exactly_once_newest_first,
    the_list_filters_by_state_and_name_and_refuses_bad_parameters_by_name,
    usage_counts_the_last_24_hours_by_hour,
    history_shows_what_the_key_page_shows_with_the_token_as_actor,
);

fn names(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["name"].as_str().unwrap().to_owned())
        .collect()
}

async fn cursor_pagination_returns_every_key_exactly_once_newest_first(backend: Backend) {
    let Some(s) = setup(backend).await else {
        return;
    };
    s.app.seed_keys(&s.merchant_id, 6, 5);
    s.set_policy(&KeyPolicy {
        max_active_keys: 10,
        ..KeyPolicy::default()
    });
    let mut seen = Vec::new();
    let mut ids = HashSet::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(cursor) => format!("/api/v1/keys?limit=3&cursor={cursor}"),
            None => "/api/v1/keys?limit=3".to_owned(),
        };
        let page = s.api.get(&path).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        pages += 1;
        if pages == 2 {
            // A key made while paging is newer than every page still to come.
            s.api.create_key("Made while paging").await;
        }
        for key in page.body["data"].as_array().unwrap() {
            assert!(
                ids.insert(key["id"].as_str().unwrap().to_owned()),
                "listed twice: {key}"
            );
        }
        seen.extend(names(&page.body));
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 4, "11 keys in pages of 3");
    let mut expected: Vec<String> = (1..=5)
        .map(|n| format!("Old {n:04}"))
        .chain((1..=6).map(|n| format!("Key {n:03}")))
        .collect();
    expected.reverse();
    assert_eq!(seen, expected, "every key once, newest first");

    let first = s.api.get("/api/v1/keys").await;
    assert_eq!(names(&first.body)[0], "Made while paging");
    assert_eq!(
        first.body["data"].as_array().unwrap().len(),
        12,
        "50 a page by default"
    );
    assert!(first.body["next_cursor"].is_null());
}

async fn the_list_filters_by_state_and_name_and_refuses_bad_parameters_by_name(backend: Backend) {
    let Some(s) = setup(backend).await else {
        return;
    };
    s.app.seed_keys(&s.merchant_id, 3, 2);
    let disabled = s.api.get("/api/v1/keys?name=key%20002").await.body["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = s
        .api
        .post(&format!("{}/disable", key_path(&disabled)), json!({}))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    s.api.delete(&key_path(&disabled)).await;

    let revoked = s.api.get("/api/v1/keys?status=revoked").await;
    assert_eq!(names(&revoked.body), ["Old 0002", "Old 0001"]);
    let active = s.api.get("/api/v1/keys?status=active&name=KEY").await;
    assert_eq!(
        names(&active.body),
        ["Key 003", "Key 001"],
        "deleted keys are never listed"
    );
    for key in active.body["data"].as_array().unwrap() {
        assert_eq!(key["status"], "active");
    }
    let none = s.api.get("/api/v1/keys?name=nothing%25like").await;
    assert_eq!(names(&none.body), Vec::<String>::new());

    for (query, field) in [
        ("status=deleted", "status"),
        ("status=", "status"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=x", "limit"),
        ("cursor=not-a-cursor", "cursor"),
        ("cursor=0000000000000000", "cursor"),
        ("stauts=active", "stauts"),
    ] {
        let res = s.api.get(&format!("/api/v1/keys?{query}")).await;
        res.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
        assert_eq!(res.body["error"]["field"], field, "{query}");
    }
}

async fn usage_counts_the_last_24_hours_by_hour(backend: Backend) {
    let Some(s) = setup(backend).await else {
        return;
    };
    let created = s.api.post("/api/v1/keys", json!({"name": "Counted"})).await;
    let key_id = created.body["key"]["id"].as_str().unwrap().to_owned();
    let secret = created.body["secret"].as_str().unwrap().to_owned();
    let authorization = format!("ApiKey {secret}");
    for _ in 0..2 {
        assert_eq!(
            s.app.call("/api/v1/whoami", Some(&authorization)).await.status(),
            StatusCode::OK
        );
    }
    s.api
        .post(&format!("{}/disable", key_path(&key_id)), json!({}))
        .await;
    assert_eq!(
        s.app.call("/api/v1/whoami", Some(&authorization)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    s.app.wait_for_flush(&key_id, 3).await;

    let usage = s.api.get(&format!("{}/usage", key_path(&key_id))).await;
    assert_eq!(usage.status, StatusCode::OK, "{}", usage.body);
    assert_eq!(
        (
            &usage.body["key_id"],
            &usage.body["succeeded"],
            &usage.body["failed"]
        ),
        (&json!(key_id), &json!(2), &json!(1))
    );
    let hours = usage.body["hours"].as_array().unwrap();
    assert_eq!(hours.len(), 24);
    let last = &hours[23];
    assert_eq!((&last["succeeded"], &last["failed"]), (&json!(2), &json!(1)));
    assert!(
        hours[..23]
            .iter()
            .all(|hour| hour["succeeded"] == 0 && hour["failed"] == 0)
    );
    let starts: Vec<&str> = hours.iter().map(|hour| hour["hour"].as_str().unwrap()).collect();
    let mut sorted = starts.clone();
    sorted.sort();
    assert_eq!(starts, sorted, "oldest first");
    assert!(starts[23].ends_with(":00:00Z"), "{}", starts[23]);
}

async fn history_shows_what_the_key_page_shows_with_the_token_as_actor(backend: Backend) {
    let Some(s) = setup(backend).await else {
        return;
    };
    let key_id = s.api.create_key("Audited").await;
    let res = s
        .api
        .send(
            s.api
                .request(reqwest::Method::PATCH, &key_path(&key_id))
                .header("User-Agent", "deploy-bot/1.0")
                .json(&json!({"description": "Nightly"})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);

    let history = s.api.get(&format!("{}/history", key_path(&key_id))).await;
    assert_eq!(history.status, StatusCode::OK, "{}", history.body);
    let events = history.body["data"].as_array().unwrap();
    let types: Vec<&str> = events
        .iter()
        .map(|event| event["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["generated", "revealed", "edited"], "oldest first");
    let stored: Vec<String> = keyward::db::key_events::for_key(
        &mut s.app.db.get().unwrap(),
        &s.merchant_id,
        &keyward::domain::KeyId::parse(&key_id).unwrap(),
    )
    .unwrap()
    .into_iter()
    .map(|event| event.id.to_string())
    .collect();
    let ids: Vec<&str> = events.iter().map(|event| event["id"].as_str().unwrap()).collect();
    assert_eq!(ids, stored, "the key page's events");
    let edited = &events[2];
    assert_eq!(edited["label"], "Edited");
    assert_eq!(edited["key_id"], key_id.as_str());
    assert_eq!(
        edited["actor"],
        json!({"type": "token", "id": edited["actor"]["id"].as_str().unwrap(), "name": "token deploy", "detail": "created by cli"})
    );
    assert_eq!(edited["user_agent"], "deploy-bot/1.0");
    assert_eq!(edited["client_address"], "127.0.0.1");
    assert_eq!(edited["details"]["after"]["description"], "Nightly");
    assert!(edited["created_at"].as_str().unwrap().ends_with('Z'));
}
