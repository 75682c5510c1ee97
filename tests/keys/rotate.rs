//! Rotate: the new version, the old one's grace period, and rotations that race.

use reqwest::StatusCode;
use time::Duration;

use crate::db_test;
use crate::support::dashboard::{Dashboard, LIST, assert_message, revealed_key};
use crate::support::{Backend, spawn_app};
use keyward::domain::KeyStatus;

db_test!(
    rotation_keeps_the_old_key_working_until_the_grace_period_ends,
    rotation_is_refused_while_a_previous_version_is_in_grace,
    a_grace_period_never_outlives_the_old_keys_expiry,
    rotation_follows_a_policy_tightened_since_the_key_was_made,
    the_grace_boundary_holds_on_the_page,
    twenty_concurrent_rotations_make_exactly_one_new_version,
    twenty_concurrent_rotations_with_a_grace_period_make_exactly_one_new_version,
);

async fn rotation_keeps_the_old_key_working_until_the_grace_period_ends(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let dash = Dashboard::admin(&app).await;
    let res = dash
        .generate(&[
            ("name", "Sync"),
            ("scopes", "inventory:write"),
            ("description", "Nightly sync"),
        ])
        .await;
    let first = revealed_key(&res.text().await.unwrap());
    let old = dash.key_named("Sync");

    let form = dash.browser.html(&format!("{LIST}/{}/rotate", old.id)).await;
    for label in [
        "Now",
        "1 hour",
        "24 hours",
        "3 days",
        "7 days",
        "Confirm &amp; Rotate",
    ] {
        assert!(form.contains(label), "{label} missing");
    }
    assert!(
        form.contains(r#"value="3d" checked"#),
        "the policy's default grace is chosen"
    );

    let second = dash.rotate_ok(&old.id, "24h").await;
    assert_ne!(first, second);
    let new = dash.key_named("Sync");
    assert_eq!(
        (new.version, new.lineage_id.as_str()),
        (2, old.lineage_id.as_str())
    );
    assert_eq!(
        (new.scopes.to_stored().as_str(), new.description.as_str()),
        ("inventory:write", "Nightly sync")
    );
    let old = dash.row(&old.id);
    assert_eq!(old.status, KeyStatus::Rotated);
    assert_eq!(dash.events(&old.id), ["generated", "revealed", "rotated"]);

    let page = dash.page().await;
    assert!(page.contains("Rotated API Key"), "{page}");
    assert!(page.contains("Expires in: 23h 59m remaining"), "{page}");
    assert!(
        page.contains("1 of 5 active keys"),
        "a key in grace does not count"
    );

    let facts = old.facts();
    let grace_end = old.grace_ends_at.unwrap();
    assert!(
        facts.is_usable(grace_end - Duration::microseconds(1)),
        "accepted while now < grace end"
    );
    assert!(!facts.is_usable(grace_end), "refused from the grace end on");

    dash.advance(Duration::hours(24)).await;
    let page = dash.page().await;
    assert!(
        !page.contains("Rotated API Key"),
        "the old key is gone once its grace ends"
    );
    assert!(page.contains(&new.masked_key));
}

async fn rotation_is_refused_while_a_previous_version_is_in_grace(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let dash = Dashboard::admin(&app).await;
    let v1 = dash.generate_key("Main").await;
    let left_open = dash.open_form(&format!("{LIST}/{}/rotate", v1.id)).await;
    dash.rotate_ok(&v1.id, "1h").await;
    let v2 = dash.key_named("Main");
    let page = dash.page().await;
    assert!(
        page.contains("once the previous version's grace period ends"),
        "{page}"
    );
    assert!(
        !page.contains(&format!("{}/rotate", v2.id)),
        "no Rotate Key during grace"
    );

    let rotate = format!("{LIST}/{}/rotate", v2.id);
    dash.assert_refused_page(&rotate, "still in its grace period")
        .await;
    let res = dash
        .post_left_open(&left_open, &rotate, &[("grace", "now")])
        .await;
    assert_message(res, StatusCode::CONFLICT, "still in its grace period").await;
    assert_eq!(dash.keys().len(), 2, "no third version");

    // Revoking the old version ends the grace period at once.
    dash.act(&v1.id, "revoke", &[("confirm", "REVOKE")]).await;
    dash.rotate_ok(&v2.id, "now").await;
    assert_eq!(dash.key_named("Main").version, 3);
}

async fn a_grace_period_never_outlives_the_old_keys_expiry(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let dash = Dashboard::admin(&app).await;
    let res = dash.generate(&[("name", "Short"), ("expires", "7")]).await;
    assert_eq!(res.status(), StatusCode::OK);
    let old = dash.key_named("Short");
    dash.advance(Duration::days(6)).await;
    dash.rotate_ok(&old.id, "7d").await;
    let old_after = dash.row(&old.id);
    assert_eq!(
        old_after.grace_ends_at, old.expires_at,
        "grace capped at the old key's expiry"
    );
    let new = dash.key_named("Short");
    assert_eq!(new.lifetime_days, Some(7), "the lifetime carries over");
    assert_eq!(new.expires_at, Some(new.created_at + Duration::days(7)));
}

async fn rotation_follows_a_policy_tightened_since_the_key_was_made(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let dash = Dashboard::admin(&app).await;
    let old = dash.generate_key("Forever").await;
    assert_eq!(old.expires_at, None);
    dash.set_policy("token-lifetime").await;
    dash.rotate_ok(&old.id, "1h").await;
    let new = dash.key_named("Forever");
    assert_eq!(new.lifetime_days, Some(90));
    assert_eq!(new.expires_at, Some(new.created_at + Duration::days(90)));
}

async fn the_grace_boundary_holds_on_the_page(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let dash = Dashboard::admin(&app).await;
    let v1 = dash.generate_key("Edge").await;
    dash.rotate_ok(&v1.id, "1h").await;
    let v2 = dash.key_named("Edge");
    dash.advance(Duration::minutes(59)).await;
    let page = dash.page().await;
    assert!(
        page.contains("Rotated API Key") && page.contains("Expires in:"),
        "still in grace at 59 minutes"
    );
    let rotate = format!("{LIST}/{}/rotate", v2.id);
    dash.assert_refused_page(&rotate, "still in its grace period")
        .await;
    // The session may have been renewed by the clock's jump: a one-time value of this
    // session's (any form's) stands for a Rotate form left open.
    let left_open = dash.open_form("/settings/api-credentials/new").await;
    assert_message(
        dash.post_left_open(&left_open, &rotate, &[("grace", "now")])
            .await,
        StatusCode::CONFLICT,
        "still in its grace period",
    )
    .await;
    dash.advance(Duration::minutes(1)).await;
    assert!(
        !dash.page().await.contains("Rotated API Key"),
        "over at 60 minutes"
    );
    dash.rotate_ok(&v2.id, "now").await;
    assert_eq!(dash.key_named("Edge").version, 3);
}

/// Opens the Rotate form of `key_id` twenty times, then sends all twenty at once with
/// `grace`: exactly one rotation may win, the others are refused with 409.
async fn race_twenty_rotations(dash: &Dashboard<'_>, key_id: &str, grace: &str) {
    let path = format!("{LIST}/{key_id}/rotate");
    let mut forms = Vec::new();
    for _ in 0..20 {
        forms.push(dash.open_form(&path).await);
    }
    let attempts = forms.iter().map(|(token, nonce)| {
        let (path, browser) = (path.clone(), &dash.browser);
        async move {
            browser
                .post_form(
                    &path,
                    &[
                        ("csrf_token", token.as_str()),
                        ("nonce", nonce.as_str()),
                        ("grace", grace),
                    ],
                )
                .await
                .status()
        }
    });
    let statuses = futures_util::future::join_all(attempts).await;
    let succeeded = statuses
        .iter()
        .filter(|status| **status == StatusCode::OK)
        .count();
    assert_eq!(succeeded, 1, "{statuses:?}");
    assert!(
        statuses
            .iter()
            .all(|status| *status == StatusCode::OK || *status == StatusCode::CONFLICT),
        "{statuses:?}"
    );
    assert_eq!(dash.keys().len(), 2, "one new version");
    assert_eq!(dash.row(key_id).status, KeyStatus::Rotated);
}

async fn twenty_concurrent_rotations_make_exactly_one_new_version(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let dash = Dashboard::admin(&app).await;
    let key = dash.generate_key("Contended").await;
    race_twenty_rotations(&dash, &key.id, "now").await;
    assert_eq!(dash.key_named("Contended").version, 2);
}

/// With a grace period the losers meet the version in grace, not only a changed status.
async fn twenty_concurrent_rotations_with_a_grace_period_make_exactly_one_new_version(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let dash = Dashboard::admin(&app).await;
    let key = dash.generate_key("Graceful").await;
    race_twenty_rotations(&dash, &key.id, "7d").await;
}
