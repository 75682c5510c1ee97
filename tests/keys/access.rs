//! Who sees which key actions, and the keys of another merchant.

use keyward::domain::Role;
use reqwest::StatusCode;

use crate::db_test;
use crate::support::dashboard::{Dashboard, LIST};
use crate::support::{Backend, spawn_app};

db_test!(
    viewers_see_no_change_buttons_and_every_change_is_403,
    another_merchants_and_malformed_key_ids_are_not_found,
);

async fn viewers_see_no_change_buttons_and_every_change_is_403(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let admin = Dashboard::admin(&app).await;
    let key = admin.generate_key("Shared").await;
    let viewer = Dashboard::member(&app, "viewer@example.com", Role::Viewer).await;
    let page = viewer.page().await;
    assert!(page.contains("Shared") && page.contains(&key.masked_key));
    for button in [
        "Generate New API Key",
        "Rotate Key",
        "Revoke Key",
        ">Disable<",
        ">Edit<",
        ">Duplicate<",
        "Key Policy",
    ] {
        assert!(!page.contains(button), "a viewer sees {button}");
    }
    let token = viewer.browser.csrf_token(LIST).await;
    let base = format!("{LIST}/{}", key.id);
    for path in [
        "/settings/api-credentials/new".to_owned(),
        format!("{base}/rotate"),
        format!("{base}/revoke"),
        format!("{base}/edit"),
        format!("{base}/duplicate"),
        format!("{base}/delete"),
        "/settings/key-policy".to_owned(),
    ] {
        assert_eq!(
            viewer.browser.get(&path).await.status(),
            StatusCode::FORBIDDEN,
            "GET {path}"
        );
    }
    for path in [
        LIST.to_owned(),
        format!("{base}/rotate"),
        format!("{base}/revoke"),
        format!("{base}/edit"),
        format!("{base}/delete"),
        format!("{base}/disable"),
        format!("{base}/enable"),
        format!("{base}/renew"),
        "/settings/key-policy".to_owned(),
    ] {
        let res = viewer
            .browser
            .post_form(
                &path,
                &[
                    ("csrf_token", &token),
                    ("name", "x"),
                    ("confirm", "REVOKE"),
                    ("understood", "yes"),
                    ("grace", "now"),
                    ("preset", "single-key"),
                ],
            )
            .await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "POST {path}");
    }
    let row = admin.row(&key.id);
    assert_eq!((row.status.as_str(), row.name.as_str()), ("active", "Shared"));
    assert_eq!(admin.keys().len(), 1);

    let developer = Dashboard::member(&app, "dev@example.com", Role::Developer).await;
    assert!(developer.page().await.contains("Rotate Key"));
    assert_eq!(
        developer.browser.get("/settings/key-policy").await.status(),
        StatusCode::FORBIDDEN
    );
    developer.generate_ok("By developer").await;
    assert_eq!(developer.key_named("By developer").created_by, "Test User");
}

async fn another_merchants_and_malformed_key_ids_are_not_found(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let owner = Dashboard::admin(&app).await;
    let key = owner.generate_key("Private").await;

    let other_merchant = {
        let mut conn = app.db.get().unwrap();
        keyward::db::merchants::create(
            &mut conn,
            &keyward::domain::MerchantName::parse("Rival").unwrap(),
            app.clock.now(),
        )
        .unwrap()
        .id
    };
    app.create_member(
        "rival@example.com",
        "rival password",
        &other_merchant,
        Role::Admin,
    );
    let rival = app.browser();
    rival.sign_in("rival@example.com", "rival password").await;
    let token = rival.csrf_token(LIST).await;
    for id in [
        key.id.as_str(),
        "not-a-uuid",
        "00000000-0000-0000-0000-000000000000",
        "%00",
    ] {
        let base = format!("{LIST}/{id}");
        for action in ["rotate", "revoke", "edit", "duplicate", "delete"] {
            let res = rival.get(&format!("{base}/{action}")).await;
            assert_eq!(res.status(), StatusCode::NOT_FOUND, "GET {action} {id}");
            assert!(!res.text().await.unwrap().contains("Private"));
        }
        for action in ["rotate", "revoke", "edit", "delete", "disable", "enable", "renew"] {
            let res = rival
                .post_form(
                    &format!("{base}/{action}"),
                    &[
                        ("csrf_token", &token),
                        ("confirm", "REVOKE"),
                        ("understood", "yes"),
                        ("grace", "now"),
                        ("name", "Mine"),
                    ],
                )
                .await;
            assert_eq!(res.status(), StatusCode::NOT_FOUND, "POST {action} {id}");
        }
    }
    let row = owner.row(&key.id);
    assert_eq!(
        (row.status.as_str(), row.name.as_str(), row.version),
        ("active", "Private", 1)
    );
    assert!(!rival.html(LIST).await.contains("Private"));
}
