//! Settings → Management Tokens, driven over HTTP as an admin clicks it: the page per
//! role, a token made and shown once, the form's refusals, Revoke and the API's answer
//! to a revoked token, and how a token's changes read in the Audit Log.

use keyward::db::management_tokens::{self, TokenRow};
use keyward::domain::{Actor, ManagementToken, Role};
use keyward::service::keys::{self, GenerateRequest};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use time::Duration;

use crate::db_test;
use crate::support::dashboard::Dashboard;
use crate::support::{Backend, TestApp, csrf_token_in, field_value, location, spawn_app, test_secret};

db_test!(
    only_admins_open_management_tokens_which_follows_key_policy,
    a_new_token_is_shown_once_listed_masked_and_recorded,
    the_form_refuses_a_missing_name_no_scope_and_a_taken_name_next_to_the_field,
    revoking_asks_for_revoke_and_the_api_refuses_the_token_at_once,
    token_forms_without_the_csrf_token_are_refused_and_change_nothing,
    changes_made_with_a_token_show_the_token_and_its_creator_in_the_audit_log,
    an_expired_token_reads_expired_and_can_still_be_revoked,
    one_form_sent_ten_times_at_once_makes_one_token,
);

const PAGE: &str = "/settings/management-tokens";
const NEW: &str = "/settings/management-tokens/new";

/// The token shown on a Reveal.
fn revealed_token(html: &str) -> String {
    let marker = r#"id="revealed-token" class="revealed-key" type="text" readonly value=""#;
    let start = html
        .find(marker)
        .unwrap_or_else(|| panic!("no revealed token in {html}"))
        + marker.len();
    let end = html[start..].find('"').unwrap() + start;
    html[start..end].to_owned()
}

/// The `<p class="field-error">` next to the field `id`, as text.
fn field_error(html: &str, id: &str) -> Option<String> {
    let marker = format!(r#"id="{id}-error" role="alert">"#);
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find("</p>")? + start;
    Some(html[start..end].to_owned())
}

/// The table row of the token named `name` on the list.
fn row_of<'h>(html: &'h str, name: &str) -> &'h str {
    let cell = format!(r#"<span class="token-name">{name}</span>"#);
    let at = html
        .find(&cell)
        .unwrap_or_else(|| panic!("no token named {name} in {html}"));
    let start = html[..at].rfind("<tr").unwrap();
    let end = html[at..].find("</tr>").unwrap() + at;
    &html[start..end]
}

/// Sends the New Management Token form with `fields` (`scopes` may repeat).
async fn create(dash: &Dashboard<'_>, fields: &[(&str, &str)]) -> reqwest::Response {
    dash.submit(NEW, PAGE, fields).await
}

/// Creates a token named `name` with `scopes` and no expiry; returns it as revealed.
async fn create_ok(dash: &Dashboard<'_>, name: &str, scopes: &[&str]) -> ManagementToken {
    let mut fields = vec![("name", name), ("expires", "never")];
    fields.extend(scopes.iter().map(|scope| ("scopes", *scope)));
    let res = create(dash, &fields).await;
    assert_eq!(res.status(), StatusCode::OK, "creating {name}");
    ManagementToken::parse(&revealed_token(&res.text().await.unwrap())).expect("a management token")
}

fn tokens(dash: &Dashboard<'_>) -> Vec<TokenRow> {
    management_tokens::list(&mut dash.app.db.get().unwrap(), &dash.merchant_id).unwrap()
}

fn token_named(dash: &Dashboard<'_>, name: &str) -> TokenRow {
    tokens(dash)
        .into_iter()
        .find(|row| row.name == name)
        .unwrap_or_else(|| panic!("no token named {name}"))
}

/// `GET /api/v1/keys/{key_id}` with `token`, as automation calls it.
async fn get_key(app: &TestApp, key_id: &str, token: &ManagementToken) -> (StatusCode, Value) {
    let res = app
        .call(
            &format!("/api/v1/keys/{key_id}"),
            Some(&format!("Bearer {}", token.expose())),
        )
        .await;
    (res.status(), res.json().await.expect("a JSON answer"))
}

/// How many events of `event_type` the merchant's history holds.
fn events(app: &TestApp, event_type: &str) -> i64 {
    app.count(&format!(
        "SELECT COUNT(*) AS n FROM key_events WHERE event_type = '{event_type}'"
    ))
}

async fn only_admins_open_management_tokens_which_follows_key_policy(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let admin = Dashboard::admin(&app).await;
    let html = admin.browser.html(PAGE).await;
    let policy = html
        .find(">Key Policy</a>")
        .expect("Key Policy in the navigation");
    let tokens_link = html
        .find(r#"href="/settings/management-tokens" aria-current="page">Management Tokens</a>"#)
        .expect("Management Tokens in the navigation, marked as the page shown");
    let audit = html.find(">Audit Log</a>").expect("Audit Log in the navigation");
    assert!(policy < tokens_link && tokens_link < audit, "after Key Policy");
    assert!(html.contains("<h1>Management Tokens</h1>"), "{html}");
    assert!(html.contains("No Management Token Yet"), "the empty state");
    assert!(
        html.contains(r#"<a href="/api/v1/openapi.json">OpenAPI document</a>"#),
        "the empty state points to the API's document"
    );
    assert!(html.contains("automation"), "it says what tokens are for");

    for role in [Role::Developer, Role::Viewer] {
        let member = Dashboard::member(&app, &format!("{role:?}@example.com").to_lowercase(), role).await;
        let list = member.page().await;
        assert!(!list.contains("Management Tokens"), "{role:?} sees no link");
        for path in [PAGE, NEW] {
            let res = member.browser.get(path).await;
            assert_eq!(res.status(), StatusCode::FORBIDDEN, "{role:?} GET {path}");
        }
        let token = member.browser.csrf_token("/settings/api-credentials").await;
        let res = member
            .browser
            .post_form(
                PAGE,
                &[("csrf_token", &token), ("name", "Mine"), ("scopes", "keys:read")],
            )
            .await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{role:?} creates nothing");
    }

    // Support staff get what they get for Members: 403, and a change attempt is recorded.
    app.create_support("sam@support.example", "support password");
    let support = app.browser();
    support.sign_in("sam@support.example", "support password").await;
    let overview = format!("/support/merchants/{}", admin.merchant_id);
    let token = support.csrf_token(&overview).await;
    support.post_form(&overview, &[("csrf_token", &token)]).await;
    assert_eq!(support.get(PAGE).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        support.get("/settings/members").await.status(),
        StatusCode::FORBIDDEN
    );
    let refused_before = events(&app, "change_refused");
    let res = support
        .post_form(
            PAGE,
            &[
                ("csrf_token", &token),
                ("name", "Support's"),
                ("scopes", "keys:read"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(events(&app, "change_refused"), refused_before + 1);
    assert!(tokens(&admin).is_empty(), "nobody but an admin made a token");
}

async fn a_new_token_is_shown_once_listed_masked_and_recorded(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let dash = Dashboard::admin(&app).await;

    // The form, as a page of its own and as htmx's modal: every scope unticked, the
    // expiry choices, a one-time value.
    let form = dash.browser.html(NEW).await;
    assert!(
        form.contains(r#"<h1 id="modal-title">New Management Token</h1>"#),
        "{form}"
    );
    for scope in [
        "keys:read",
        "keys:write",
        "audit:read",
        "members:read",
        "policy:read",
        "policy:write",
    ] {
        assert!(
            form.contains(&format!(r#"name="scopes" value="{scope}">"#)),
            "{scope} is offered unticked: {form}"
        );
    }
    assert!(form.contains("List keys and read their details, usage and history"));
    assert!(!form.contains(" checked"), "nothing preselected");
    for label in ["No expiry", "7 days", "30 days", "90 days", "365 days"] {
        assert!(form.contains(&format!(">{label}</option>")), "{label}");
    }
    assert!(field_value(&form, "nonce").is_some_and(|nonce| !nonce.is_empty()));
    let modal = dash
        .browser
        .send(
            dash.browser
                .builder(Method::GET, NEW)
                .header("HX-Request", "true"),
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(
        modal.contains(r#"role="dialog""#) && !modal.contains("<html"),
        "{modal}"
    );

    let html = dash.browser.html(NEW).await;
    let (csrf, nonce) = (
        csrf_token_in(&html).unwrap(),
        field_value(&html, "nonce").unwrap(),
    );
    let fields = [
        ("csrf_token", csrf.as_str()),
        ("nonce", nonce.as_str()),
        ("name", "Deploy pipeline"),
        ("scopes", "keys:read"),
        ("scopes", "keys:write"),
        ("expires", "30"),
    ];
    let res = dash.browser.post_form(PAGE, &fields).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let reveal = res.text().await.unwrap();
    assert!(
        reveal.contains("Store it now: it will not be shown again"),
        "{reveal}"
    );
    assert!(reveal.contains(">Copy</button>") && reveal.contains(">Done</a>"));
    let token = ManagementToken::parse(&revealed_token(&reveal)).expect("a kw_mgmt_ token");
    let secret = &token.expose()["kw_mgmt_".len()..];

    let row = token_named(&dash, "Deploy pipeline");
    assert_eq!(row.scopes.names(), ["keys:read", "keys:write"]);
    assert_eq!(row.expires_at, Some(row.created_at + Duration::days(30)));
    assert_eq!(row.masked_token, token.masked());
    assert_eq!(row.created_by, "Admin");

    // The same form sent again (a refresh, the back button) makes nothing and shows
    // nothing again.
    let again = dash.browser.post_form(PAGE, &fields).await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    let again = again.text().await.unwrap();
    assert!(again.contains("This form was already submitted"), "{again}");
    assert!(!again.contains(secret) && !again.contains("revealed-token"));
    assert_eq!(tokens(&dash).len(), 1, "one form, one token");

    // Listed masked, never whole, with what it may do and by whom.
    let list = dash.browser.html(PAGE).await;
    assert!(!list.contains(secret), "the token is never shown again");
    let row_html = row_of(&list, "Deploy pipeline");
    for shown in [
        format!("<br><code>{}</code>", token.masked()),
        "keys:read".to_owned(),
        "keys:write".to_owned(),
        "by Admin".to_owned(),
        "Never".to_owned(),
        keyward::web::format::datetime(row.expires_at.unwrap()),
        ">Active</span>".to_owned(),
        format!("/settings/management-tokens/{}/revoke", row.id),
    ] {
        assert!(row_html.contains(&shown), "{shown} not in {row_html}");
    }

    // Kept nowhere but as a digest; recorded once, masked.
    let stored = app.count(&format!(
        "SELECT COUNT(*) AS n FROM management_tokens WHERE token_hash = '{}'",
        token
            .digest(&keyward::startup::key_pepper(&test_secret()))
            .as_str()
    ));
    assert_eq!(stored, 1);
    assert!(!app.dump_text().contains(secret), "no plaintext in any table");
    let all_tokens = app.count(&format!(
        "SELECT COUNT(*) AS n FROM management_tokens WHERE name || scopes || token_hash || masked_token || created_by LIKE '%{secret}%'"
    ));
    assert_eq!(all_tokens, 0);
    assert_eq!(events(&app, "token_created"), 1);
    let log = dash.browser.html("/settings/audit-log").await;
    assert!(log.contains("Management token created"), "{log}");
    assert!(
        log.contains(&format!(
            "“Deploy pipeline” {}; scopes: keys:read, keys:write; expires",
            token.masked()
        )),
        "{log}"
    );
}

async fn the_form_refuses_a_missing_name_no_scope_and_a_taken_name_next_to_the_field(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let dash = Dashboard::admin(&app).await;
    let refused = |res: reqwest::Response, status: StatusCode| async move {
        assert_eq!(res.status(), status);
        res.text().await.unwrap()
    };

    let html = refused(
        create(&dash, &[("name", "  "), ("scopes", "audit:read")]).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(
        field_error(&html, "token-name").as_deref(),
        Some("Name must not be empty.")
    );
    assert!(html.contains(r#"aria-describedby="token-name-error""#), "{html}");
    assert!(
        html.contains(r#"value="audit:read" checked"#),
        "the ticked scope stays ticked"
    );

    let html = refused(
        create(&dash, &[("name", "CI"), ("expires", "90")]).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(
        field_error(&html, "token-scopes").as_deref(),
        Some("Scopes must not be empty.")
    );
    assert!(field_error(&html, "token-name").is_none());
    assert!(html.contains(r#"value="CI""#), "the name is kept");
    assert!(
        html.contains(r#"<option value="90" selected>"#),
        "the expiry is kept"
    );

    let html = refused(
        create(
            &dash,
            &[("name", "CI"), ("scopes", "keys:read"), ("expires", "12 days")],
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(
        field_error(&html, "token-expires").is_some_and(|error| error.starts_with("Expiration is not valid")),
        "{html}"
    );

    let html = refused(
        create(&dash, &[("name", "CI"), ("scopes", "orders:read")]).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(field_error(&html, "token-scopes").is_some(), "{html}");

    let pasted = ManagementToken::generate();
    let html = refused(
        create(&dash, &[("name", pasted.expose()), ("scopes", "keys:read")]).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(
        field_error(&html, "token-name")
            .is_some_and(|error| error.contains("must not contain an API key or a management token")),
        "{html}"
    );
    assert!(tokens(&dash).is_empty(), "nothing was created");

    create_ok(&dash, "CI", &["keys:read"]).await;
    let html = refused(
        create(&dash, &[("name", "CI"), ("scopes", "audit:read")]).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(
        field_error(&html, "token-name").as_deref(),
        Some("Another token is already named &#34;CI&#34;. Choose a different name.")
    );
    assert!(!html.contains("revealed-token"));
    let html = refused(
        create(&dash, &[("name", "ci"), ("scopes", "audit:read")]).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(
        field_error(&html, "token-name").is_some_and(|error| error.contains("already named")),
        "names differ by more than letter case: {html}"
    );
    assert_eq!(tokens(&dash).len(), 1);
    assert_eq!(events(&app, "token_created"), 1, "refusals record nothing");
}

async fn revoking_asks_for_revoke_and_the_api_refuses_the_token_at_once(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let dash = Dashboard::admin(&app).await;
    let token = create_ok(&dash, "Terraform", &["keys:read"]).await;
    let key = dash.generate_key("Checkout").await;

    // The token works: the key as JSON, and an unknown key is 404, not 401.
    let (status, body) = get_key(&app, key.id.as_str(), &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["id"], key.id.as_str());
    let (status, body) = get_key(&app, &uuid::Uuid::new_v4().to_string(), &token).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"]["code"], "not_found");
    let list = dash.browser.html(PAGE).await;
    let used = row_of(&list, "Terraform");
    assert!(
        used.contains("just now") && used.contains("from 127.0.0.1"),
        "Last used shows the time and the address: {used}"
    );

    let row = token_named(&dash, "Terraform");
    let revoke = format!("{PAGE}/{}/revoke", row.id);
    let form = dash.browser.html(&revoke).await;
    assert!(
        form.contains(r#"<h1 id="modal-title">Revoke Management Token</h1>"#),
        "{form}"
    );
    assert!(form.contains("Type REVOKE to confirm") && form.contains(&token.masked()));
    assert!(form.contains(r#"data-confirm-word="REVOKE""#));

    for wrong in ["revoke", " REVOKE", ""] {
        let res = dash.submit(&revoke, &revoke, &[("confirm", wrong)]).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{wrong:?}");
        let html = res.text().await.unwrap();
        assert!(
            html.contains("Type REVOKE, in capital letters, to confirm."),
            "{html}"
        );
        assert!(html.contains(r#"name="confirm""#), "asked again");
    }
    assert_eq!(get_key(&app, key.id.as_str(), &token).await.0, StatusCode::OK);

    let res = dash.submit(&revoke, &revoke, &[("confirm", "REVOKE")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), PAGE);
    let (status, body) = get_key(&app, key.id.as_str(), &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"]["code"], "token_revoked");

    let list = dash.browser.html(PAGE).await;
    assert!(list.contains("&#34;Terraform&#34; was revoked."), "{list}");
    let revoked = row_of(&list, "Terraform");
    assert!(
        revoked.contains(">Revoked</span>") && revoked.contains("by Admin, "),
        "{revoked}"
    );
    assert!(!revoked.contains("/revoke"), "Revoke is no longer offered");
    assert_eq!(events(&app, "token_revoked"), 1);
    let log = dash.browser.html("/settings/audit-log").await;
    assert!(
        log.contains("Management token revoked") && log.contains(&format!("“Terraform” {}", token.masked())),
        "{log}"
    );

    // Once revoked, the form says so, and a form left open revokes nothing twice.
    let res = dash.browser.get(&revoke).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("This token is revoked already.")
    );
    let csrf = dash.browser.csrf_token(PAGE).await;
    let res = dash
        .browser
        .post_form(&revoke, &[("csrf_token", &csrf), ("confirm", "REVOKE")])
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert_eq!(events(&app, "token_revoked"), 1);

    // From the modal, htmx is sent to the list.
    let other = create_ok(&dash, "Script", &["audit:read"]).await;
    let path = format!("{PAGE}/{}/revoke", token_named(&dash, "Script").id);
    let res = dash
        .browser
        .send(
            dash.browser
                .builder(Method::POST, &path)
                .header("HX-Request", "true")
                .form(&[("csrf_token", csrf.as_str()), ("confirm", "REVOKE")]),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["hx-redirect"], PAGE);
    assert_eq!(
        get_key(&app, key.id.as_str(), &other).await.1["error"]["code"],
        "token_revoked"
    );
}

async fn token_forms_without_the_csrf_token_are_refused_and_change_nothing(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let dash = Dashboard::admin(&app).await;
    let html = dash.browser.html(NEW).await;
    let nonce = field_value(&html, "nonce").unwrap();
    for csrf in [None, Some("not-the-token")] {
        let mut fields = vec![
            ("nonce", nonce.as_str()),
            ("name", "Sneaky"),
            ("scopes", "keys:write"),
        ];
        fields.extend(csrf.map(|token| ("csrf_token", token)));
        let res = dash.browser.post_form(PAGE, &fields).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert!(res.text().await.unwrap().contains("Request refused"));
    }
    assert!(tokens(&dash).is_empty(), "no token was made");

    create_ok(&dash, "Kept", &["keys:read"]).await;
    let revoke = format!("{PAGE}/{}/revoke", token_named(&dash, "Kept").id);
    let res = dash.browser.post_form(&revoke, &[("confirm", "REVOKE")]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(token_named(&dash, "Kept").revoked_at.is_none(), "still active");
    assert_eq!(events(&app, "token_revoked"), 0);
}

async fn changes_made_with_a_token_show_the_token_and_its_creator_in_the_audit_log(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let dash = Dashboard::admin(&app).await;
    create_ok(&dash, "deploy", &["keys:write"]).await;
    let row = token_named(&dash, "deploy");

    // What the management API does with this token: the same service call, as the
    // token's actor.
    let actor = Actor::token(
        row.id.as_str(),
        &row.name,
        &row.created_by,
        Some("203.0.113.9".to_owned()),
        Some("terraform/1.9".to_owned()),
    );
    let generated = keys::generate(
        &mut app.db.get().unwrap(),
        &dash.merchant_id,
        &GenerateRequest {
            name: "Made by deploy".to_owned(),
            expires: "never".to_owned(),
            ..GenerateRequest::default()
        },
        &actor,
        &keyward::startup::key_pepper(&test_secret()),
        app.clock.now(),
    )
    .unwrap();
    let key_id = generated.row.id;

    let log = dash.browser.html("/settings/audit-log").await;
    assert!(
        log.contains(r#"<td>token deploy<br><span class="muted">created by Admin</span></td>"#),
        "{log}"
    );
    let option = format!(r#"<option value="token:{}">token deploy</option>"#, row.id);
    assert!(log.contains(&option), "tokens are in the actor filter: {log}");

    let by_token = dash
        .browser
        .html(&format!("/settings/audit-log?actor=token:{}", row.id))
        .await;
    assert!(by_token.contains("2 events"), "{by_token}");
    assert!(by_token.contains("Made by deploy"), "{by_token}");
    assert!(
        !by_token.contains("<td>Management token created</td>"),
        "the admin's event is not the token's"
    );
    let res = dash.browser.get("/settings/audit-log?actor=token:nobody").await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("Actor must be someone from the list.")
    );

    let event = keyward::db::key_events::for_key(&mut app.db.get().unwrap(), &dash.merchant_id, &key_id)
        .unwrap()
        .remove(0);
    let page = dash
        .browser
        .html(&format!("/settings/audit-log/{}", event.id))
        .await;
    assert!(
        page.contains("<dd>token deploy (token), created by Admin</dd>"),
        "{page}"
    );
    assert!(
        page.contains("Created by token deploy (created by Admin) on"),
        "{page}"
    );
    assert!(page.contains("203.0.113.9") && page.contains("terraform/1.9"));
    let key_page = dash
        .browser
        .html(&format!("/settings/api-credentials/{key_id}"))
        .await;
    assert!(
        key_page.contains("Created by token deploy (created by Admin) on"),
        "{key_page}"
    );

    let csv = dash
        .browser
        .html(&format!("/settings/audit-log?format=csv&actor=token:{}", row.id))
        .await;
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].ends_with(",details,actor_detail"), "{}", lines[0]);
    assert_eq!(lines.len(), 3, "{csv}");
    for line in &lines[1..] {
        assert!(line.contains(r#","token deploy","token","#), "{line}");
        assert!(line.ends_with(r#","created by Admin""#), "{line}");
    }
}

async fn an_expired_token_reads_expired_and_can_still_be_revoked(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let dash = Dashboard::admin(&app).await;
    let res = create(
        &dash,
        &[("name", "Short"), ("scopes", "keys:read"), ("expires", "7")],
    )
    .await;
    let token = ManagementToken::parse(&revealed_token(&res.text().await.unwrap())).unwrap();
    let row = token_named(&dash, "Short");
    dash.advance(Duration::days(8)).await;

    let list = dash.browser.html(PAGE).await;
    let expired = row_of(&list, "Short");
    assert!(expired.contains(">Expired</span>"), "{expired}");
    assert!(
        expired.contains(&format!(
            "Expired {}",
            keyward::web::format::datetime(row.expires_at.unwrap())
        )),
        "{expired}"
    );
    let (status, body) = get_key(&app, &uuid::Uuid::new_v4().to_string(), &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "token_expired");

    let revoke = format!("{PAGE}/{}/revoke", row.id);
    assert!(
        expired.contains(&revoke),
        "Revoke is offered for an expired token"
    );
    let res = dash.submit(&revoke, &revoke, &[("confirm", "REVOKE")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let list = dash.browser.html(PAGE).await;
    assert!(row_of(&list, "Short").contains(">Revoked</span>"));
}

async fn one_form_sent_ten_times_at_once_makes_one_token(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let dash = Dashboard::admin(&app).await;
    let (csrf, nonce) = dash.open_form(NEW).await;
    let attempts = (0..10).map(|n| {
        let (csrf, nonce, browser) = (&csrf, &nonce, &dash.browser);
        async move {
            // Each with its own name, so only the form's one-time value can stop a second.
            let name = format!("Double click {n}");
            let res = browser
                .post_form(
                    PAGE,
                    &[
                        ("csrf_token", csrf.as_str()),
                        ("nonce", nonce.as_str()),
                        ("name", &name),
                        ("scopes", "keys:read"),
                    ],
                )
                .await;
            let status = res.status();
            (status, res.text().await.unwrap())
        }
    });
    let answers = futures_util::future::join_all(attempts).await;
    let revealed: Vec<&String> = answers
        .iter()
        .filter(|(status, _)| *status == StatusCode::OK)
        .map(|(_, html)| html)
        .collect();
    assert_eq!(
        revealed.len(),
        1,
        "{:?}",
        answers.iter().map(|(status, _)| status).collect::<Vec<_>>()
    );
    revealed_token(revealed[0]);
    for (status, html) in &answers {
        if *status != StatusCode::OK {
            assert_eq!(*status, StatusCode::CONFLICT);
            assert!(html.contains("This form was already submitted"), "{html}");
        }
    }
    assert_eq!(tokens(&dash).len(), 1, "one form, one token");
    assert_eq!(events(&app, "token_created"), 1);

    // However the session's check is passed, the stored one-time value holds.
    let again = keyward::service::tokens::create(
        &mut app.db.get().unwrap(),
        &dash.merchant_id,
        &keyward::service::tokens::CreateToken {
            name: "Raced past the session".to_owned(),
            scopes: vec!["keys:read".to_owned()],
            expires_in_days: None,
            request_id: Some(nonce),
        },
        &Actor::cli(),
        &keyward::startup::key_pepper(&test_secret()),
        app.clock.now(),
    );
    assert!(
        matches!(again, Err(keyward::service::tokens::TokenError::AlreadySubmitted)),
        "{again:?}"
    );
    assert_eq!(tokens(&dash).len(), 1);
}
