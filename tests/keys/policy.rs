//! The Key Policy page, its presets as the seed pages describe them, and the active-key limit.

use reqwest::StatusCode;
use time::Duration;

use crate::db_test;
use crate::support::dashboard::{Dashboard, LIST, assert_message};
use crate::support::{Backend, spawn_app};
use keyward::domain::KeyStatus;

const NEW: &str = "/settings/api-credentials/new";

db_test!(
    the_active_key_limit_is_enforced_and_rotated_keys_do_not_count,
    the_key_policy_page_is_for_admins_and_changes_no_existing_key,
    single_key_preset_reproduces_violet,
    strict_lifecycle_preset_reproduces_the_payments_platform,
    token_lifetime_preset_reproduces_vtex,
    standard_preset_reproduces_gelato_and_the_warehouse_api,
    flexible_preset_reproduces_the_warehouse_api_with_unnamed_keys,
    twenty_concurrent_generations_at_the_limit_make_exactly_one_key,
);

async fn the_active_key_limit_is_enforced_and_rotated_keys_do_not_count(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let dash = Dashboard::admin(&app).await;
    let token = dash.browser.csrf_token("/settings/key-policy").await;
    let fields = [
        ("csrf_token", token.as_str()),
        ("max_active_keys", "2"),
        ("default_grace", "3d"),
        ("name_required", "yes"),
        ("delete_only_inactive", "yes"),
        ("scopes_editable", "yes"),
        ("max_lifetime_days", ""),
    ];
    assert_eq!(
        dash.browser
            .post_form("/settings/key-policy", &fields)
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
    dash.generate_ok("One").await;
    let left_open = [dash.open_form(NEW).await, dash.open_form(NEW).await];
    dash.generate_ok("Two").await;
    assert!(dash.page().await.contains("2 of 2 active keys"));
    dash.assert_refused_page(NEW, "has 2 active keys and its key policy allows 2")
        .await;
    assert_message(
        dash.post_left_open(&left_open[0], LIST, &[("name", "Three")])
            .await,
        StatusCode::CONFLICT,
        "has 2 active keys and its key policy allows 2",
    )
    .await;

    let one = dash.key_named("One");
    dash.rotate_ok(&one.id, "7d").await;
    assert!(
        dash.page().await.contains("2 of 2 active keys"),
        "the rotated version does not count"
    );
    assert_message(
        dash.post_left_open(&left_open[1], LIST, &[("name", "Three")])
            .await,
        StatusCode::CONFLICT,
        "has 2 active keys and its key policy allows 2",
    )
    .await;

    let two = dash.key_named("Two");
    dash.act(&two.id, "disable", &[]).await;
    dash.generate_ok("Three").await;
    assert_message(
        dash.act(&two.id, "enable", &[]).await,
        StatusCode::CONFLICT,
        "has 2 active keys and its key policy allows 2",
    )
    .await;
}

async fn the_key_policy_page_is_for_admins_and_changes_no_existing_key(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let dash = Dashboard::admin(&app).await;
    let page = dash.browser.html("/settings/key-policy").await;
    for text in [
        "Single key",
        "Standard",
        "Strict lifecycle",
        "Token lifetime",
        "Maximum active keys",
        "Save policy",
    ] {
        assert!(page.contains(text), "{text} missing");
    }
    assert!(
        page.contains("Standard <span class=\"badge badge-active\">CURRENT</span>"),
        "{page}"
    );
    for name in ["A", "B", "C"] {
        dash.generate_ok(name).await;
    }
    let left_open = dash.open_form(NEW).await;
    dash.set_policy("single-key").await;
    let page = dash.browser.html("/settings/key-policy").await;
    assert!(
        page.contains("Key policy saved (Single key)")
            && page.contains("Single key <span class=\"badge badge-active\">CURRENT</span>")
    );
    assert_eq!(
        dash.keys()
            .iter()
            .filter(|row| row.status == KeyStatus::Active)
            .count(),
        3,
        "existing keys stay active"
    );
    assert!(dash.page().await.contains("3 of 1 active keys"));
    dash.assert_refused_page(NEW, "has 3 active keys and its key policy allows 1")
        .await;
    assert_message(
        dash.post_left_open(&left_open, LIST, &[("name", "D")]).await,
        StatusCode::CONFLICT,
        "has 3 active keys and its key policy allows 1",
    )
    .await;

    let token = dash.browser.csrf_token("/settings/key-policy").await;
    let bad = [
        ("csrf_token", token.as_str()),
        ("max_active_keys", "0"),
        ("default_grace", "3d"),
    ];
    assert_message(
        dash.browser.post_form("/settings/key-policy", &bad).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "from 1 to 100",
    )
    .await;
    let bad = [
        ("csrf_token", token.as_str()),
        ("max_active_keys", "5"),
        ("default_grace", "forever"),
    ];
    assert_message(
        dash.browser.post_form("/settings/key-policy", &bad).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "Grace period",
    )
    .await;
    let events = app.count("SELECT COUNT(*) AS n FROM key_events WHERE event_type = 'policy_changed'");
    assert_eq!(events, 1);
}

async fn single_key_preset_reproduces_violet(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let dash = Dashboard::admin(&app).await;
    dash.set_policy("single-key").await;
    // Violet generates without asking for a name.
    let left_open = dash.open_form(NEW).await;
    let res = dash.generate(&[("name", "")]).await;
    assert_eq!(res.status(), StatusCode::OK);
    let key = dash.key_named("Key 1");
    dash.assert_refused_page(NEW, "has 1 active key and its key policy allows 1")
        .await;
    assert_message(
        dash.post_left_open(&left_open, LIST, &[("name", "")]).await,
        StatusCode::CONFLICT,
        "has 1 active key and its key policy allows 1",
    )
    .await;
    // Two keys work only during the grace period, 3 days by default.
    let form = dash.browser.html(&format!("{LIST}/{}/rotate", key.id)).await;
    assert!(form.contains(r#"value="3d" checked"#));
    dash.rotate_ok(&key.id, "3d").await;
    let page = dash.page().await;
    assert!(
        page.contains("Rotated API Key") && page.contains("Expires in: 2d 23h remaining"),
        "{page}"
    );
    assert!(page.contains("1 of 1 active keys"));
    let usable = dash
        .keys()
        .iter()
        .filter(|row| row.facts().is_usable(app.clock.now()))
        .count();
    assert_eq!(usable, 2);
}

async fn strict_lifecycle_preset_reproduces_the_payments_platform(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let dash = Dashboard::admin(&app).await;
    dash.set_policy("strict-lifecycle").await;
    let res = dash
        .generate(&[("name", "Gateway"), ("scopes", "orders:read")])
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let key = dash.key_named("Gateway");
    assert!(
        !dash.page().await.contains("Revoke Key"),
        "no Revoke on an enabled key"
    );
    assert_message(
        dash.act(&key.id, "revoke", &[("confirm", "REVOKE")]).await,
        StatusCode::CONFLICT,
        "requires disabling an active key",
    )
    .await;
    let fields = [("name", "Gateway"), ("scopes", "orders:write")];
    assert_message(
        dash.act(&key.id, "edit", &fields).await,
        StatusCode::CONFLICT,
        "fixes scopes",
    )
    .await;
    let fields = [
        ("name", "Payments gateway"),
        ("description", "Checkout"),
        ("scopes", "orders:read"),
    ];
    assert_eq!(
        dash.act(&key.id, "edit", &fields).await.status(),
        StatusCode::SEE_OTHER,
        "name and description stay editable"
    );
    // Enabled → Disabled → Revoked, and never back.
    dash.act(&key.id, "disable", &[]).await;
    assert!(dash.page().await.contains("Revoke Key"));
    assert_eq!(
        dash.act(&key.id, "revoke", &[("confirm", "REVOKE")])
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
    assert_message(
        dash.act(&key.id, "enable", &[]).await,
        StatusCode::CONFLICT,
        "revoked",
    )
    .await;
    let page = dash.page().await;
    assert!(
        page.contains("Revoked Keys") && page.contains("Payments gateway"),
        "it stays on the page"
    );
}

async fn token_lifetime_preset_reproduces_vtex(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let dash = Dashboard::admin(&app).await;
    dash.set_policy("token-lifetime").await;
    let form = dash.browser.html("/settings/api-credentials/new").await;
    assert!(
        !form.contains(">Never<") && !form.contains(">1 year<"),
        "only lifetimes within 90 days"
    );
    assert_message(
        dash.generate(&[("name", ""), ("expires", "30")]).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "Name must not be empty.",
    )
    .await;
    assert_message(
        dash.generate(&[("name", "Token"), ("expires", "never")]).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "requires keys to expire",
    )
    .await;
    assert_message(
        dash.generate(&[("name", "Token"), ("expires", "365")]).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "expire sooner",
    )
    .await;
    let too_late = (app.clock.now() + Duration::days(120)).date().to_string();
    assert_message(
        dash.generate(&[
            ("name", "Token"),
            ("expires", "custom"),
            ("expires_on", &too_late),
        ])
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "expire sooner",
    )
    .await;
    assert_eq!(
        dash.generate(&[("name", "Token"), ("expires", "90"), ("scopes", "products:read")])
            .await
            .status(),
        StatusCode::OK
    );
    let key = dash.key_named("Token");
    dash.advance(Duration::days(85)).await;
    assert!(dash.page().await.contains(">Renew<"));
    dash.act(&key.id, "renew", &[]).await;
    let renewed = dash.row(&key.id).expires_at.unwrap();
    assert!(renewed > app.clock.now() + Duration::days(89));
    // Deactivate and activate, as VTEX does.
    dash.act(&key.id, "disable", &[]).await;
    dash.act(&key.id, "enable", &[]).await;
    assert_eq!(dash.row(&key.id).status, KeyStatus::Active);
}

async fn standard_preset_reproduces_gelato_and_the_warehouse_api(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let dash = Dashboard::admin(&app).await;
    // Warehouse: up to 5 active keys, then revoke one to make room.
    let left_open = dash.open_form(NEW).await;
    for name in [
        "Production API",
        "Staging Tests",
        "Inventory Sync Script",
        "Four",
        "Five",
    ] {
        dash.generate_ok(name).await;
    }
    dash.assert_refused_page(NEW, "has 5 active keys and its key policy allows 5")
        .await;
    assert_message(
        dash.post_left_open(&left_open, LIST, &[("name", "Six")]).await,
        StatusCode::CONFLICT,
        "has 5 active keys and its key policy allows 5",
    )
    .await;
    let five = dash.key_named("Five");
    dash.act(&five.id, "revoke", &[("confirm", "REVOKE")]).await;
    dash.generate_ok("Six").await;
    assert!(dash.page().await.contains("Revoked Keys"));
    // Gelato: deactivate before delete, then it is gone from the list.
    let staging = dash.key_named("Staging Tests");
    assert_message(
        dash.act(&staging.id, "delete", &[("understood", "yes")]).await,
        StatusCode::CONFLICT,
        "Deactivate this key",
    )
    .await;
    dash.act(&staging.id, "disable", &[]).await;
    assert!(
        dash.page()
            .await
            .contains(&format!("{LIST}/{}/delete", staging.id)),
        "Delete offered once inactive"
    );
    assert_eq!(
        dash.act(&staging.id, "delete", &[("understood", "yes")])
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
    assert!(!dash.page().await.contains(">Staging Tests</h2>"));
}

async fn flexible_preset_reproduces_the_warehouse_api_with_unnamed_keys(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let dash = Dashboard::admin(&app).await;
    dash.set_policy("flexible").await;
    let form = dash.browser.html("/settings/api-credentials/new").await;
    assert!(
        form.contains("Name <span class=\"muted\">(optional)</span>"),
        "{form}"
    );
    assert_eq!(dash.generate(&[("name", "")]).await.status(), StatusCode::OK);
    dash.generate_ok("Inventory Sync").await;
    assert_eq!(dash.generate(&[("name", "  ")]).await.status(), StatusCode::OK);
    let names: Vec<String> = dash.keys().into_iter().map(|row| row.name).collect();
    assert!(
        names.contains(&"Key 1".to_owned()) && names.contains(&"Key 3".to_owned()),
        "{names:?}"
    );
    let left_open = dash.open_form(NEW).await;
    for name in ["Four", "Five"] {
        dash.generate_ok(name).await;
    }
    dash.assert_refused_page(NEW, "has 5 active keys").await;
    assert_message(
        dash.post_left_open(&left_open, LIST, &[("name", "")]).await,
        StatusCode::CONFLICT,
        "has 5 active keys",
    )
    .await;
}

async fn twenty_concurrent_generations_at_the_limit_make_exactly_one_key(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let dash = Dashboard::admin(&app).await;
    for name in ["One", "Two", "Three", "Four"] {
        dash.generate_ok(name).await;
    }
    let mut forms = Vec::new();
    for _ in 0..20 {
        forms.push(dash.open_form("/settings/api-credentials/new").await);
    }
    let attempts = forms.iter().enumerate().map(|(i, (token, nonce))| {
        let browser = &dash.browser;
        async move {
            let name = format!("Racer {i}");
            browser
                .post_form(
                    LIST,
                    &[
                        ("csrf_token", token.as_str()),
                        ("nonce", nonce.as_str()),
                        ("name", &name),
                    ],
                )
                .await
                .status()
        }
    });
    let statuses = futures_util::future::join_all(attempts).await;
    assert_eq!(
        statuses
            .iter()
            .filter(|status| **status == StatusCode::OK)
            .count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses
            .iter()
            .all(|status| *status == StatusCode::OK || *status == StatusCode::CONFLICT),
        "{statuses:?}"
    );
    assert_eq!(dash.keys().len(), 5);
}
