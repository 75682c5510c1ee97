//! Smaller holes an attacker found, each closed: names that read the same are one name,
//! and a malformed ID in an address reads nothing.

use reqwest::StatusCode;

use crate::db_test;
use crate::support::dashboard::Dashboard;
use crate::support::{Backend, spawn_app};

async fn key_names_that_read_the_same_cannot_both_exist(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let admin = Dashboard::admin(&app).await;
    admin.generate_key("Prod").await;

    // A zero-width space or a byte-order mark inside a name is refused outright.
    for hidden in [
        "Pr\u{200B}od",
        "Prod\u{FEFF}",
        "P\u{2060}rod",
        "Prod\u{2800}",
        "Prod\u{13430}",
    ] {
        let res = admin.generate(&[("name", hidden)]).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{hidden:?}");
        assert!(
            res.text()
                .await
                .unwrap()
                .contains("must not contain invisible characters"),
            "{hidden:?} gets a message saying why"
        );
    }
    // Fullwidth letters are the same name after NFKC.
    let res = admin.generate(&[("name", "Ｐｒｏｄ")]).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert!(res.text().await.unwrap().contains("already named"));
    // Runs of spaces, which every page shows as one, are one.
    admin.generate_key("Prod Key").await;
    let res = admin.generate(&[("name", "Prod   Key")]).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    // A ligature is stored in its normal form.
    admin.generate_ok("\u{FB01}le").await;
    assert_eq!(
        admin.keys().iter().map(|k| k.name.as_str()).collect::<Vec<_>>(),
        ["file", "Prod Key", "Prod"]
    );
    // Renaming a key to a look-alike of another is refused the same way.
    let file = admin.key_named("file");
    let res = admin
        .act(&file.id, "edit", &[("name", "Ｐrod"), ("description", "")])
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert_eq!(admin.row(&file.id).name, "file");
}

/// The statements the server starts to answer `path` for `admin`: the fewest of three
/// tries, since background work (usage flushes, the change listener) adds its own.
async fn statements_for(
    app: &crate::support::TestApp,
    admin: &Dashboard<'_>,
    path: &str,
) -> (StatusCode, String, u64) {
    let mut fewest = u64::MAX;
    let mut answer = (StatusCode::OK, String::new());
    for _ in 0..3 {
        let before = app.db.queries_started();
        let res = admin.browser.get(path).await;
        answer = (res.status(), res.text().await.unwrap());
        fewest = fewest.min(app.db.queries_started() - before);
    }
    (answer.0, answer.1, fewest)
}

async fn a_malformed_id_in_an_address_is_the_not_found_page_before_any_lookup(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let admin = Dashboard::admin(&app).await;
    let unknown = "00000000-0000-4000-8000-000000000000";
    for pattern in [
        "/settings/api-credentials/{}",
        "/settings/api-credentials/{}/rotate",
        "/settings/api-credentials/{}/revoke",
        "/settings/members/{}/remove",
        "/settings/audit-log/{}",
    ] {
        let (status, _, lookup) = statements_for(&app, &admin, &pattern.replace("{}", unknown)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{pattern} with an unknown ID");
        for malformed in ["not-an-id", "1%20OR%201%3D1", "..%2F..%2Fetc"] {
            let path = pattern.replace("{}", malformed);
            let (status, body, statements) = statements_for(&app, &admin, &path).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
            assert!(body.contains("Page not found"), "{path} answers the 404 page");
            assert!(
                statements < lookup,
                "{path} started {statements} statements, an unknown well-formed ID {lookup}: the lookup ran"
            );
        }
    }
}

async fn a_field_sent_twice_is_refused_not_guessed(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let admin = Dashboard::admin(&app).await;
    let token = admin.browser.csrf_token("/settings/key-policy").await;
    let before = admin.browser.html("/settings/key-policy").await;
    let res = admin
        .browser
        .post_form(
            "/settings/key-policy",
            &[
                ("csrf_token", token.as_str()),
                ("max_active_keys", "1"),
                ("max_active_keys", "50"),
                ("default_grace", "24h"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.unwrap().contains("The form could not be read"));
    assert_eq!(
        admin.browser.html("/settings/key-policy").await,
        before,
        "nothing was saved"
    );

    let res = admin
        .browser
        .get("/settings/audit-log?type=revoked&type=generated")
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("The address could not be read")
    );
    // Repeated scope boxes are still one list.
    let res = admin
        .generate(&[
            ("name", "Both"),
            ("scopes", "orders:read"),
            ("scopes", "orders:write"),
        ])
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        admin.key_named("Both").scopes.to_stored(),
        "orders:read orders:write"
    );
}

db_test!(
    a_field_sent_twice_is_refused_not_guessed,
    key_names_that_read_the_same_cannot_both_exist,
    a_malformed_id_in_an_address_is_the_not_found_page_before_any_lookup,
);
