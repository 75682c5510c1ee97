//! Every rule refuses an API change with 409, its stable code and the message the
//! dashboard shows, and changes nothing.

use keyward::domain::{PolicyPreset, Refusal};
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{Setup, key_path, setup};
use crate::db_test;
use crate::support::Backend;
use crate::support::manage::Answer;

db_test!(each_rule_is_a_409_with_its_code_and_the_dashboards_message);

#[track_caller]
fn assert_refused(res: &Answer, refusal: &Refusal) {
    res.assert_error(StatusCode::CONFLICT, refusal.code());
    assert_eq!(res.body["error"]["message"], refusal.to_string());
}

async fn post(s: &Setup, key_id: &str, action: &str, body: Value) -> Answer {
    s.api.post(&format!("{}/{action}", key_path(key_id)), body).await
}

async fn each_rule_is_a_409_with_its_code_and_the_dashboards_message(backend: Backend) {
    let Some(s) = setup(backend).await else {
        return;
    };
    s.set_preset(PolicyPreset::SingleKey);
    let only = s.api.create_key("Only").await;
    let res = s.api.post("/api/v1/keys", json!({"name": "Second"})).await;
    assert_refused(&res, &Refusal::LimitReached { active: 1, max: 1 });
    assert_refused(
        &post(&s, &only, "duplicate", json!({})).await,
        &Refusal::LimitReached { active: 1, max: 1 },
    );
    let rotated = post(&s, &only, "rotate", json!({"grace": "24h"})).await;
    let current = rotated.body["key"]["id"].as_str().unwrap().to_owned();
    assert_refused(
        &post(&s, &current, "rotate", json!({})).await,
        &Refusal::RotationInGrace,
    );
    assert_refused(
        &post(&s, &only, "rotate", json!({})).await,
        &Refusal::RotateNeedsActive,
    );
    assert_refused(
        &post(&s, &current, "renew", json!({})).await,
        &Refusal::NoLifetime,
    );
    assert_refused(
        &post(&s, &current, "enable", json!({})).await,
        &Refusal::WrongState("not disabled"),
    );
    assert_refused(
        &s.api.delete(&key_path(&current)).await,
        &Refusal::DeleteNeedsInactive,
    );

    s.set_preset(PolicyPreset::StrictLifecycle);
    assert_refused(
        &post(&s, &current, "revoke", json!({})).await,
        &Refusal::RevokeNeedsDisabled,
    );
    let res = s
        .api
        .patch(&key_path(&current), json!({"scopes": ["orders:write"]}))
        .await;
    assert_refused(&res, &Refusal::ScopesFixed);
    let same_scopes = s
        .api
        .patch(&key_path(&current), json!({"scopes": [], "name": "Only v2"}))
        .await;
    assert_eq!(
        same_scopes.status,
        StatusCode::OK,
        "unchanged scopes pass: {}",
        same_scopes.body
    );

    post(&s, &current, "disable", json!({})).await;
    assert_eq!(
        post(&s, &current, "revoke", json!({})).await.status,
        StatusCode::OK
    );
    for action in ["disable", "enable", "rotate", "revoke", "renew"] {
        assert_refused(&post(&s, &current, action, json!({})).await, &Refusal::Revoked);
    }
    assert_refused(
        &s.api.patch(&key_path(&current), json!({"name": "Back"})).await,
        &Refusal::Revoked,
    );

    let row = keyward::db::keys::find(
        &mut s.app.db.get().unwrap(),
        &s.merchant_id,
        &keyward::domain::KeyId::parse(&current).unwrap(),
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        (row.name.as_str(), row.scopes.names().len()),
        ("Only v2", 0),
        "nothing refused was written"
    );
    assert_eq!(s.key_count(), 2, "no refused key was made");
}
