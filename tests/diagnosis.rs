//! The request log read back: support staff and members paste a request ID and read why
//! it was refused and what to do next, search a merchant's log, and read each key's log
//! on its page (filtered, paged, as CSV), never another merchant's. Rows are written as
//! the request log's contract says the recording writes them.

use keyward::domain::{MerchantId, Role};
use reqwest::StatusCode;
use time::macros::format_description;
use time::{Duration, PrimitiveDateTime};

use crate::db_test;
use crate::support::dashboard::Dashboard;
use crate::support::manage::ManageApi;
use crate::support::tokens::create_token;
use crate::support::{Backend, Browser, TestApp, csrf_token_in, spawn_app};

db_test!(
    support_pastes_each_kind_of_refusal_and_reads_the_rule_and_its_facts,
    the_key_page_lists_its_requests_by_outcome_a_page_at_a_time_and_as_csv,
    members_search_their_merchants_log_by_key_address_time_and_outcome,
    a_member_never_reads_another_merchants_requests,
    bad_searches_are_refused_with_a_message,
    the_management_api_explains_a_request_of_the_tokens_merchant_only,
    support_pastes_a_request_id_into_the_console_and_is_led_to_its_merchant,
    support_pastes_the_request_id_each_refused_call_was_answered_with,
);

/// A request log row, as the recording writes it (contract-requests.md).
#[derive(Clone, Default)]
pub struct Logged<'a> {
    pub key_id: Option<&'a str>,
    pub presented: &'a str,
    pub outcome: &'a str,
    pub request_id: &'a str,
    pub address: &'a str,
    pub agent: &'a str,
    pub method: &'a str,
    pub path: &'a str,
    pub detail: &'a str,
    pub count: i64,
    pub at: Option<PrimitiveDateTime>,
}

pub fn log(app: &TestApp, merchant_id: &MerchantId, row: Logged<'_>) {
    use diesel::prelude::*;
    use keyward::db::schema::key_requests as rows;
    let at = row.at.unwrap_or_else(|| app.clock.now() - Duration::minutes(1));
    let minute = at.replace_second(0).unwrap().replace_nanosecond(0).unwrap();
    diesel::insert_into(rows::table)
        .values((
            rows::id.eq(uuid::Uuid::new_v4().to_string()),
            rows::merchant_id.eq(merchant_id.as_str()),
            rows::key_id.eq(row.key_id),
            rows::presented_key.eq(row.presented),
            rows::minute.eq(minute),
            rows::first_at.eq(at),
            rows::last_at.eq(at),
            rows::outcome.eq(row.outcome),
            rows::request_id.eq(row.request_id),
            rows::client_address.eq(if row.address.is_empty() {
                "203.0.113.9"
            } else {
                row.address
            }),
            rows::user_agent.eq(row.agent),
            rows::method.eq(row.method),
            rows::path.eq(row.path),
            rows::detail.eq(row.detail),
            rows::count.eq(row.count.max(1)),
        ))
        .execute(&mut **app.db.get().unwrap())
        .unwrap();
}

pub fn request_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

async fn support(app: &TestApp, merchant_id: &MerchantId) -> Browser {
    app.create_support("sam@support.example", "support password");
    let browser = app.browser();
    let res = browser.sign_in("sam@support.example", "support password").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let overview = format!("/support/merchants/{merchant_id}");
    let token = csrf_token_in(&browser.html(&overview).await).unwrap();
    let res = browser.post_form(&overview, &[("csrf_token", &token)]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    browser
}

/// The Request Log's answer for a pasted request ID: status and page.
async fn diagnose(browser: &Browser, request_id: &str) -> (StatusCode, String) {
    let res = browser
        .get(&format!("/settings/request-log?request_id={request_id}"))
        .await;
    let status = res.status();
    (status, res.text().await.unwrap())
}

/// Text as a page escapes it.
fn html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('\'', "&#39;")
        .replace('"', "&#34;")
        .replace('<', "&#60;")
        .replace('>', "&#62;")
}

fn assert_says(page: &str, words: &str) {
    assert!(
        page.contains(&html(words)),
        "the page should say {words:?}:\n{page}"
    );
}

async fn support_pastes_each_kind_of_refusal_and_reads_the_rule_and_its_facts(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let merchant = app.demo_merchant_id();
    let alice = Dashboard::member(&app, "alice@demo.example", Role::Admin).await;
    app.execute("UPDATE users SET name = 'Alice Admin' WHERE email = 'alice@demo.example'");

    let revoked = alice.generate_key("Revoked").await;
    let res = alice.act(&revoked.id, "revoke", &[("confirm", "REVOKE")]).await;
    assert!(
        res.status().is_success() || res.status().is_redirection(),
        "{}",
        res.status()
    );
    let disabled = alice.generate_key("Disabled").await;
    let res = alice.act(&disabled.id, "disable", &[]).await;
    assert!(
        res.status().is_success() || res.status().is_redirection(),
        "{}",
        res.status()
    );
    let rotated = alice.generate_key("Rotated").await;
    alice.rotate_ok(&rotated.id, "1h").await;
    let rotated_at = app.clock.now();
    let reader = alice
        .generate(&[("name", "Reader"), ("scopes", "orders:read")])
        .await;
    assert!(reader.status().is_success(), "{}", reader.status());
    let reader = alice.key_named("Reader");
    let limited = alice.generate(&[("name", "Limited"), ("rate_limit", "60")]).await;
    assert!(limited.status().is_success(), "{}", limited.status());
    let limited = alice.key_named("Limited");
    let weekly = alice.generate(&[("name", "Weekly"), ("expires", "7")]).await;
    assert!(weekly.status().is_success(), "{}", weekly.status());
    let weekly = alice.key_named("Weekly");
    let fenced = alice.generate_key("Fenced").await;
    alice.advance(Duration::days(8)).await;

    let other_merchant = app.create_merchant("Elsewhere");
    let cases: Vec<(Logged<'_>, Vec<String>)> = vec![
        (
            Logged {
                key_id: Some(revoked.id.as_str()),
                presented: &revoked.masked_key,
                outcome: "key_revoked",
                ..Default::default()
            },
            vec![format!(
                "The key was revoked by Alice Admin on {}.",
                keyward::domain::diagnosis::when(alice.row(&revoked.id).revoked_at.unwrap())
            )],
        ),
        (
            Logged {
                key_id: Some(disabled.id.as_str()),
                presented: &disabled.masked_key,
                outcome: "key_disabled",
                ..Default::default()
            },
            vec![
                "The key was disabled by Alice Admin on".to_owned(),
                "Enable the key".to_owned(),
            ],
        ),
        (
            Logged {
                key_id: Some(rotated.id.as_str()),
                presented: &rotated.masked_key,
                outcome: "key_expired",
                ..Default::default()
            },
            vec![format!(
                "Version 1's grace period ended {}; version 2 is current.",
                keyward::domain::diagnosis::when(alice.row(&rotated.id).grace_ends_at.unwrap())
            )],
        ),
        (
            Logged {
                key_id: Some(reader.id.as_str()),
                presented: &reader.masked_key,
                outcome: "insufficient_scope",
                detail: "orders:write",
                ..Default::default()
            },
            vec![
                "The key lacks the scope orders:write.".to_owned(),
                "Scopes: orders:read.".to_owned(),
            ],
        ),
        (
            Logged {
                key_id: Some(fenced.id.as_str()),
                presented: &fenced.masked_key,
                outcome: "ip_not_allowed",
                detail: "198.51.100.0/24",
                ..Default::default()
            },
            vec!["The request came from 203.0.113.9, outside the allowlist 198.51.100.0/24.".to_owned()],
        ),
        (
            Logged {
                presented: "kw_live_AbCd…WxYz",
                outcome: "malformed_key",
                detail: "checksum",
                ..Default::default()
            },
            vec!["This is not a Keyward key: the checksum does not match (a copy-paste error?).".to_owned()],
        ),
        (
            Logged {
                presented: "kw_live_Gone…Away",
                outcome: "invalid_key",
                ..Default::default()
            },
            vec![
                "matches no key of this merchant: it may have been deleted, or belong to another environment"
                    .to_owned(),
            ],
        ),
        (
            Logged {
                key_id: Some(weekly.id.as_str()),
                presented: &weekly.masked_key,
                outcome: "key_expired",
                ..Default::default()
            },
            vec![
                format!(
                    "The key expired on {}.",
                    keyward::domain::diagnosis::when(alice.row(&weekly.id).expires_at.unwrap())
                ),
                "Renew the key on its page".to_owned(),
            ],
        ),
        (
            Logged {
                key_id: Some(limited.id.as_str()),
                presented: &limited.masked_key,
                outcome: "rate_limited",
                detail: "60",
                ..Default::default()
            },
            vec![
                "The key was rate limited: it made more requests than 60 a minute.".to_owned(),
                "Rate limit: 60 requests a minute.".to_owned(),
            ],
        ),
        (
            Logged {
                key_id: Some(limited.id.as_str()),
                presented: &limited.masked_key,
                outcome: "merchant_mismatch",
                detail: other_merchant.as_str(),
                ..Default::default()
            },
            vec![format!(
                "The request named the merchant {other_merchant} in X-Merchant-Id, but the key belongs to this merchant."
            )],
        ),
    ];
    let ids: Vec<String> = cases.iter().map(|_| request_id()).collect();
    for ((row, _), id) in cases.iter().zip(&ids) {
        log(
            &app,
            &merchant,
            Logged {
                request_id: id,
                ..row.clone()
            },
        );
    }
    assert!(rotated_at < app.clock.now());

    let sam = support(&app, &merchant).await;
    for ((row, sentences), id) in cases.iter().zip(&ids) {
        let (status, page) = diagnose(&sam, id).await;
        assert_eq!(status, StatusCode::OK, "{}: {page}", row.outcome);
        assert_says(&page, row.outcome);
        for sentence in sentences {
            assert_says(&page, sentence);
        }
        assert_says(&page, "What to do next:");
    }
    // The ID is read as pasted: with hyphens and capitals, around spaces.
    let pasted = uuid::Uuid::parse_str(&ids[0])
        .unwrap()
        .hyphenated()
        .to_string()
        .to_uppercase();
    let (status, page) = diagnose(&sam, &format!("%20{pasted}%20")).await;
    assert_eq!(status, StatusCode::OK);
    assert_says(&page, "The key was revoked by Alice Admin");
}

async fn the_key_page_lists_its_requests_by_outcome_a_page_at_a_time_and_as_csv(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let merchant = app.demo_merchant_id();
    let dash = Dashboard::admin(&app).await;
    let key = dash.generate_key("Gateway").await;
    let now = app.clock.now();
    let agent =
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36";
    log(
        &app,
        &merchant,
        Logged {
            key_id: Some(key.id.as_str()),
            presented: &key.masked_key,
            outcome: "accepted",
            address: "198.51.100.7",
            agent,
            method: "POST",
            path: "/orders/42",
            count: 12,
            at: Some(now - Duration::minutes(3)),
            ..Default::default()
        },
    );
    let refused = request_id();
    log(
        &app,
        &merchant,
        Logged {
            key_id: Some(key.id.as_str()),
            presented: &key.masked_key,
            outcome: "ip_not_allowed",
            request_id: &refused,
            address: "203.0.113.9",
            agent: "=HYPERLINK(\"http://evil.example\")",
            detail: "198.51.100.0/24",
            at: Some(now - Duration::minutes(1)),
            ..Default::default()
        },
    );
    let page = dash
        .browser
        .html(&format!("/settings/api-credentials/{}", key.id))
        .await;
    assert_says(&page, "Recent requests");
    let accepted_at = page.find("198.51.100.7").expect("the accepted row");
    let refused_at = page.find("203.0.113.9").expect("the refused row");
    assert!(refused_at < accepted_at, "newest first");
    assert_says(&page, "×12");
    assert_says(&page, "POST /orders/42");
    // The user agent is shortened, and whole in its title.
    assert!(page.contains(&format!("title=\"{}\"", html(agent))), "{page}");
    assert!(
        page.contains("Mozilla/5.0 (X11; Linux x86_64) AppleWe…<"),
        "{page}"
    );
    assert!(
        page.contains(&format!("/settings/request-log?request_id={refused}")),
        "refusals link to their explanation"
    );

    let filtered = dash
        .browser
        .html(&format!("/settings/api-credentials/{}?outcome=accepted", key.id))
        .await;
    assert!(
        filtered.contains("198.51.100.7") && !filtered.contains("203.0.113.9"),
        "{filtered}"
    );
    let res = dash
        .browser
        .get(&format!("/settings/api-credentials/{}?outcome=nonsense", key.id))
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);

    let res = dash
        .browser
        .get(&format!("/settings/api-credentials/{}/requests.csv", key.id))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let disposition = res.headers()["content-disposition"].to_str().unwrap().to_owned();
    assert!(disposition.starts_with("attachment;"), "{disposition}");
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = res.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "first_at,last_at,outcome,count,client_address,user_agent,method,path,request_id,key_id,presented_key,detail"
    );
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(
        lines[1].contains("\"ip_not_allowed\"") && lines[1].contains(&refused),
        "{csv}"
    );
    assert!(
        lines[1].contains("\"'=HYPERLINK(\"\"http://evil.example\"\")\""),
        "a formula is defused: {csv}"
    );
    assert!(lines[1].contains("\"198.51.100.0/24\""), "{csv}");
    assert!(lines[2].contains("\"accepted\",\"12\""), "{csv}");
    let only = dash
        .browser
        .get(&format!(
            "/settings/api-credentials/{}/requests.csv?outcome=accepted",
            key.id
        ))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(only.lines().count(), 2, "{only}");

    // Fifty rows a page; the next page goes on from the last row shown.
    for minute in 0..55 {
        log(
            &app,
            &merchant,
            Logged {
                key_id: Some(key.id.as_str()),
                presented: &key.masked_key,
                outcome: "key_disabled",
                request_id: &request_id(),
                address: &format!("192.0.2.{minute}"),
                at: Some(now - Duration::minutes(10 + minute)),
                ..Default::default()
            },
        );
    }
    let first = dash
        .browser
        .html(&format!(
            "/settings/api-credentials/{}?outcome=key_disabled",
            key.id
        ))
        .await;
    assert_eq!(first.matches("class=\"outcome-key_disabled\"").count(), 50);
    assert!(first.contains(">192.0.2.49<") && !first.contains(">192.0.2.50<"));
    let start = first
        .find("rel=\"next\"")
        .map(|end| first[..end].rfind("href=\"").unwrap() + 6);
    let href = start.map(|start| {
        first[start..start + first[start..].find('"').unwrap()]
            .replace("&#38;", "&")
            .replace("&amp;", "&")
    });
    let href = href.expect("a link to older requests");
    let href = href.split('#').next().unwrap();
    let second = dash.browser.html(href).await;
    assert_eq!(
        second.matches("class=\"outcome-key_disabled\"").count(),
        5,
        "{second}"
    );
    assert!(second.contains(">192.0.2.50<") && second.contains(">192.0.2.54<"));
    assert!(!second.contains("rel=\"next\""));
}

async fn members_search_their_merchants_log_by_key_address_time_and_outcome(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let merchant = app.demo_merchant_id();
    let admin = Dashboard::admin(&app).await;
    let key = admin.generate_key("Shop").await;
    let other = admin.generate_key("Other").await;
    let viewer = Dashboard::member(&app, "vera@demo.example", Role::Viewer).await;
    let now = app.clock.now();
    let shop_refused = request_id();
    log(
        &app,
        &merchant,
        // A stored key's rows keep no presented value, as the recording writes them.
        Logged {
            key_id: Some(key.id.as_str()),
            outcome: "key_disabled",
            request_id: &shop_refused,
            address: "203.0.113.50",
            at: Some(now - Duration::hours(3)),
            ..Default::default()
        },
    );
    log(
        &app,
        &merchant,
        Logged {
            key_id: Some(other.id.as_str()),
            outcome: "accepted",
            address: "198.51.100.1",
            at: Some(now - Duration::minutes(5)),
            ..Default::default()
        },
    );
    let search = |query: String| {
        let browser = &viewer.browser;
        async move {
            let res = browser.get(&format!("/settings/request-log?{query}")).await;
            assert_eq!(res.status(), StatusCode::OK, "{query}");
            res.text().await.unwrap()
        }
    };
    let everything = search(String::new()).await;
    assert!(everything.contains("203.0.113.50") && everything.contains("198.51.100.1"));
    assert_says(&everything, "The key was disabled when the request came");

    let last_four = &key.masked_key[key.masked_key.len() - 4..];
    let by_four = search(format!("key={last_four}")).await;
    assert!(
        by_four.contains("203.0.113.50") && !by_four.contains("198.51.100.1"),
        "{by_four}"
    );
    let start = key.masked_key.split('\u{2026}').next().unwrap();
    for by in [key.masked_key.as_str(), start] {
        let encoded = serde_urlencoded::to_string([("key", by)]).unwrap();
        let found = search(encoded).await;
        assert!(
            found.contains("203.0.113.50") && !found.contains("198.51.100.1"),
            "{by}: {found}"
        );
    }
    let by_address = search("address=198.51.100.1".to_owned()).await;
    assert!(!by_address.contains("203.0.113.50") && by_address.contains("198.51.100.1"));
    let by_outcome = search("outcome=key_disabled".to_owned()).await;
    assert!(by_outcome.contains("203.0.113.50") && !by_outcome.contains("198.51.100.1"));
    let stamp = |at: PrimitiveDateTime| {
        at.format(format_description!("[year]-[month]-[day]T[hour]:[minute]"))
            .unwrap()
    };
    let recent = search(format!("from={}", stamp(now - Duration::hours(1)))).await;
    assert!(
        !recent.contains("203.0.113.50") && recent.contains("198.51.100.1"),
        "{recent}"
    );
    let earlier = search(format!("to={}", stamp(now - Duration::hours(1)))).await;
    assert!(
        earlier.contains("203.0.113.50") && !earlier.contains("198.51.100.1"),
        "{earlier}"
    );
    let none = search("address=192.0.2.1".to_owned()).await;
    assert_says(&none, "Nothing matches this search.");

    // A refused row leads to its explanation; so does its pasted ID, for any member.
    assert!(everything.contains(&format!("/settings/request-log?request_id={shop_refused}")));
    let (status, page) = diagnose(&viewer.browser, &shop_refused).await;
    assert_eq!(status, StatusCode::OK);
    assert_says(&page, "Enable the key on its page");
}

async fn a_member_never_reads_another_merchants_requests(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let rival = app.create_merchant("Rival");
    let rival_key = keyward::service::keys::generate(
        &mut app.db.get().unwrap(),
        &rival,
        &keyward::service::keys::GenerateRequest {
            name: "Rival key".to_owned(),
            expires: "never".to_owned(),
            ..Default::default()
        },
        &keyward::domain::Actor::cli(),
        &keyward::startup::key_pepper(&crate::support::test_secret()),
        app.clock.now(),
    )
    .unwrap()
    .row;
    let theirs = request_id();
    log(
        &app,
        &rival,
        Logged {
            key_id: Some(rival_key.id.as_str()),
            presented: &rival_key.masked_key,
            outcome: "key_revoked",
            request_id: &theirs,
            address: "192.0.2.77",
            ..Default::default()
        },
    );
    let dash = Dashboard::admin(&app).await;
    let (status, page) = diagnose(&dash.browser, &theirs).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_says(&page, "No refused request with the ID");
    assert!(!page.contains("192.0.2.77") && !page.contains(&rival_key.masked_key));
    let everything = dash.browser.html("/settings/request-log").await;
    assert!(!everything.contains("192.0.2.77"), "{everything}");
    let by_address = dash
        .browser
        .html("/settings/request-log?address=192.0.2.77")
        .await;
    assert!(!by_address.contains("Rival key"));
    for path in [
        format!("/settings/api-credentials/{}", rival_key.id),
        format!("/settings/api-credentials/{}/requests.csv", rival_key.id),
    ] {
        assert_eq!(
            dash.browser.get(&path).await.status(),
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }

    // Support staff read it once they open that merchant, and only then.
    let sam = support(&app, &app.demo_merchant_id()).await;
    assert_eq!(diagnose(&sam, &theirs).await.0, StatusCode::NOT_FOUND);
    let overview = format!("/support/merchants/{rival}");
    let token = csrf_token_in(&sam.html(&overview).await).unwrap();
    sam.post_form(&overview, &[("csrf_token", &token)]).await;
    let (status, page) = diagnose(&sam, &theirs).await;
    assert_eq!(status, StatusCode::OK);
    assert_says(&page, "The key was revoked.");
    // The key's page shows them its log too, read only.
    let key_page = sam
        .html(&format!("/settings/api-credentials/{}", rival_key.id))
        .await;
    assert!(
        key_page.contains("192.0.2.77") && key_page.contains("key_revoked"),
        "{key_page}"
    );
    let csv = sam
        .get(&format!(
            "/settings/api-credentials/{}/requests.csv",
            rival_key.id
        ))
        .await;
    assert_eq!(csv.status(), StatusCode::OK);
    assert!(csv.text().await.unwrap().contains(&theirs));
}

async fn bad_searches_are_refused_with_a_message(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let dash = Dashboard::admin(&app).await;
    for (query, message) in [
        (
            "request_id=not-an-id",
            "Request ID must be the 32 characters of an X-Request-Id header.",
        ),
        ("key=hello%20world", "Key must be a masked key such as"),
        ("address=somewhere", "Client address must be an IP address"),
        (
            "from=yesterday",
            "From must be a time such as 2026-12-02T11:59 (UTC).",
        ),
        ("from=2026-12-02&to=2026-12-01", "From must be before To."),
        ("outcome=teapot", "Outcome must be one of the listed outcomes."),
    ] {
        let res = dash.browser.get(&format!("/settings/request-log?{query}")).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert_says(&res.text().await.unwrap(), message);
    }
    let res = dash.browser.get("/settings/request-log?after=garbage").await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    // The last minute a time can name is a search like any other.
    let res = dash
        .browser
        .get("/settings/request-log?to=9999-12-31T23:59")
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    // A whole key typed into the search leaves the address as its mask.
    let key = keyward::domain::ApiKey::generate();
    let res = dash
        .browser
        .get(&format!("/settings/request-log?key={}", key.expose()))
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let to = crate::support::location(&res).to_owned();
    assert!(!to.contains(key.expose()), "{to}");
    // So does one pasted into another field by mistake, which the page would echo.
    for field in ["request_id", "address", "from"] {
        let res = dash
            .browser
            .get(&format!("/settings/request-log?{field}={}", key.expose()))
            .await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{field}");
        let to = crate::support::location(&res).to_owned();
        assert!(
            !to.contains(key.expose()) && to.contains(&urlencode(&key.masked())),
            "{to}"
        );
        let page = dash.browser.html(&to).await;
        assert!(!page.contains(key.expose()), "{field}");
    }
}

fn urlencode(text: &str) -> String {
    serde_urlencoded::to_string([("v", text)]).unwrap()[2..].to_owned()
}

async fn the_management_api_explains_a_request_of_the_tokens_merchant_only(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let merchant = app.demo_merchant_id();
    let dash = Dashboard::admin(&app).await;
    let reader = dash
        .generate(&[("name", "Reader"), ("scopes", "orders:read")])
        .await;
    assert!(reader.status().is_success());
    let reader = dash.key_named("Reader");
    let refused = request_id();
    log(
        &app,
        &merchant,
        Logged {
            key_id: Some(reader.id.as_str()),
            presented: &reader.masked_key,
            outcome: "insufficient_scope",
            request_id: &refused,
            method: "POST",
            path: "/orders",
            agent: "integration/1.0",
            detail: "orders:write",
            ..Default::default()
        },
    );
    let rival = app.create_merchant("Rival");
    let theirs = request_id();
    log(
        &app,
        &rival,
        Logged {
            presented: "kw_live_Gone…Away",
            outcome: "invalid_key",
            request_id: &theirs,
            ..Default::default()
        },
    );
    let api = ManageApi::new(
        &app.address,
        &create_token(&app.db, &merchant, "Support desk", &["keys:read"]),
    );

    let answer = api.get(&format!("/api/v1/requests/{refused}")).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let body = &answer.body;
    assert_eq!(body["request_id"], refused.as_str());
    assert_eq!(body["key_id"], reader.id.as_str());
    assert_eq!(body["presented_key"], reader.masked_key.as_str());
    assert_eq!(body["outcome"], "insufficient_scope");
    assert_eq!(body["client_address"], "203.0.113.9");
    assert_eq!(
        (body["method"].as_str(), body["path"].as_str()),
        (Some("POST"), Some("/orders"))
    );
    assert_eq!(body["detail"], "orders:write");
    assert!(body["at"].as_str().unwrap().ends_with('Z'), "{body}");
    let explanation = &body["explanation"];
    assert_eq!(explanation["code"], "insufficient_scope");
    assert_eq!(explanation["summary"], "The key lacks the scope orders:write.");
    assert!(
        explanation["next_step"]
            .as_str()
            .unwrap()
            .contains("add the scope orders:write")
    );
    let facts: Vec<&str> = explanation["facts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|fact| fact.as_str())
        .collect();
    assert!(facts.contains(&"Scopes: orders:read."), "{facts:?}");

    // Another merchant's request, a malformed ID and a token without keys:read get nothing.
    api.get(&format!("/api/v1/requests/{theirs}"))
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    api.get("/api/v1/requests/not-an-id")
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    let auditor = ManageApi::new(
        &app.address,
        &create_token(&app.db, &merchant, "Auditor", &["audit:read"]),
    );
    auditor
        .get(&format!("/api/v1/requests/{refused}"))
        .await
        .assert_error(StatusCode::FORBIDDEN, "insufficient_scope");
}

async fn support_pastes_a_request_id_into_the_console_and_is_led_to_its_merchant(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let rival = app.create_merchant("Rival Shop");
    let theirs = request_id();
    log(
        &app,
        &rival,
        Logged {
            presented: "kw_live_AbCd…WxYz",
            outcome: "malformed_key",
            request_id: &theirs,
            detail: "length",
            ..Default::default()
        },
    );
    let sam = support(&app, &app.demo_merchant_id()).await;
    let console = sam.html(&format!("/support?q={theirs}")).await;
    let found = format!("/support/merchants/{rival}/requests/{theirs}");
    assert!(
        console.contains("Rival Shop") && console.contains(&found),
        "{console}"
    );

    // Support looks at Demo Merchant: the request's page offers to open Rival Shop on it.
    let offer = sam.html(&found).await;
    assert_says(&offer, "Open request");
    let token = csrf_token_in(&offer).unwrap();
    let res = sam.post_form(&found, &[("csrf_token", &token)]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let explained = crate::support::location(&res).to_owned();
    assert_eq!(explained, format!("/settings/request-log?request_id={theirs}"));
    let page = sam.html(&explained).await;
    assert_says(
        &page,
        "This is not a Keyward key: it does not have the length of a Keyward key",
    );
    assert_says(&page, "Rival Shop");
    // Now that Rival Shop is open, the request's address goes straight to it.
    let res = sam.get(&found).await;
    assert_eq!(crate::support::location(&res), explained);

    // The request is only ever found under its own merchant.
    let elsewhere = format!("/support/merchants/{}/requests/{theirs}", app.demo_merchant_id());
    assert_eq!(sam.get(&elsewhere).await.status(), StatusCode::NOT_FOUND);
    let unknown = sam.html(&format!("/support?q={}", request_id())).await;
    assert!(!unknown.contains("/requests/"), "{unknown}");
}

/// A call to make: path, key, `X-Merchant-Id`, the status it is answered with, the code
/// the request log keeps and a sentence of the explanation support reads.
type Call<'a> = (&'a str, &'a str, Option<&'a str>, StatusCode, &'a str, String);

/// Calls the API as an integration would and returns the status and the `X-Request-Id`
/// it was answered with.
async fn refused_call(app: &TestApp, path: &str, key: &str, merchant: Option<&str>) -> (StatusCode, String) {
    let mut request = reqwest::Client::new()
        .get(format!("{}{path}", app.address))
        .header("Authorization", format!("ApiKey {key}"))
        .header("User-Agent", "acme-billing/2.1");
    if let Some(merchant) = merchant {
        request = request.header("X-Merchant-Id", merchant);
    }
    let res = request.send().await.unwrap();
    let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    (res.status(), id)
}

/// The whole path, with nothing written by hand: each kind of refused call is made for
/// real, the request log keeps it under the ID its answer carried, and support staff who
/// paste that ID read the rule that decided it and the facts behind it.
async fn support_pastes_the_request_id_each_refused_call_was_answered_with(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let merchant = app.demo_merchant_id();
    let alice = Dashboard::member(&app, "alice@demo.example", Role::Admin).await;
    app.execute("UPDATE users SET name = 'Alice Admin' WHERE email = 'alice@demo.example'");
    let plaintext = |res: String| crate::support::dashboard::revealed_key(&res);
    let generated = |fields: Vec<(&'static str, &'static str)>| {
        let alice = &alice;
        async move {
            let res = alice.generate(&fields).await;
            assert_eq!(res.status(), StatusCode::OK, "{fields:?}");
            plaintext(res.text().await.unwrap())
        }
    };

    let weekly = generated(vec![("name", "Weekly"), ("expires", "7")]).await;
    alice.advance(Duration::days(8)).await;
    let revoked = alice.generate_ok("Revoked").await;
    let revoked_row = alice.key_named("Revoked");
    alice
        .act(&revoked_row.id, "revoke", &[("confirm", "REVOKE")])
        .await;
    let disabled = alice.generate_ok("Disabled").await;
    alice.act(&alice.key_named("Disabled").id, "disable", &[]).await;
    let rotated = alice.generate_ok("Rotated").await;
    alice.rotate_ok(&alice.key_named("Rotated").id, "now").await;
    let reader = generated(vec![("name", "Reader"), ("scopes", "orders:read")]).await;
    let fenced = generated(vec![("name", "Fenced"), ("allowed_ips", "198.51.100.0/24")]).await;
    let limited = generated(vec![("name", "Limited"), ("rate_limit", "1")]).await;
    let mistyped = {
        let mut key = reader.clone();
        let last = key.pop().unwrap();
        key.push(if last == 'A' { 'B' } else { 'A' });
        key
    };
    let unknown = keyward::domain::ApiKey::generate().expose().to_owned();
    let other = app.create_merchant("Elsewhere");
    let demo = merchant.as_str();
    assert_eq!(
        refused_call(&app, "/api/v1/whoami", &limited, None).await.0,
        StatusCode::OK
    );

    let calls: Vec<Call<'_>> = vec![
        (
            "/api/v1/whoami",
            &revoked,
            None,
            StatusCode::UNAUTHORIZED,
            "key_revoked",
            format!(
                "The key was revoked by Alice Admin on {}.",
                keyward::domain::diagnosis::when(alice.row(&revoked_row.id).revoked_at.unwrap())
            ),
        ),
        (
            "/api/v1/whoami",
            &disabled,
            None,
            StatusCode::UNAUTHORIZED,
            "key_disabled",
            "The key was disabled by Alice Admin on".to_owned(),
        ),
        (
            "/api/v1/whoami",
            &rotated,
            None,
            StatusCode::UNAUTHORIZED,
            "key_expired",
            "Version 1's grace period ended".to_owned(),
        ),
        (
            "/api/v1/whoami",
            &weekly,
            None,
            StatusCode::UNAUTHORIZED,
            "key_expired",
            "The key expired on".to_owned(),
        ),
        (
            "/api/v1/auth?scope=orders:write",
            &reader,
            None,
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            "The key lacks the scope orders:write.".to_owned(),
        ),
        (
            "/api/v1/whoami",
            &fenced,
            None,
            StatusCode::FORBIDDEN,
            "ip_not_allowed",
            "The request came from 127.0.0.1, outside the allowlist 198.51.100.0/24.".to_owned(),
        ),
        (
            "/api/v1/whoami",
            &limited,
            None,
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "it made more requests than 1 a minute".to_owned(),
        ),
        (
            "/api/v1/whoami",
            &reader,
            Some(other.as_str()),
            StatusCode::FORBIDDEN,
            "merchant_mismatch",
            format!("The request named the merchant {other} in X-Merchant-Id"),
        ),
        (
            "/api/v1/whoami",
            &mistyped,
            Some(demo),
            StatusCode::UNAUTHORIZED,
            "malformed_key",
            "the checksum does not match (a copy-paste error?)".to_owned(),
        ),
        (
            "/api/v1/whoami",
            &unknown,
            Some(demo),
            StatusCode::UNAUTHORIZED,
            "invalid_key",
            "matches no key of this merchant".to_owned(),
        ),
        // `Authorization: ApiKey` with nothing after it: the key went missing.
        (
            "/api/v1/whoami",
            "",
            Some(demo),
            StatusCode::UNAUTHORIZED,
            "missing_key",
            "The request carried no key".to_owned(),
        ),
    ];
    let mut answered = Vec::new();
    for (path, key, named, status, code, _) in &calls {
        let (got, id) = refused_call(&app, path, key, *named).await;
        assert_eq!(got, *status, "{code}");
        answered.push(id);
    }
    let wanted = calls.len() as i64;
    let kept = "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM key_requests WHERE request_id <> ''";
    let started = std::time::Instant::now();
    while app.count(kept) < wanted {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "the request log was not flushed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    let sam = support(&app, &merchant).await;
    for ((_, _, _, _, code, sentence), id) in calls.iter().zip(&answered) {
        let (status, page) = diagnose(&sam, id).await;
        assert_eq!(status, StatusCode::OK, "{code}: {page}");
        assert_says(&page, code);
        assert_says(&page, sentence);
        assert_says(&page, "What to do next:");
    }
}
