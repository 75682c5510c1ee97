//! Every change's happy path: what it answers, what it stored and what history says.

use keyward::domain::{ApiKey, PolicyPreset};
use reqwest::StatusCode;
use serde_json::json;
use time::Duration;

use super::{key_path, setup};
use crate::db_test;
use crate::support::Backend;

db_test!(
    create_answers_201_with_the_key_once_and_its_location,
    update_changes_only_the_fields_sent_each_as_its_own_event,
    update_keeps_expiry_within_the_policys_lifetime,
    disable_enable_renew_and_revoke_answer_with_the_key_as_changed,
    rotate_makes_the_next_version_and_keeps_the_old_one_in_grace,
    duplicate_copies_the_source_and_takes_the_fields_given,
    delete_answers_204_and_the_key_is_gone_from_the_api,
    the_edit_page_changes_rate_limit_and_expiry_too,
    two_updates_of_different_fields_at_once_both_stick,
);

async fn create_answers_201_with_the_key_once_and_its_location(backend: Backend) {
    let Some(s) = setup(backend).await else {
        return;
    };
    let res = s
        .api
        .post(
            "/api/v1/keys",
            json!({
                "name": "Checkout",
                "description": "Production",
                "scopes": ["orders:read", "orders:write"],
                "expires_in_days": 30,
                "rate_limit_per_minute": 600,
            }),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    let key = &res.body["key"];
    let id = key["id"].as_str().unwrap();
    assert_eq!(res.header("location"), Some(key_path(id).as_str()));
    assert_eq!(
        res.header("cache-control"),
        Some("no-store"),
        "the plaintext is cached nowhere"
    );
    assert!(res.body["secret_note"].is_null());
    let secret = ApiKey::parse(res.body["secret"].as_str().unwrap()).expect("a whole key");
    assert_eq!(key["masked_key"], secret.masked());
    assert_eq!(
        (
            &key["name"],
            &key["description"],
            &key["scopes"],
            &key["status"],
            &key["version"],
            &key["lifetime_days"],
            &key["rate_limit_per_minute"],
            &key["created_by"],
        ),
        (
            &json!("Checkout"),
            &json!("Production"),
            &json!(["orders:read", "orders:write"]),
            &json!("active"),
            &json!(1),
            &json!(30),
            &json!(600),
            &json!("token deploy"),
        )
    );
    assert_eq!(key["lineage_id"], key["id"]);
    assert!(key["expires_at"].as_str().unwrap().ends_with('Z'));
    let whoami = s
        .app
        .call("/api/v1/whoami", Some(&format!("ApiKey {}", secret.expose())))
        .await;
    assert_eq!(whoami.status(), StatusCode::OK, "the key works");
    assert!(
        !s.app.dump_text().contains(secret.expose()),
        "the plaintext is stored nowhere"
    );

    let shown = s.api.get(&key_path(id)).await;
    assert_eq!(shown.body, *key, "GET shows the same key");
    assert!(shown.body.get("secret").is_none());
}

async fn update_changes_only_the_fields_sent_each_as_its_own_event(backend: Backend) {
    let Some(s) = setup(backend).await else {
        return;
    };
    let created = s
        .api
        .post(
            "/api/v1/keys",
            json!({"name": "Sync", "description": "Nightly", "scopes": ["orders:read"], "rate_limit_per_minute": 60}),
        )
        .await;
    let id = created.body["key"]["id"].as_str().unwrap().to_owned();

    let renamed = s.api.patch(&key_path(&id), json!({"name": "Sync v2"})).await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);
    assert_eq!(
        (
            &renamed.body["name"],
            &renamed.body["description"],
            &renamed.body["scopes"],
            &renamed.body["rate_limit_per_minute"]
        ),
        (
            &json!("Sync v2"),
            &json!("Nightly"),
            &json!(["orders:read"]),
            &json!(60)
        ),
        "fields left out keep their value"
    );

    let last_day = (s.app.clock.now() + Duration::days(10)).date();
    let res = s
        .api
        .patch(
            &key_path(&id),
            json!({"scopes": ["orders:read", "feeds:upload"], "rate_limit_per_minute": null, "expires_on": last_day.to_string()}),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.body["scopes"], json!(["orders:read", "feeds:upload"]));
    assert!(
        res.body["rate_limit_per_minute"].is_null(),
        "null clears the limit"
    );
    assert_eq!(
        res.body["expires_at"],
        format!("{}T00:00:00Z", last_day.next_day().unwrap()),
        "the end of the last day"
    );
    assert!(
        res.body["lifetime_days"].is_null(),
        "a fixed date has no lifetime"
    );

    let never = s.api.patch(&key_path(&id), json!({"expires_on": null})).await;
    assert_eq!(never.status, StatusCode::OK, "{}", never.body);
    assert!(never.body["expires_at"].is_null());
    let same = s
        .api
        .patch(&key_path(&id), json!({"name": "Sync v2", "expires_on": null}))
        .await;
    assert_eq!(same.status, StatusCode::OK);

    let history = s.api.get(&format!("{}/history", key_path(&id))).await;
    let events: Vec<(String, serde_json::Value)> = history.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| {
            (
                event["type"].as_str().unwrap().to_owned(),
                event["details"].clone(),
            )
        })
        .collect();
    let types: Vec<&str> = events.iter().map(|(kind, _)| kind.as_str()).collect();
    assert_eq!(
        types,
        [
            "generated",
            "revealed",
            "edited",
            "scopes_changed",
            "rate_limit_changed",
            "expiry_changed",
            "expiry_changed",
        ],
        "a change that changes nothing records nothing"
    );
    assert_eq!(
        events[4].1,
        json!({"before": {"rate_limit_per_minute": 60}, "after": {"rate_limit_per_minute": null}})
    );
    assert!(events[5].1["before"]["expires_at"].is_null());
    assert!(events[6].1["after"]["expires_at"].is_null());
}

async fn update_keeps_expiry_within_the_policys_lifetime(backend: Backend) {
    let Some(s) = setup(backend).await else {
        return;
    };
    s.set_preset(PolicyPreset::TokenLifetime);
    let created = s
        .api
        .post("/api/v1/keys", json!({"name": "Short", "expires_in_days": 30}))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.body["key"]["id"].as_str().unwrap().to_owned();
    let today = s.app.clock.now().date();
    for body in [
        json!({"expires_on": null}),
        json!({"expires_on": (today + Duration::days(91)).to_string()}),
        json!({"expires_on": (today - Duration::days(1)).to_string()}),
        json!({"expires_on": "31/12/2030"}),
    ] {
        let res = s.api.patch(&key_path(&id), body.clone()).await;
        res.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
        assert_eq!(res.body["error"]["field"], "expires_on", "{body}");
    }
    let never = s.api.post("/api/v1/keys", json!({"name": "Forever"})).await;
    never.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    assert_eq!(never.body["error"]["field"], "expires_in_days");
    let too_long = s
        .api
        .post("/api/v1/keys", json!({"name": "Long", "expires_in_days": 365}))
        .await;
    assert_eq!(too_long.body["error"]["field"], "expires_in_days");
    let ok = s
        .api
        .patch(
            &key_path(&id),
            json!({"expires_on": (today + Duration::days(90)).to_string()}),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
}

async fn disable_enable_renew_and_revoke_answer_with_the_key_as_changed(backend: Backend) {
    let Some(s) = setup(backend).await else {
        return;
    };
    let created = s
        .api
        .post("/api/v1/keys", json!({"name": "Lifecycle", "expires_in_days": 7}))
        .await;
    let id = created.body["key"]["id"].as_str().unwrap().to_owned();
    let first_expiry = created.body["key"]["expires_at"].as_str().unwrap().to_owned();
    let act = |action: &str| format!("{}/{action}", key_path(&id));

    let disabled = s.api.post(&act("disable"), json!({})).await;
    assert_eq!(
        (disabled.status, &disabled.body["status"]),
        (StatusCode::OK, &json!("disabled"))
    );
    let empty_body = s
        .api
        .send(s.api.request(reqwest::Method::POST, &act("enable")))
        .await;
    assert_eq!(
        (empty_body.status, &empty_body.body["status"]),
        (StatusCode::OK, &json!("active")),
        "no body at all is fine"
    );
    s.app.clock.advance(Duration::days(2));
    let renewed = s.api.post(&act("renew"), json!({})).await;
    assert_eq!(renewed.status, StatusCode::OK, "{}", renewed.body);
    assert!(
        renewed.body["expires_at"].as_str().unwrap() > first_expiry.as_str(),
        "one lifetime from now"
    );
    let revoked = s.api.post(&act("revoke"), json!({})).await;
    assert_eq!(
        (revoked.status, &revoked.body["status"]),
        (StatusCode::OK, &json!("revoked"))
    );
    let events: Vec<String> = keyward::db::key_events::for_key(
        &mut s.app.db.get().unwrap(),
        &s.merchant_id,
        &keyward::domain::KeyId::parse(&id).unwrap(),
    )
    .unwrap()
    .into_iter()
    .map(|event| format!("{} by {}", event.event_type, event.actor_name))
    .collect();
    assert_eq!(
        events[2..],
        [
            "disabled by token deploy",
            "enabled by token deploy",
            "renewed by token deploy",
            "revoked by token deploy",
        ]
    );
}

async fn rotate_makes_the_next_version_and_keeps_the_old_one_in_grace(backend: Backend) {
    let Some(s) = setup(backend).await else {
        return;
    };
    let created = s
        .api
        .post(
            "/api/v1/keys",
            json!({"name": "Rolling", "scopes": ["inventory:write"], "rate_limit_per_minute": 30}),
        )
        .await;
    let old_id = created.body["key"]["id"].as_str().unwrap().to_owned();
    let old_secret = created.body["secret"].as_str().unwrap().to_owned();

    let rotated = s
        .api
        .post(&format!("{}/rotate", key_path(&old_id)), json!({"grace": "1h"}))
        .await;
    assert_eq!(rotated.status, StatusCode::CREATED, "{}", rotated.body);
    let new = &rotated.body["key"];
    let new_id = new["id"].as_str().unwrap();
    assert_eq!(rotated.header("location"), Some(key_path(new_id).as_str()));
    assert_eq!(rotated.header("cache-control"), Some("no-store"));
    let secret = ApiKey::parse(rotated.body["secret"].as_str().unwrap()).unwrap();
    assert_ne!(secret.expose(), old_secret);
    assert_eq!(
        (
            &new["version"],
            &new["lineage_id"],
            &new["scopes"],
            &new["rate_limit_per_minute"],
            &new["status"]
        ),
        (
            &json!(2),
            &json!(old_id),
            &json!(["inventory:write"]),
            &json!(30),
            &json!("active")
        )
    );
    let previous = &rotated.body["previous"];
    assert_eq!(
        (&previous["id"], &previous["status"]),
        (&json!(old_id), &json!("rotated"))
    );
    let grace_end = time::OffsetDateTime::parse(
        previous["grace_ends_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let expected = s.app.clock.now().assume_utc() + Duration::hours(1);
    assert!(
        (grace_end - expected).abs() < Duration::seconds(5),
        "{grace_end} vs {expected}"
    );
    for key in [old_secret.as_str(), secret.expose()] {
        let res = s.app.call("/api/v1/whoami", Some(&format!("ApiKey {key}"))).await;
        assert_eq!(res.status(), StatusCode::OK, "both work during the grace period");
    }

    let again = s
        .api
        .post(&format!("{}/rotate", key_path(new_id)), json!({}))
        .await;
    again.assert_error(StatusCode::CONFLICT, "rotation_in_progress");
}

async fn duplicate_copies_the_source_and_takes_the_fields_given(backend: Backend) {
    let Some(s) = setup(backend).await else {
        return;
    };
    let source = s
        .api
        .post(
            "/api/v1/keys",
            json!({"name": "Template", "description": "EU shop", "scopes": ["products:read"], "expires_in_days": 60, "rate_limit_per_minute": 100}),
        )
        .await;
    let source_id = source.body["key"]["id"].as_str().unwrap().to_owned();
    let copy = s
        .api
        .post(&format!("{}/duplicate", key_path(&source_id)), json!({}))
        .await;
    assert_eq!(copy.status, StatusCode::CREATED, "{}", copy.body);
    let key = &copy.body["key"];
    assert_eq!(
        (
            &key["name"],
            &key["description"],
            &key["scopes"],
            &key["lifetime_days"],
            &key["rate_limit_per_minute"]
        ),
        (
            &json!("Template (copy)"),
            &json!("EU shop"),
            &json!(["products:read"]),
            &json!(60),
            &json!(100)
        )
    );
    assert!(ApiKey::parse(copy.body["secret"].as_str().unwrap()).is_ok());
    assert_ne!(key["lineage_id"], json!(source_id), "a new key, not a version");

    let changed = s
        .api
        .post(
            &format!("{}/duplicate", key_path(&source_id)),
            json!({"name": "US shop", "scopes": ["orders:read"], "rate_limit_per_minute": null}),
        )
        .await;
    assert_eq!(changed.status, StatusCode::CREATED, "{}", changed.body);
    let key = &changed.body["key"];
    assert_eq!(
        (
            &key["name"],
            &key["description"],
            &key["scopes"],
            &key["rate_limit_per_minute"]
        ),
        (
            &json!("US shop"),
            &json!("EU shop"),
            &json!(["orders:read"]),
            &json!(null)
        )
    );
    let history = s
        .api
        .get(&format!("{}/history", key_path(key["id"].as_str().unwrap())))
        .await;
    let duplicated = history.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|event| event["type"] == "duplicated_from")
        .expect("the duplicate's history names its source");
    assert_eq!(duplicated["details"]["source_key_id"], json!(source_id));
}

async fn delete_answers_204_and_the_key_is_gone_from_the_api(backend: Backend) {
    let Some(s) = setup(backend).await else {
        return;
    };
    let id = s.api.create_key("Short-lived").await;
    s.api.post(&format!("{}/disable", key_path(&id)), json!({})).await;
    let deleted = s.api.delete(&key_path(&id)).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert!(deleted.body.is_null(), "no body");
    for path in [
        key_path(&id),
        format!("{}/usage", key_path(&id)),
        format!("{}/history", key_path(&id)),
    ] {
        s.api
            .get(&path)
            .await
            .assert_error(StatusCode::NOT_FOUND, "not_found");
    }
    s.api
        .delete(&key_path(&id))
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    let list = s.api.get("/api/v1/keys").await;
    assert_eq!(list.body["data"], json!([]));
    assert_eq!(s.key_count(), 1, "kept for history");
}

async fn the_edit_page_changes_rate_limit_and_expiry_too(backend: Backend) {
    let Some(s) = setup(backend).await else {
        return;
    };
    let dash = crate::support::dashboard::Dashboard::admin(&s.app).await;
    let row = dash.generate_key("Paged").await;
    let edit = format!("{}/{}/edit", crate::support::dashboard::LIST, row.id);
    let form = dash.browser.html(&edit).await;
    assert!(
        form.contains(r#"name="rate_limit""#) && form.contains(r#"name="expires_on""#),
        "{form}"
    );
    let last_day = (s.app.clock.now() + Duration::days(5)).date().to_string();
    let res = dash
        .submit(
            &edit,
            &edit,
            &[
                ("name", "Paged"),
                ("rate_limit", "120"),
                ("expires_on", &last_day),
            ],
        )
        .await;
    assert!(
        res.status().is_redirection() || res.status().is_success(),
        "{}",
        res.status()
    );
    let changed = dash.row(&row.id);
    assert_eq!(changed.rate_limit_per_minute, Some(120));
    assert_eq!(
        changed
            .expires_at
            .map(|at| at.date().previous_day().unwrap().to_string()),
        Some(last_day)
    );
    assert_eq!(
        dash.events(&row.id)[2..],
        ["rate_limit_changed", "expiry_changed"]
    );

    let res = dash
        .submit(&edit, &edit, &[("name", "Paged"), ("rate_limit", "")])
        .await;
    assert!(res.status().is_redirection() || res.status().is_success());
    let cleared = dash.row(&row.id);
    assert_eq!(cleared.rate_limit_per_minute, None, "emptied, the limit goes");
    assert_eq!(
        cleared.expires_at, changed.expires_at,
        "an empty date keeps the expiry"
    );
}

async fn two_updates_of_different_fields_at_once_both_stick(backend: Backend) {
    let Some(s) = setup(backend).await else {
        return;
    };
    for round in 0..5 {
        let path = key_path(&s.api.create_key(&format!("Race {round}")).await);
        let name = format!("Renamed {round}");
        let (renamed, limited) = tokio::join!(
            s.api.patch(&path, json!({"name": name})),
            s.api.patch(&path, json!({"rate_limit_per_minute": 30})),
        );
        assert_eq!((renamed.status, limited.status), (StatusCode::OK, StatusCode::OK));
        let key = s.api.get(&path).await;
        assert_eq!(
            (&key.body["name"], &key.body["rate_limit_per_minute"]),
            (&json!(name), &json!(30)),
            "round {round}: one update undid the other"
        );
    }
}
