//! Generate, Duplicate and Edit on API Credentials, driven over HTTP as a person clicks them.

use keyward::domain::ApiKey;
use reqwest::StatusCode;

use crate::db_test;
use crate::support::dashboard::{Dashboard, LIST, assert_message, revealed_key};
use crate::support::{Backend, csrf_token_in, field_value, location, logs, spawn_app};

db_test!(
    a_new_merchant_sees_the_empty_state_and_the_generate_form,
    generating_reveals_the_key_once_and_lists_it_masked,
    a_replayed_generate_request_makes_no_second_key,
    htmx_gets_modal_partials_and_errors_in_place,
    bad_generate_input_gets_a_clear_message_and_changes_nothing,
    names_with_markup_are_escaped_on_the_page,
    one_form_sent_twice_at_once_makes_one_key,
    oversized_fields_and_foreign_sources_are_refused_cleanly,
    the_plaintext_key_is_in_no_table_and_no_log_line,
    duplicate_prefills_description_scopes_and_lifetime,
    edit_changes_name_description_and_scopes,
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
    assert_eq!(row.scopes.to_stored(), "orders:read feeds:upload");
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
    // A malformed source spends nothing: the same form, corrected, still generates.
    let form = dash.open_form("/settings/api-credentials/new").await;
    let res = dash
        .post_left_open(&form, LIST, &[("name", "Copy"), ("duplicated_from", "not-a-key")])
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = dash.post_left_open(&form, LIST, &[("name", "Copy")]).await;
    assert_eq!(res.status(), StatusCode::OK, "the form's one-time value was kept");
    assert_eq!(dash.keys().len(), 1);
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

    // A key sent in an address, or pasted into the search with something around it,
    // leaves the address masked and reaches no log.
    let res = dash.browser.get(&format!("{LIST}/{first}")).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let pasted = serde_urlencoded::to_string([("q", format!("`ApiKey {second}`."))]).unwrap();
    let res = dash.browser.get(&format!("{LIST}?{pasted}&page=0")).await;
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "the key leaves the address first"
    );
    assert!(!location(&res).contains(&second[8..48]), "{}", location(&res));
    // Nor is a key or a management token kept as a name or a description, shown to
    // every reader.
    let token = keyward::domain::ManagementToken::generate();
    for fields in [
        [("name", format!("Prod {first}")), ("description", String::new())],
        [
            ("name", "Prod".to_owned()),
            ("description", format!("the key is {first}")),
        ],
        [
            ("name", "Prod".to_owned()),
            ("description", format!("token: {}", token.expose())),
        ],
    ] {
        let fields: Vec<(&str, &str)> = fields
            .iter()
            .map(|(name, value)| (*name, value.as_str()))
            .collect();
        let res = dash.generate(&fields).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(res.text().await.unwrap().contains("must not contain an API key"));
    }

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
            everything.matches(row.key_hash.as_str()).count(),
            1,
            "the digest is stored once"
        );
        assert!(!logs.contains(row.key_hash.as_str()), "a log line holds a digest");
    }
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
        (copy.scopes.to_stored().as_str(), copy.lifetime_days),
        ("feeds:upload", Some(90))
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
        (
            row.name.as_str(),
            row.description.as_str(),
            row.scopes.to_stored().as_str()
        ),
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
