//! Versions whose grace period ended do not vanish: API Credentials lists them in a
//! section of their own and the key page keeps them in the lineage, each with the date
//! it stopped working.

use time::Duration;

use crate::db_test;
use crate::support::dashboard::{Dashboard, LIST};
use crate::support::{Backend, spawn_app};

db_test!(versions_whose_grace_period_ended_stay_listed_with_when_they_stopped);

/// The row of the table in `html` whose cells hold `masked`, as its cells' text.
fn row_cells(html: &str, masked: &str) -> Vec<String> {
    let at = html
        .find(&format!("<code>{masked}</code>"))
        .expect("the version is listed");
    let start = html[..at].rfind("<tr").unwrap();
    let end = html[at..].find("</tr>").unwrap() + at;
    html[start..end]
        .split("<td")
        .skip(1)
        .map(|cell| {
            let mut text = String::new();
            let mut in_tag = true;
            for c in cell.chars() {
                match c {
                    '<' => in_tag = true,
                    '>' => in_tag = false,
                    _ if !in_tag => text.push(c),
                    _ => {}
                }
            }
            text.trim().to_owned()
        })
        .collect()
}

async fn versions_whose_grace_period_ended_stay_listed_with_when_they_stopped(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let dash = Dashboard::admin(&app).await;
    let v1 = dash.generate_key("Payments").await;
    dash.rotate_ok(&v1.id, "1h").await;
    let v2 = dash.key_named("Payments");
    let grace_end = keyward::web::format::datetime(dash.row(&v1.id).grace_ends_at.unwrap());
    let page = dash.page().await;
    assert!(page.contains("Rotated API Key") && !page.contains("Retired Versions"));

    dash.advance(Duration::hours(2)).await;
    let page = dash.page().await;
    assert!(!page.contains("Rotated API Key"), "the grace period is over");
    let section = &page[page
        .find("<h2>Retired Versions</h2>")
        .expect("a section of their own")..];
    assert_eq!(
        row_cells(section, &v1.masked_key),
        [
            "Payments",
            v1.masked_key.as_str(),
            "1",
            grace_end.as_str(),
            "Delete"
        ],
        "name, key, version, when it stopped working, and what may be done"
    );
    assert!(
        section.contains(&format!(r#"href="{LIST}/{}""#, v1.id)),
        "the row links to the version's page"
    );

    // The key page keeps every version of the lineage, with when each stopped working.
    for page_of in [&v2.id, &v1.id] {
        let html = dash.browser.html(&format!("{LIST}/{page_of}")).await;
        let versions = &html[html.find("<h3>Versions</h3>").unwrap()..];
        assert!(versions.contains("<th scope=\"col\">Stopped working</th>"));
        assert_eq!(
            row_cells(versions, &v1.masked_key),
            [
                "1",
                v1.masked_key.as_str(),
                "RETIRED",
                &keyward::web::format::datetime(v1.created_at),
                grace_end.as_str()
            ]
        );
        assert_eq!(
            row_cells(versions, &v2.masked_key)[2..],
            [
                "ACTIVE".to_owned(),
                keyward::web::format::datetime(v2.created_at),
                String::new()
            ]
        );
    }

    // Revoked at last, it moves to the revoked keys.
    let res = dash.act(&v1.id, "revoke", &[("confirm", "REVOKE")]).await;
    assert_eq!(res.status(), reqwest::StatusCode::SEE_OTHER);
    let page = dash.page().await;
    assert!(!page.contains("Retired Versions"));
    let revoked = &page[page.find("Revoked Keys").unwrap()..];
    assert!(revoked.contains(&v1.masked_key));
}
