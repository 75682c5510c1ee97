//! Smaller holes an attacker found, each closed: names that read the same are one name.

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

db_test!(key_names_that_read_the_same_cannot_both_exist);
