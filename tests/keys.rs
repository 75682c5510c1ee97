//! Settings → API Credentials, driven over HTTP as a person clicks it.

use keyward::domain::{ApiKey, Role};
use reqwest::{Response, StatusCode};
use time::Duration;

use crate::db_test;
use crate::support::dashboard::{Dashboard, LIST, revealed_key};
use crate::support::{Backend, csrf_token_in, field_value, location, logs, spawn_app};

async fn assert_message(res: Response, status: StatusCode, message: &str) {
    assert_eq!(res.status(), status, "expected {status} for {message:?}");
    let html = res.text().await.unwrap();
    assert!(html.contains(message), "{message:?} not in {html}");
}

db_test!(
    a_new_merchant_sees_the_empty_state_and_the_generate_form,
    generating_reveals_the_key_once_and_lists_it_masked,
    a_replayed_generate_request_makes_no_second_key,
    htmx_gets_modal_partials_and_errors_in_place,
    bad_generate_input_gets_a_clear_message_and_changes_nothing,
    names_with_markup_are_escaped_on_the_page,
    rotation_keeps_the_old_key_working_until_the_grace_period_ends,
    rotation_is_refused_while_a_previous_version_is_in_grace,
    a_grace_period_never_outlives_the_old_keys_expiry,
    revoke_needs_exactly_revoke_and_never_comes_back,
    revoking_the_only_key_brings_back_the_empty_state,
    disable_and_enable_switch_a_key_off_and_on,
    edit_changes_name_description_and_scopes,
    duplicate_prefills_description_scopes_and_lifetime,
    renew_moves_the_expiry_one_lifetime_ahead,
    delete_needs_the_checkbox_and_an_inactive_key,
    the_active_key_limit_is_enforced_and_rotated_keys_do_not_count,
    viewers_see_no_change_buttons_and_every_change_is_403,
    another_merchants_and_malformed_key_ids_are_not_found,
    the_key_policy_page_is_for_admins_and_changes_no_existing_key,
    single_key_preset_reproduces_violet,
    strict_lifecycle_preset_reproduces_the_payments_platform,
    token_lifetime_preset_reproduces_vtex,
    standard_preset_reproduces_gelato_and_the_warehouse_api,
    twenty_concurrent_rotations_make_exactly_one_new_version,
    twenty_concurrent_generations_at_the_limit_make_exactly_one_key,
    the_plaintext_key_is_in_no_table_and_no_log_line,
    flexible_preset_reproduces_the_warehouse_api_with_unnamed_keys,
    rotation_follows_a_policy_tightened_since_the_key_was_made,
    the_grace_boundary_holds_on_the_page,
    twenty_concurrent_rotations_with_a_grace_period_make_exactly_one_new_version,
    one_form_sent_twice_at_once_makes_one_key,
    oversized_fields_and_foreign_sources_are_refused_cleanly,
    disabling_the_last_active_key_shows_the_empty_state_above_it,
);

async fn a_new_merchant_sees_the_empty_state_and_the_generate_form(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let dash = Dashboard::admin(&app).await;
    let html = dash.page().await;
    assert!(html.contains("No Active API Key Generated"));
    assert!(html.contains("Generate New API Key"));
    assert!(html.contains("0 of 5 active keys"));

    let form = dash.browser.html("/settings/api-credentials/new").await;
    for label in [
        "Treat your API key like a password",
        "Name",
        "Description",
        "Scopes",
        "Expires",
        "Generate Key",
    ] {
        assert!(form.contains(label), "{label} missing from {form}");
    }
    assert_eq!(
        form.matches(r#"type="checkbox" name="scopes""#).count(),
        8,
        "the whole catalogue"
    );
    assert!(!form.contains(" checked"), "no scope is preselected");
    for option in [
        "Never",
        "7 days",
        "30 days",
        "60 days",
        "90 days",
        "1 year",
        "Custom date",
    ] {
        assert!(form.contains(option), "{option} missing");
    }
}

async fn generating_reveals_the_key_once_and_lists_it_masked(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let dash = Dashboard::admin(&app).await;
    let res = dash
        .generate(&[
            ("name", "Production"),
            ("scopes", "orders:read"),
            ("scopes", "feeds:upload"),
            ("expires", "never"),
        ])
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let html = res.text().await.unwrap();
    for text in [
        "This is the only time the full key will be shown",
        "Copy",
        "Done",
        r#"hx-history="false""#,
    ] {
        assert!(html.contains(text), "{text} missing from the Reveal");
    }
    let key = ApiKey::parse(&revealed_key(&html)).expect("a valid key");

    let row = dash.key_named("Production");
    assert_eq!(row.masked_key, key.masked());
    assert_eq!(row.scopes, "orders:read feeds:upload");
    assert_eq!(
        (row.version, row.status.as_str(), row.created_by.as_str()),
        (1, "active", "Admin")
    );
    assert_eq!(dash.events(&row.id), ["generated", "revealed"]);

    let page = dash.page().await;
    assert!(!page.contains(key.expose()), "the list never shows the key");
    for text in [
        "Current API Key",
        key.masked().as_str(),
        "Created Date",
        "Last Used",
        "Never",
        "Version",
        "Status",
        "ACTIVE",
        "orders:read",
        "feeds:upload",
        "Created by",
        "1 of 5 active keys",
        "Rotate Key",
        "Revoke Key",
        "Disable",
        "Edit",
        "Duplicate",
    ] {
        assert!(page.contains(text), "{text} missing from the list");
    }
    assert!(!page.contains(">Renew<"), "no Renew for a key without a lifetime");
    assert!(
        !page.contains(">Delete<"),
        "no Delete for an active key under the default policy"
    );
}

async fn a_replayed_generate_request_makes_no_second_key(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let dash = Dashboard::admin(&app).await;
    let (token, nonce) = dash.open_form("/settings/api-credentials/new").await;
    let fields = [
        ("csrf_token", token.as_str()),
        ("nonce", nonce.as_str()),
        ("name", "Once"),
    ];
    assert_eq!(
        dash.browser.post_form(LIST, &fields).await.status(),
        StatusCode::OK
    );
    let replay = dash.browser.post_form(LIST, &fields).await;
    assert_eq!(replay.status(), StatusCode::CONFLICT);
    let html = replay.text().await.unwrap();
    assert!(
        html.contains("already submitted") && !html.contains("kw_live_"),
        "{html}"
    );
    assert_eq!(dash.keys().len(), 1);
}

async fn htmx_gets_modal_partials_and_errors_in_place(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let dash = Dashboard::admin(&app).await;
    let htmx = |path: &str| {
        dash.browser
            .builder(reqwest::Method::GET, path)
            .header("HX-Request", "true")
    };
    let form = dash
        .browser
        .send(htmx("/settings/api-credentials/new"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        form.contains(r#"role="dialog""#) && form.contains(r#"aria-modal="true""#),
        "{form}"
    );
    assert!(!form.contains("<html"), "a partial, not a page");
    let page = dash.browser.html("/settings/api-credentials/new").await;
    assert!(
        page.contains("<html") && !page.contains(r#"role="dialog""#),
        "without htmx, a page"
    );

    let (token, nonce) = (
        csrf_token_in(&form).unwrap(),
        field_value(&form, "nonce").unwrap(),
    );
    let post = |fields: Vec<(&'static str, String)>| {
        dash.browser
            .builder(reqwest::Method::POST, LIST)
            .header("HX-Request", "true")
            .form(&fields)
    };
    let res = dash
        .browser
        .send(post(vec![
            ("csrf_token", token.clone()),
            ("nonce", nonce),
            ("name", String::new()),
        ]))
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    assert!(
        html.contains("Name must not be empty.") && html.contains(r#"role="dialog""#),
        "{html}"
    );
    // The form comes back with a fresh one-time value, so fixing the name works.
    let nonce = field_value(&html, "nonce").unwrap();
    let res = dash
        .browser
        .send(post(vec![
            ("csrf_token", token),
            ("nonce", nonce),
            ("name", "Fixed".into()),
        ]))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let html = res.text().await.unwrap();
    assert!(html.contains(r#"role="dialog""#) && !html.contains("<html"));
    ApiKey::parse(&revealed_key(&html)).unwrap();

    let row = dash.key_named("Fixed");
    let res = dash
        .browser
        .send(
            dash.browser
                .builder(reqwest::Method::POST, &format!("{LIST}/{}/disable", row.id))
                .header("HX-Request", "true")
                .header("X-CSRF-Token", csrf_token_in(&form).unwrap()),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["hx-redirect"], LIST);
}

async fn bad_generate_input_gets_a_clear_message_and_changes_nothing(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let dash = Dashboard::admin(&app).await;
    dash.generate_ok("Production").await;
    let long = "x".repeat(101);
    type Case<'a> = (Vec<(&'a str, &'a str)>, StatusCode, &'a str);
    let cases: Vec<Case> = vec![
        (
            vec![("name", "")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "Name must not be empty.",
        ),
        (
            vec![("name", "   ")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "Name must not be empty.",
        ),
        (
            vec![("name", &long)],
            StatusCode::UNPROCESSABLE_ENTITY,
            "Name must be at most 100 characters.",
        ),
        (
            vec![("name", "two\nlines")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "must not contain control characters",
        ),
        (
            vec![("name", "bidi\u{202E}name")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "must not contain control characters",
        ),
        (
            vec![("name", "Scoped"), ("scopes", "admin:all")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "Unknown scope `admin:all`.",
        ),
        (
            vec![
                ("name", "Past"),
                ("expires", "custom"),
                ("expires_on", "2001-01-01"),
            ],
            StatusCode::UNPROCESSABLE_ENTITY,
            "the custom date must be today or later",
        ),
        (
            vec![
                ("name", "Bad date"),
                ("expires", "custom"),
                ("expires_on", "next week"),
            ],
            StatusCode::UNPROCESSABLE_ENTITY,
            "YYYY-MM-DD",
        ),
        (
            vec![("name", "production")],
            StatusCode::CONFLICT,
            "Another key is already named",
        ),
    ];
    for (fields, status, message) in cases {
        assert_message(dash.generate(&fields).await, status, message).await;
    }
    assert_eq!(dash.keys().len(), 1, "nothing was created");
}

async fn names_with_markup_are_escaped_on_the_page(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let dash = Dashboard::admin(&app).await;
    dash.generate_ok(r#"<script>alert(1)</script> "quoted" 'single'"#)
        .await;
    let page = dash.page().await;
    assert!(!page.contains("<script>alert(1)</script>"), "{page}");
    assert!(
        page.contains("&#60;script&#62;alert(1)&#60;/script&#62; &#34;quoted&#34; &#39;single&#39;"),
        "{page}"
    );
}

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
        (new.scopes.as_str(), new.description.as_str()),
        ("inventory:write", "Nightly sync")
    );
    let old = dash.row(&old.id);
    assert_eq!(old.status, "rotated");
    assert_eq!(dash.events(&old.id), ["generated", "revealed", "rotated"]);

    let page = dash.page().await;
    assert!(page.contains("Rotated API Key"), "{page}");
    assert!(page.contains("Expires in: 23h 59m remaining"), "{page}");
    assert!(
        page.contains("1 of 5 active keys"),
        "a key in grace does not count"
    );

    let facts = old.facts().unwrap();
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

    let res = dash.act(&v2.id, "rotate", &[("grace", "now")]).await;
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
        assert_eq!(dash.row(&key.id).status, "active", "{typed:?} revoked the key");
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
    assert_eq!(dash.row(&key.id).status, "revoked");
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
    assert_eq!(dash.row(&key.id).status, "active");
    assert_eq!(
        dash.events(&key.id),
        ["generated", "revealed", "disabled", "enabled"]
    );
}

async fn edit_changes_name_description_and_scopes(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let dash = Dashboard::admin(&app).await;
    dash.generate_ok("Old name").await;
    dash.generate_ok("Taken").await;
    let key = dash.key_named("Old name");
    let form = dash.browser.html(&format!("{LIST}/{}/edit", key.id)).await;
    assert!(form.contains(r#"value="Old name""#) && form.contains("Save changes"));

    let fields = [("name", "Taken"), ("description", ""), ("scopes", "orders:read")];
    assert_message(
        dash.act(&key.id, "edit", &fields).await,
        StatusCode::CONFLICT,
        "already named",
    )
    .await;
    assert_message(
        dash.act(&key.id, "edit", &[("name", "")]).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "Name must not be empty.",
    )
    .await;

    let fields = [
        ("name", "New name"),
        ("description", "For the ERP"),
        ("scopes", "orders:read"),
        ("scopes", "orders:write"),
    ];
    assert_eq!(
        dash.act(&key.id, "edit", &fields).await.status(),
        StatusCode::SEE_OTHER
    );
    let row = dash.row(&key.id);
    assert_eq!(
        (row.name.as_str(), row.description.as_str(), row.scopes.as_str()),
        ("New name", "For the ERP", "orders:read orders:write")
    );
    let events =
        keyward::db::key_events::for_key(&mut app.db.get().unwrap(), &dash.merchant_id, &key.id).unwrap();
    let edited = events
        .iter()
        .find(|event| event.event_type == "edited")
        .expect("an edited event");
    let details: serde_json::Value = serde_json::from_str(&edited.details).unwrap();
    assert_eq!(details["before"]["name"], "Old name");
    assert_eq!(details["after"]["name"], "New name");
    let scopes = events
        .iter()
        .find(|event| event.event_type == "scopes_changed")
        .expect("a scopes changed event");
    let details: serde_json::Value = serde_json::from_str(&scopes.details).unwrap();
    assert_eq!(
        details["after"]["scopes"],
        serde_json::json!(["orders:read", "orders:write"])
    );
    assert_ne!(details["before"]["scopes"], details["after"]["scopes"]);
}

async fn duplicate_prefills_description_scopes_and_lifetime(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let dash = Dashboard::admin(&app).await;
    let fields = [
        ("name", "Source"),
        ("description", "Feeds uploader"),
        ("scopes", "feeds:upload"),
        ("expires", "90"),
    ];
    assert_eq!(dash.generate(&fields).await.status(), StatusCode::OK);
    let source = dash.key_named("Source");
    let path = format!("{LIST}/{}/duplicate", source.id);
    let form = dash.browser.html(&path).await;
    assert!(form.contains("Generate Key") && form.contains("Feeds uploader"));
    assert!(form.contains(r#"value="feeds:upload" checked"#), "{form}");
    assert_eq!(form.matches(" checked").count(), 1);
    assert!(form.contains(r#"<option value="90" selected>"#), "{form}");
    assert!(
        form.contains(r#"name="name" type="text" maxlength="100" value="""#),
        "the name is left to choose"
    );

    let res = dash
        .submit(
            &path,
            LIST,
            &[
                ("name", "Copy"),
                ("description", "Feeds uploader"),
                ("scopes", "feeds:upload"),
                ("expires", "90"),
                ("duplicated_from", &source.id),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let copy = dash.key_named("Copy");
    assert_eq!(
        (copy.scopes.as_str(), copy.lifetime_days),
        ("feeds:upload", Some(90))
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
    assert_eq!(dash.row(&key.id).status, "disabled");

    let res = dash.act(&key.id, "delete", &[("understood", "yes")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(dash.row(&key.id).status, "deleted");
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
    dash.generate_ok("Two").await;
    assert!(dash.page().await.contains("2 of 2 active keys"));
    let form = dash.browser.html("/settings/api-credentials/new").await;
    assert!(
        form.contains("has 2 active keys and its key policy allows 2"),
        "the form warns before anyone types"
    );
    assert_message(
        dash.generate(&[("name", "Three")]).await,
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
        dash.generate(&[("name", "Three")]).await,
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
    dash.set_policy("single-key").await;
    let page = dash.browser.html("/settings/key-policy").await;
    assert!(
        page.contains("Key policy saved (Single key)")
            && page.contains("Single key <span class=\"badge badge-active\">CURRENT</span>")
    );
    assert_eq!(
        dash.keys().iter().filter(|row| row.status == "active").count(),
        3,
        "existing keys stay active"
    );
    assert!(dash.page().await.contains("3 of 1 active keys"));
    assert_message(
        dash.generate(&[("name", "D")]).await,
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
    let res = dash.generate(&[("name", "")]).await;
    assert_eq!(res.status(), StatusCode::OK);
    let key = dash.key_named("Key 1");
    assert_message(
        dash.generate(&[("name", "")]).await,
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
        .filter(|row| row.facts().unwrap().is_usable(app.clock.now()))
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
    assert_eq!(dash.row(&key.id).status, "active");
}

async fn standard_preset_reproduces_gelato_and_the_warehouse_api(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let dash = Dashboard::admin(&app).await;
    // Warehouse: up to 5 active keys, then revoke one to make room.
    for name in [
        "Production API",
        "Staging Tests",
        "Inventory Sync Script",
        "Four",
        "Five",
    ] {
        dash.generate_ok(name).await;
    }
    assert_message(
        dash.generate(&[("name", "Six")]).await,
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
    assert_eq!(dash.row(key_id).status, "rotated");
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

async fn the_plaintext_key_is_in_no_table_and_no_log_line(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let dash = Dashboard::admin(&app).await;
    let first = dash.generate_ok("Lifecycle").await;
    let key = dash.key_named("Lifecycle");
    let second = dash.rotate_ok(&key.id, "1h").await;
    let current = dash.key_named("Lifecycle");
    dash.act(&current.id, "disable", &[]).await;
    dash.act(&current.id, "enable", &[]).await;
    dash.act(
        &current.id,
        "edit",
        &[("name", "Lifecycle 2"), ("scopes", "orders:read")],
    )
    .await;
    dash.act(&key.id, "revoke", &[("confirm", "REVOKE")]).await;
    dash.act(&current.id, "disable", &[]).await;
    dash.act(&current.id, "delete", &[("understood", "yes")]).await;

    let everything = app.dump_text();
    let logs = logs();
    for plaintext in [&first, &second] {
        let secret = &plaintext[8..48];
        assert!(!everything.contains(secret), "a table holds a key");
        assert!(!logs.contains(secret), "a log line holds a key");
    }
    // The digests are in api_keys and nowhere else, and in no log line.
    let digests = app.count("SELECT COUNT(*) AS n FROM api_keys");
    assert_eq!(digests, 2);
    for row in [dash.row(&key.id), dash.row(&current.id)] {
        assert_eq!(
            everything.matches(&row.key_hash).count(),
            1,
            "the digest is stored once"
        );
        assert!(!logs.contains(&row.key_hash), "a log line holds a digest");
    }
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
    for name in ["Four", "Five"] {
        dash.generate_ok(name).await;
    }
    assert_message(
        dash.generate(&[("name", "")]).await,
        StatusCode::CONFLICT,
        "has 5 active keys",
    )
    .await;
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
    assert_message(
        dash.act(&v2.id, "rotate", &[("grace", "now")]).await,
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

/// With a grace period the losers meet the version in grace, not only a changed status.
async fn twenty_concurrent_rotations_with_a_grace_period_make_exactly_one_new_version(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let dash = Dashboard::admin(&app).await;
    let key = dash.generate_key("Graceful").await;
    race_twenty_rotations(&dash, &key.id, "7d").await;
}

async fn one_form_sent_twice_at_once_makes_one_key(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let dash = Dashboard::admin(&app).await;
    dash.set_policy("flexible").await;
    let (token, nonce) = dash.open_form("/settings/api-credentials/new").await;
    let fields = [
        ("csrf_token", token.as_str()),
        ("nonce", nonce.as_str()),
        ("name", ""),
    ];
    let (a, b) = tokio::join!(
        dash.browser.post_form(LIST, &fields),
        dash.browser.post_form(LIST, &fields)
    );
    let mut statuses = [a.status(), b.status()];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::CONFLICT]);
    assert_eq!(dash.keys().len(), 1);
}

async fn oversized_fields_and_foreign_sources_are_refused_cleanly(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let dash = Dashboard::admin(&app).await;
    let big = "n".repeat(10_000);
    assert_message(
        dash.generate(&[("name", &big)]).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "at most 100 characters",
    )
    .await;
    assert_message(
        dash.generate(&[("name", "Ok"), ("description", &big)]).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "at most 500 characters",
    )
    .await;
    let huge = "n".repeat(100_000);
    assert_eq!(
        dash.generate(&[("name", &huge)]).await.status(),
        StatusCode::PAYLOAD_TOO_LARGE
    );
    let token = dash.browser.csrf_token(LIST).await;
    let json = dash
        .browser
        .send(
            dash.browser
                .builder(reqwest::Method::POST, LIST)
                .header("X-CSRF-Token", token)
                .json(&serde_json::json!({"name": "x"})),
        )
        .await;
    assert_eq!(json.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let rival = {
        let mut conn = app.db.get().unwrap();
        keyward::db::merchants::create(
            &mut conn,
            &keyward::domain::MerchantName::parse("Rival").unwrap(),
            app.clock.now(),
        )
        .unwrap()
        .id
    };
    let foreign = keyward::service::keys::generate(
        &mut app.db.get().unwrap(),
        &rival,
        &keyward::service::keys::GenerateRequest {
            name: "Theirs".into(),
            ..Default::default()
        },
        &keyward::domain::Actor::cli(),
        &keyward::startup::key_pepper(&crate::support::test_secret()),
        app.clock.now(),
    )
    .unwrap();
    let res = dash
        .generate(&[("name", "Copy"), ("duplicated_from", &foreign.row.id)])
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        dash.browser
            .get(&format!("{LIST}/{}/duplicate", foreign.row.id))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert!(dash.keys().is_empty(), "nothing was created");
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
