//! API Credentials with many keys: past a handful, one compact row a key with search and
//! a status filter, paged, light enough to load; a merchant with one current key keeps
//! its card.

use reqwest::StatusCode;

use crate::db_test;
use crate::support::dashboard::{Dashboard, LIST};
use crate::support::{Backend, location, spawn_app};

db_test!(
    a_hundred_active_and_a_thousand_revoked_keys_make_a_light_searchable_list,
    one_current_key_keeps_its_card_and_revoked_keys_are_paged,
);

/// The rows of the compact list: each key's ID, in order.
fn row_ids(html: &str) -> Vec<String> {
    let Some(start) = html.find(r#"<table class="results key-table"#) else {
        return Vec::new();
    };
    let table = &html[start..start + html[start..].find("</table>").unwrap()];
    table
        .split(r#"<tr id="key-"#)
        .skip(1)
        .map(|row| row[..row.find('"').unwrap()].to_owned())
        .collect()
}

async fn a_hundred_active_and_a_thousand_revoked_keys_make_a_light_searchable_list(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let dash = Dashboard::admin(&app).await;
    let active = app.seed_keys(&dash.merchant_id, 100, 1000);
    let rows = dash.keys();
    let id_of = |name: &str| rows.iter().find(|row| row.name == name).unwrap().id.to_string();

    let res = dash.browser.get(LIST).await;
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    assert!(html.len() <= 150_000, "API Credentials is {} bytes", html.len());
    assert!(!html.contains("Current API Key"), "cards for 100 keys");
    assert!(html.contains("100 of 100 active keys"));
    assert!(
        html.contains("1100 keys, working keys first · page 1 of 11"),
        "the count"
    );
    // Page 1: every active key, newest first, each a link to its page.
    let ids = row_ids(&html);
    assert_eq!(ids.len(), 100);
    assert_eq!(ids[0], id_of("Key 100"));
    assert_eq!(ids[99], id_of("Key 001"));
    for id in &ids {
        assert!(
            html.contains(&format!(r#"<a href="{LIST}/{id}">"#)),
            "no link to {id}"
        );
    }
    for label in [
        "Name",
        "Key",
        "Status",
        "Scopes",
        "Created",
        "Last used",
        "Expires",
    ] {
        assert!(
            html.contains(&format!(r#"<th scope="col">{label}</th>"#)),
            "no {label} column"
        );
        assert!(
            html.contains(&format!(r#"data-label="{label}""#)),
            "{label} cells do not stack"
        );
    }
    assert!(html.contains(&format!(r#"href="{LIST}?page=2" rel="next""#)));
    // The revoked keys come after, paged.
    let last = dash.browser.html(&format!("{LIST}?page=11")).await;
    let ids = row_ids(&last);
    assert_eq!(ids.len(), 100);
    assert_eq!(ids[99], id_of("Old 0001"));
    assert!(last.contains("REVOKED") && last.contains(r#"rel="prev""#));
    assert_eq!(
        row_ids(&dash.browser.html(&format!("{LIST}?page=99")).await),
        ids,
        "past the end: the last page"
    );

    // Search by name, in any case.
    let found = dash.browser.html(&format!("{LIST}?q=key+042")).await;
    assert_eq!(row_ids(&found), [id_of("Key 042")]);
    assert!(found.contains("1 key matches"));
    // Search by the visible key, as a mask is read out, with three dots.
    let masked = active[41].masked();
    let typed = masked.replace('…', "...");
    let query = serde_urlencoded::to_string([("q", typed.as_str())]).unwrap();
    assert_eq!(
        row_ids(&dash.browser.html(&format!("{LIST}?{query}")).await),
        [id_of("Key 042")]
    );
    let tail = &masked[masked.len() - 4..];
    assert!(row_ids(&dash.browser.html(&format!("{LIST}?q={tail}")).await).contains(&id_of("Key 042")));
    // A whole key pasted into the search leaves the address for its mask.
    let query = serde_urlencoded::to_string([("q", active[41].expose())]).unwrap();
    let res = dash.browser.get(&format!("{LIST}?{query}")).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let to = location(&res);
    assert!(!to.contains(&active[41].expose()["kw_live_".len()..]), "{to}");
    assert_eq!(row_ids(&dash.browser.html(to).await), [id_of("Key 042")]);

    // The status filter, paged on its own.
    let revoked = dash.browser.html(&format!("{LIST}?status=revoked")).await;
    assert!(
        revoked.contains("1000 keys match · page 1 of 10"),
        "the revoked count"
    );
    assert!(revoked.contains(r#"<option value="revoked" selected>Revoked</option>"#));
    let ids = row_ids(&revoked);
    assert_eq!((ids.len(), ids[0].as_str()), (100, id_of("Old 1000").as_str()));
    assert!(revoked.contains(&format!(r#"href="{LIST}?status=revoked&#38;page=2" rel="next""#)));
    let active_only = dash.browser.html(&format!("{LIST}?status=active&q=Key+09")).await;
    assert_eq!(row_ids(&active_only).len(), 10, "Key 090 to Key 099");
    let none = dash.browser.html(&format!("{LIST}?status=disabled")).await;
    assert!(none.contains("0 keys match") && row_ids(&none).is_empty());

    // Filters the page cannot read are refused with a message.
    for bad in ["status=gone", "page=0"] {
        let res = dash.browser.get(&format!("{LIST}?{bad}")).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
}

async fn one_current_key_keeps_its_card_and_revoked_keys_are_paged(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let dash = Dashboard::admin(&app).await;
    app.seed_keys(&dash.merchant_id, 1, 30);
    dash.set_policy("single-key").await;
    let html = dash.page().await;
    assert!(
        html.contains(r#"<p class="card-kicker">Current API Key</p>"#),
        "the Violet card"
    );
    assert!(row_ids(&html).is_empty(), "the compact list for one key");
    let revoked = &html[html.find("<h2>Revoked Keys</h2>").expect("Revoked Keys")..];
    assert!(revoked.contains("30 revoked keys · page 1 of 2"));
    assert_eq!(revoked.matches("<tr id=\"key-").count(), 25);
    assert!(revoked.contains(r#"href="/settings/api-credentials?page=2" rel="next""#));
    let second = dash.browser.html(&format!("{LIST}?page=2")).await;
    let revoked = &second[second.find("<h2>Revoked Keys</h2>").unwrap()..];
    assert_eq!(revoked.matches("<tr id=\"key-").count(), 5);
    assert!(revoked.contains("Old 0001"));
    // With more than a handful of keys, the search is offered; a search lists rows.
    assert!(html.contains(r#"role="search""#));
    let found = dash.browser.html(&format!("{LIST}?q=Old+0003")).await;
    assert_eq!(row_ids(&found).len(), 1);
}
