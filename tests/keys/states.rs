//! Disable, Enable, Renew, Revoke and Delete, and the empty state they can bring back.

use reqwest::StatusCode;
use time::Duration;

use crate::db_test;
use crate::support::dashboard::{Dashboard, LIST, assert_message};
use crate::support::{Backend, location, spawn_app};
use keyward::domain::KeyStatus;

db_test!(
    revoke_needs_exactly_revoke_and_never_comes_back,
    revoking_the_only_key_brings_back_the_empty_state,
    disable_and_enable_switch_a_key_off_and_on,
    renew_moves_the_expiry_one_lifetime_ahead,
    delete_needs_the_checkbox_and_an_inactive_key,
    disabling_the_last_active_key_shows_the_empty_state_above_it,
);

async fn revoke_needs_exactly_revoke_and_never_comes_back(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let dash = Dashboard::admin(&app).await;
    dash.generate_ok("Keep").await;
    let key = dash.generate_key("Doomed").await;
    let form = dash.browser.html(&format!("{LIST}/{}/revoke", key.id)).await;
    assert!(
        form.contains("Type REVOKE to confirm") && form.contains("cannot be undone"),
        "{form}"
    );
    for typed in ["revoke", " REVOKE", "REVOKE\n", "REVOKED", ""] {
        let res = dash.act(&key.id, "revoke", &[("confirm", typed)]).await;
        assert_message(res, StatusCode::CONFLICT, "Type REVOKE, in capital letters").await;
        assert_eq!(
            dash.row(&key.id).status,
            KeyStatus::Active,
            "{typed:?} revoked the key"
        );
    }
    let res = dash.act(&key.id, "revoke", &[("confirm", "REVOKE")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), LIST);
    let row = dash.row(&key.id);
    assert_eq!(
        (row.status.as_str(), row.revoked_by.as_deref()),
        ("revoked", Some("Admin"))
    );

    let page = dash.page().await;
    assert!(page.contains("was revoked"), "a confirmation message");
    let revoked = &page[page.find("Revoked Keys").expect("a Revoked Keys section")..];
    assert!(revoked.contains("Doomed") && revoked.contains(&row.masked_key) && revoked.contains("Admin"));

    assert_message(
        dash.act(&key.id, "enable", &[]).await,
        StatusCode::CONFLICT,
        "revoked",
    )
    .await;
    assert_message(
        dash.act(&key.id, "revoke", &[("confirm", "REVOKE")]).await,
        StatusCode::CONFLICT,
        "revoked",
    )
    .await;
    assert_eq!(dash.row(&key.id).status, KeyStatus::Revoked);
    assert_eq!(dash.events(&key.id), ["generated", "revealed", "revoked"]);
}

async fn revoking_the_only_key_brings_back_the_empty_state(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let dash = Dashboard::admin(&app).await;
    dash.generate_ok("Only").await;
    assert!(!dash.page().await.contains("No Active API Key Generated"));
    let key = dash.key_named("Only");
    dash.act(&key.id, "revoke", &[("confirm", "REVOKE")]).await;
    let page = dash.page().await;
    assert!(
        page.contains("No Active API Key Generated") && page.contains("Generate New API Key"),
        "{page}"
    );
}

async fn disable_and_enable_switch_a_key_off_and_on(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let dash = Dashboard::admin(&app).await;
    let key = dash.generate_key("Toggle").await;
    let res = dash.act(&key.id, "disable", &[]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let row = dash.row(&key.id);
    assert_eq!(
        (row.status.as_str(), row.disabled_by.as_deref()),
        ("disabled", Some("Admin"))
    );
    let page = dash.page().await;
    assert!(page.contains("DISABLED") && page.contains(">Enable<") && page.contains("0 of 5 active keys"));
    assert_message(
        dash.act(&key.id, "disable", &[]).await,
        StatusCode::CONFLICT,
        "disabled already",
    )
    .await;

    assert_eq!(
        dash.act(&key.id, "enable", &[]).await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(dash.row(&key.id).status, KeyStatus::Active);
    assert_eq!(
        dash.events(&key.id),
        ["generated", "revealed", "disabled", "enabled"]
    );
}

async fn renew_moves_the_expiry_one_lifetime_ahead(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let dash = Dashboard::admin(&app).await;
    assert_eq!(
        dash.generate(&[("name", "Monthly"), ("expires", "30")])
            .await
            .status(),
        StatusCode::OK
    );
    dash.generate_ok("Forever").await;
    let key = dash.key_named("Monthly");
    assert!(dash.page().await.contains(">Renew<"));
    dash.advance(Duration::days(20)).await;
    assert_eq!(
        dash.act(&key.id, "renew", &[]).await.status(),
        StatusCode::SEE_OTHER
    );
    let renewed = dash.row(&key.id);
    let expected = app.clock.now() + Duration::days(30);
    let drift = renewed.expires_at.unwrap() - expected;
    assert!(
        drift.abs() < Duration::seconds(5),
        "expires {:?}",
        renewed.expires_at
    );
    assert!(dash.page().await.contains("was renewed"));

    let forever = dash.key_named("Forever");
    assert_message(
        dash.act(&forever.id, "renew", &[]).await,
        StatusCode::CONFLICT,
        "no lifetime to renew",
    )
    .await;
}

async fn delete_needs_the_checkbox_and_an_inactive_key(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let dash = Dashboard::admin(&app).await;
    let key = dash.generate_key("Old").await;
    let res = dash.act(&key.id, "delete", &[("understood", "yes")]).await;
    assert_message(
        res,
        StatusCode::CONFLICT,
        "Deactivate this key before deleting it",
    )
    .await;

    dash.act(&key.id, "disable", &[]).await;
    let form = dash.browser.html(&format!("{LIST}/{}/delete", key.id)).await;
    assert!(form.contains("I understand that this action cannot be undone") && form.contains(">Delete<"));
    let res = dash.act(&key.id, "delete", &[]).await;
    assert_message(
        res,
        StatusCode::CONFLICT,
        "I understand that this action cannot be undone",
    )
    .await;
    assert_eq!(dash.row(&key.id).status, KeyStatus::Disabled);

    let res = dash.act(&key.id, "delete", &[("understood", "yes")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(dash.row(&key.id).status, KeyStatus::Deleted);
    assert!(!dash.page().await.contains("Old</h2>"));
    assert!(dash.keys().is_empty(), "hidden from lists");
    assert_eq!(
        dash.browser
            .get(&format!("{LIST}/{}/edit", key.id))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        dash.events(&key.id),
        ["generated", "revealed", "disabled", "deleted"]
    );
}

async fn disabling_the_last_active_key_shows_the_empty_state_above_it(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let dash = Dashboard::admin(&app).await;
    let key = dash.generate_key("Paused").await;
    dash.act(&key.id, "disable", &[]).await;
    let page = dash.page().await;
    let empty = page.find("No Active API Key Generated").expect("the empty state");
    let card = page.find("Paused</h2>").expect("the disabled card");
    assert!(empty < card);
}
