//! The masked key shows the key's real characters: the four after the prefix and the
//! key's own last four, wherever a key is shown; keys stored before keep their mask.

use reqwest::StatusCode;

use crate::db_test;
use crate::support::cli::keyward;
use crate::support::dashboard::{Dashboard, LIST};
use crate::support::{Backend, Browser, TestApp, location, spawn_app};

db_test!(
    a_new_key_is_shown_by_its_real_first_and_last_four_everywhere,
    a_key_stored_before_keeps_its_mask_and_support_finds_it_by_that,
);

/// `kw_live_` + the four characters after it + `…` + `tail`.
fn mask(key: &str, tail: &str) -> String {
    format!("kw_live_{}…{tail}", &key[8..12])
}

/// The last four characters of the secret, before the six of the checksum: what masks
/// showed before.
fn secret_tail(key: &str) -> &str {
    &key[44..48]
}

fn real_tail(key: &str) -> &str {
    &key[key.len() - 4..]
}

async fn support(app: &TestApp) -> Browser {
    app.create_support("sam@support.example", "support password");
    let browser = app.browser();
    let res = browser.sign_in("sam@support.example", "support password").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    browser
}

fn search(q: &str) -> String {
    format!("/support?{}", serde_urlencoded::to_string([("q", q)]).unwrap())
}

/// Whether the support console's search for `q` lists the key `key_id`.
async fn finds(browser: &Browser, q: &str, key_id: &str) -> bool {
    let res = browser.get(&search(q)).await;
    assert_eq!(res.status(), StatusCode::OK, "searching {q}");
    res.text().await.unwrap().contains(&format!("/keys/{key_id}\""))
}

fn cli_list(app: &TestApp) -> String {
    let output = keyward(&app.test_db.url_string())
        .env("KEYWARD_SECRET", "test-secret-".repeat(8))
        .args(["key", "list", "--merchant", "Demo Merchant"])
        .output()
        .expect("the binary runs");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

async fn a_new_key_is_shown_by_its_real_first_and_last_four_everywhere(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let dash = Dashboard::admin(&app).await;
    let key = dash.generate_ok("Checkout").await;
    let row = dash.key_named("Checkout");
    let shown = mask(&key, real_tail(&key));
    assert!(
        key.ends_with(&shown[shown.len() - 4..]),
        "{shown} ends as {key} does"
    );
    assert_eq!(row.masked_key, shown, "the stored mask");

    let card = dash.page().await;
    assert!(card.contains(&shown), "the card shows {shown}");
    let page = dash.browser.html(&format!("{LIST}/{}", row.id)).await;
    assert!(page.contains(&shown), "the key page shows {shown}");
    let audit = dash.browser.html("/settings/audit-log").await;
    assert!(audit.contains(&shown), "the audit log names the key by {shown}");
    let listed = cli_list(&app);
    let line = listed
        .lines()
        .find(|line| line.starts_with(row.id.as_str()))
        .unwrap();
    assert!(line.contains(&shown), "the CLI lists {shown}: {line}");
    for text in [&card, &page, &audit, &listed] {
        assert!(!text.contains(&key));
    }

    // Support staff find it by the last four characters a merchant reads off their key,
    // and not by the secret's.
    let browser = support(&app).await;
    assert!(finds(&browser, real_tail(&key), &row.id).await);
    assert!(finds(&browser, &shown, &row.id).await);
    assert!(finds(&browser, &format!("kw_live_…{}", real_tail(&key)), &row.id).await);
    if secret_tail(&key) != real_tail(&key) {
        assert!(!finds(&browser, secret_tail(&key), &row.id).await);
        assert!(!finds(&browser, &mask(&key, secret_tail(&key)), &row.id).await);
    }
    // A whole key pasted is sent on to the mask it is shown by.
    let res = browser.get(&search(&key)).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), search(&shown));
}

async fn a_key_stored_before_keeps_its_mask_and_support_finds_it_by_that(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let dash = Dashboard::admin(&app).await;
    let key = dash.generate_ok("Legacy").await;
    let row = dash.key_named("Legacy");
    // A key made before masks showed the key's end: its mask ends in the secret's last
    // four, and the secret is gone, so that mask stays.
    let old_mask = mask(&key, secret_tail(&key));
    app.execute(&format!(
        "UPDATE api_keys SET masked_key = '{old_mask}' WHERE id = '{}'",
        row.id
    ));

    assert!(dash.page().await.contains(&old_mask));
    let page = dash.browser.html(&format!("{LIST}/{}", row.id)).await;
    assert!(page.contains(&old_mask));
    assert!(cli_list(&app).contains(&old_mask));

    let browser = support(&app).await;
    assert!(finds(&browser, secret_tail(&key), &row.id).await, "the old form");
    assert!(finds(&browser, &old_mask, &row.id).await);
    if secret_tail(&key) != real_tail(&key) {
        assert!(
            !finds(&browser, real_tail(&key), &row.id).await,
            "not a form it never had"
        );
    }
    // Pasted whole, the key is found by its digest and sent on to the mask it has.
    let res = browser.get(&search(&key)).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), search(&old_mask));
    assert!(finds(&browser, &old_mask, &row.id).await);
    // API Credentials' own search does the same.
    let pasted = serde_urlencoded::to_string([("q", key.as_str())]).unwrap();
    let res = dash.browser.get(&format!("{LIST}?{pasted}")).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let by_mask = serde_urlencoded::to_string([("q", old_mask.as_str())]).unwrap();
    assert_eq!(location(&res), format!("{LIST}?{by_mask}"));
    let found = dash.browser.html(location(&res)).await;
    assert!(
        found.contains(&format!("key-{}", row.id)),
        "the old key is listed"
    );
}
