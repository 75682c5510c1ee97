//! Settings → Members and the password change it leads new accounts to, driven over
//! HTTP as a person clicks them.

use diesel::RunQueryDsl;
use keyward::db::memberships::{self, Member};
use keyward::domain::{MerchantId, Role};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::db_test;
use crate::support::{
    Backend, Browser, TestApp, csrf_token_in, field_value, location, logs, one_time_password, spawn_app,
};

const MEMBERS: &str = "/settings/members";
const PASSWORD: &str = "/account/password";
const HOME: &str = "/settings/api-credentials";

db_test!(
    an_invited_new_developer_chooses_a_password_accepts_then_manages_keys_but_not_members,
    a_password_change_needs_the_current_password_and_signs_out_other_sessions,
    an_added_viewer_reads_but_every_change_is_403,
    only_admins_see_and_open_the_members_page,
    a_role_change_takes_effect_on_the_members_next_request,
    disabling_and_removing_a_member_end_their_access_on_the_next_request,
    the_last_active_admin_cannot_be_demoted_disabled_or_removed,
    two_admins_demoting_each_other_at_once_leave_one_admin,
    another_merchants_members_and_malformed_ids_are_not_found,
    each_member_change_records_one_event_with_the_member_and_role,
    bad_member_input_gets_a_clear_message_and_changes_nothing,
);

/// A member's row in the Members table.
fn row_of<'a>(page: &'a str, user_id: &str) -> &'a str {
    let start = page
        .find(&format!(r#"<tr id="member-{user_id}">"#))
        .unwrap_or_else(|| panic!("no row for {user_id} in {page}"));
    let end = page[start..].find("</tr>").unwrap() + start;
    &page[start..end]
}

async fn assert_message(res: Response, status: StatusCode, message: &str) -> String {
    assert_eq!(res.status(), status, "expected {status} for {message:?}");
    let html = res.text().await.unwrap();
    assert!(html.contains(message), "{message:?} not in {html}");
    html
}

/// The first admin, signed in, on the Members page.
struct Admin<'a> {
    app: &'a TestApp,
    browser: Browser,
    merchant_id: MerchantId,
}

impl<'a> Admin<'a> {
    async fn new(app: &'a TestApp) -> Self {
        Self {
            browser: app.signed_in_admin().await,
            merchant_id: app.demo_merchant_id(),
            app,
        }
    }

    async fn page(&self) -> String {
        let res = self.browser.get(MEMBERS).await;
        assert_eq!(res.status(), StatusCode::OK);
        res.text().await.unwrap()
    }

    /// The Add member form's fields, with a fresh CSRF token and one-time value.
    async fn add_fields(&self, email: &str, name: &str, role: &str) -> Vec<(String, String)> {
        let html = self.page().await;
        vec![
            ("csrf_token".into(), csrf_token_in(&html).unwrap()),
            ("nonce".into(), field_value(&html, "nonce").unwrap()),
            ("email".into(), email.into()),
            ("name".into(), name.into()),
            ("role".into(), role.into()),
        ]
    }

    async fn add(&self, email: &str, name: &str, role: &str) -> Response {
        let fields = self.add_fields(email, name, role).await;
        self.browser
            .send(self.browser.builder(reqwest::Method::POST, MEMBERS).form(&fields))
            .await
    }

    /// Invites an email with no account, then signs in as its new account, chooses
    /// `new_password` and accepts; returns the account's ID, its one-time password and
    /// its browser, working in this merchant.
    async fn add_new(
        &self,
        email: &str,
        name: &str,
        role: &str,
        new_password: &str,
    ) -> (String, String, Browser) {
        let res = self.add(email, name, role).await;
        assert_eq!(res.status(), StatusCode::OK, "inviting {email}");
        let one_time = one_time_password(&res.text().await.unwrap());
        let browser = first_sign_in(self.app, email, &one_time, new_password).await;
        let res = browser.answer_invitation("Demo Merchant", "accept").await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{email} accepts");
        assert_eq!(location(&res), HOME);
        (user_id(self.app, email), one_time, browser)
    }

    /// Posts a row action (`role`, `disable`, `enable`, `remove`) for a member.
    async fn act(&self, user_id: &str, action: &str, fields: &[(&str, &str)]) -> Response {
        let token = self.browser.csrf_token(HOME).await;
        let mut all = vec![("csrf_token", token.as_str())];
        all.extend_from_slice(fields);
        self.browser
            .post_form(&format!("{MEMBERS}/{user_id}/{action}"), &all)
            .await
    }

    fn member(&self, user_id: &str) -> Option<Member> {
        memberships::member(&mut self.app.db.get().unwrap(), &self.merchant_id, user_id).unwrap()
    }

    fn active_admins(&self) -> i64 {
        memberships::count_active_admins(&mut self.app.db.get().unwrap(), &self.merchant_id).unwrap()
    }
}

fn user_id(app: &TestApp, email: &str) -> String {
    let email = keyward::domain::Email::parse(email).unwrap();
    keyward::db::users::find_by_email(&mut app.db.get().unwrap(), &email)
        .unwrap()
        .unwrap_or_else(|| panic!("no account for {}", email.as_str()))
        .id
}

/// Signs in with a one-time password and chooses `new_password` on the page every
/// request leads to until then.
async fn first_sign_in(app: &TestApp, email: &str, one_time: &str, new_password: &str) -> Browser {
    let browser = app.browser();
    assert_eq!(
        browser.sign_in(email, one_time).await.status(),
        StatusCode::SEE_OTHER
    );
    let token = browser.csrf_token(PASSWORD).await;
    let res = browser
        .post_form(
            PASSWORD,
            &[
                ("csrf_token", token.as_str()),
                ("new_password", new_password),
                ("confirm_password", new_password),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), HOME);
    browser
}

/// A member made outside the dashboard, signed in.
async fn signed_in_member(app: &TestApp, email: &str, role: Role) -> (String, Browser) {
    let id = app.create_member(email, "member password", &app.demo_merchant_id(), role);
    let browser = app.browser();
    assert_eq!(
        browser.sign_in(email, "member password").await.status(),
        StatusCode::SEE_OTHER
    );
    (id, browser)
}

/// Another merchant and its admin's ID.
fn rival(app: &TestApp) -> (MerchantId, String) {
    let merchant_id = keyward::db::merchants::create(
        &mut app.db.get().unwrap(),
        &keyward::domain::MerchantName::parse("Rival").unwrap(),
        app.clock.now(),
    )
    .unwrap()
    .id;
    let user_id = app.create_member("rival@example.com", "rival password", &merchant_id, Role::Admin);
    (merchant_id, user_id)
}

/// Support staff `support@example.com`, password `support password`.
fn create_support(app: &TestApp) {
    use keyward::db::users;
    use keyward::domain::{Email, Password, PersonName};
    let email = Email::parse("support@example.com").unwrap();
    users::create(
        &mut app.db.get().unwrap(),
        users::NewUser {
            email: &email,
            name: &PersonName::parse("Sam Support").unwrap(),
            password_hash: &Password::parse_new("support password".into(), &email)
                .unwrap()
                .hash(),
            access: users::Access::Support,
            password_change_required: false,
        },
        app.clock.now(),
    )
    .unwrap();
}

/// One member event as stored.
#[derive(diesel::QueryableByName)]
struct EventRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    event_type: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    details: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    actor_name: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    actor_id: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    key_id: Option<String>,
}

fn member_events(app: &TestApp) -> Vec<EventRow> {
    diesel::sql_query(
        "SELECT event_type, details, actor_name, actor_id, key_id FROM key_events WHERE event_type LIKE 'member_%'",
    )
    .load(&mut **app.db.get().unwrap())
    .unwrap()
}

fn count_events(app: &TestApp, event_type: &str) -> usize {
    member_events(app)
        .iter()
        .filter(|event| event.event_type == event_type)
        .count()
}

async fn an_invited_new_developer_chooses_a_password_accepts_then_manages_keys_but_not_members(
    backend: Backend,
) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let admin = Admin::new(&app).await;
    let page = admin.page().await;
    let nav = &page[page.find(r#"class="settings-nav""#).unwrap()..];
    assert!(
        nav.contains(r#"<a href="/settings/members" aria-current="page">Members</a>"#),
        "{nav}"
    );
    let (credentials, members, policy) = (
        nav.find(">API Credentials<").unwrap(),
        nav.find(">Members<").unwrap(),
        nav.find(">Key Policy<").unwrap(),
    );
    assert!(
        credentials < members && members < policy,
        "Members sits between the two"
    );

    let fields = admin
        .add_fields(" Dana@Example.com ", "Dana Dev", "developer")
        .await;
    let post = || {
        admin
            .browser
            .builder(reqwest::Method::POST, MEMBERS)
            .form(&fields)
    };
    let res = admin.browser.send(post()).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let html = res.text().await.unwrap();
    let password = one_time_password(&html);
    assert_eq!(password.len(), 24);
    assert!(html.contains("dana@example.com"), "{html}");

    // A refresh sends the same form again: nothing is made and nothing shown.
    let again = assert_message(
        admin.browser.send(post()).await,
        StatusCode::CONFLICT,
        "This form was already submitted",
    )
    .await;
    assert!(!again.contains(&password));
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM users WHERE email = 'dana@example.com'"),
        1
    );
    let dana = user_id(&app, "dana@example.com");
    let page = admin.page().await;
    assert!(!page.contains(&password));
    assert!(
        !page.contains(&format!(r#"id="member-{dana}""#)),
        "not a member yet"
    );
    assert!(admin.member(&dana).is_none());
    let invitations = &page[page.find("<h2>Invitations</h2>").unwrap()..];
    for text in ["dana@example.com", "Developer", "Pending", ">Cancel invitation<"] {
        assert!(invitations.contains(text), "{text} not in {invitations}");
    }

    // Signed in with the one-time password, every page leads to the password change.
    let browser = app.browser();
    let res = browser.sign_in("dana@example.com", &password).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    for path in [HOME, MEMBERS, "/settings/api-credentials/new", "/settings", "/"] {
        let mut res = browser.get(path).await;
        if path == "/" {
            res = browser.get(location(&res)).await;
        }
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(location(&res), PASSWORD, "{path}");
    }
    let res = browser
        .send(
            browser
                .builder(reqwest::Method::GET, HOME)
                .header("HX-Request", "true"),
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(res.headers()["hx-redirect"], PASSWORD);
    // Static assets and signing out still work.
    assert_eq!(browser.get("/static/app.css").await.status(), StatusCode::OK);
    let elsewhere = app.browser();
    assert_eq!(
        elsewhere.sign_in("dana@example.com", &password).await.status(),
        StatusCode::SEE_OTHER
    );
    let token = elsewhere.csrf_token(PASSWORD).await;
    let res = elsewhere
        .post_form("/logout", &[("csrf_token", token.as_str())])
        .await;
    assert_eq!(location(&res), "/login");
    assert!(!elsewhere.is_signed_in().await);

    let form = browser.get(PASSWORD).await;
    assert_eq!(form.status(), StatusCode::OK);
    let form = form.text().await.unwrap();
    assert!(
        !form.contains("current_password"),
        "no current password is asked for"
    );
    let token = csrf_token_in(&form).unwrap();
    // A change is refused as well, before it happens.
    let res = browser
        .post_form(HOME, &[("csrf_token", token.as_str()), ("name", "Sneaky")])
        .await;
    assert_eq!(location(&res), PASSWORD);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM api_keys"), 0);

    let choose = |new: &str, confirm: &str| {
        let fields = [
            ("csrf_token", token.clone()),
            ("new_password", new.to_owned()),
            ("confirm_password", confirm.to_owned()),
        ];
        let request = browser.builder(reqwest::Method::POST, PASSWORD).form(&fields);
        browser.send(request)
    };
    assert_message(
        choose("dana's own password", "dana's own passwort").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "do not match",
    )
    .await;
    assert_message(
        choose("short", "short").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "at least 12 characters",
    )
    .await;
    assert_message(
        choose(&password, &password).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "Choose a password other than the one you have now",
    )
    .await;
    let res = choose("dana's own password", "dana's own password").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), HOME);
    // In no merchant yet, Dana has the invitation to answer and nothing else.
    let res = browser.get(HOME).await;
    assert_eq!(location(&res), "/invitations");
    let page = browser.html("/invitations").await;
    assert!(page.contains("Your password was changed"), "{page}");
    assert_eq!(browser.get(MEMBERS).await.status(), StatusCode::FORBIDDEN);
    let res = browser.answer_invitation("Demo Merchant", "accept").await;
    assert_eq!(location(&res), HOME);
    let page = browser.get(HOME).await;
    assert_eq!(page.status(), StatusCode::OK);
    let page = page.text().await.unwrap();
    assert!(page.contains("You joined Demo Merchant as Developer."), "{page}");
    assert!(
        !page.contains(r#"href="/settings/members""#),
        "developers see no Members link"
    );
    assert!(!admin.member(&dana).unwrap().password_change_required);
    let page = admin.page().await;
    let row = row_of(&page, &dana);
    for text in [
        "Dana Dev",
        "dana@example.com",
        r#"<option value="developer" selected>"#,
        "Active",
        ">Disable<",
        ">Remove<",
    ] {
        assert!(row.contains(text), "{text} not in {row}");
    }
    assert!(page.contains("No invitation is waiting for an answer."));

    // A developer generates keys but does not open Members.
    let html = browser.html("/settings/api-credentials/new").await;
    let res = browser
        .post_form(
            HOME,
            &[
                ("csrf_token", csrf_token_in(&html).unwrap().as_str()),
                ("nonce", field_value(&html, "nonce").unwrap().as_str()),
                ("name", "Dana's key"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("revealed-key"));
    assert_eq!(browser.get(MEMBERS).await.status(), StatusCode::FORBIDDEN);

    // The one-time password is spent; the chosen one signs in straight to the dashboard.
    let res = app.browser().sign_in("dana@example.com", &password).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let again = app.browser();
    assert_eq!(
        again
            .sign_in("dana@example.com", "dana's own password")
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
    assert!(again.is_signed_in().await);
}

async fn a_password_change_needs_the_current_password_and_signs_out_other_sessions(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let browser = app.signed_in_admin().await;
    let other = app.signed_in_admin().await;
    let home = browser.html(HOME).await;
    let menu = &home[home.find(r#"<details class="profile-menu">"#).unwrap()..];
    assert!(
        menu.contains(r#"<a href="/account/password">Change password</a>"#),
        "{menu}"
    );
    assert!(menu.contains(">Settings</a>") && menu.contains(">Sign out</button>"));

    let form = browser.html(PASSWORD).await;
    assert!(form.contains(r#"name="current_password""#));
    let token = csrf_token_in(&form).unwrap();
    let change = |current: &str| {
        let fields = [
            ("csrf_token", token.as_str()),
            ("current_password", current),
            ("new_password", "a brand new password"),
            ("confirm_password", "a brand new password"),
        ];
        browser.send(browser.builder(reqwest::Method::POST, PASSWORD).form(&fields))
    };
    for wrong in ["", "not the password"] {
        assert_message(
            change(wrong).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "Your current password is not correct.",
        )
        .await;
    }
    assert!(other.is_signed_in().await, "a refused change signs nobody out");
    let res = change(&app.admin_password).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), HOME);

    assert!(browser.is_signed_in().await);
    assert!(!other.is_signed_in().await, "the other session ended");
    let res = app.browser().sign_in(&app.admin_email, &app.admin_password).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = app
        .browser()
        .sign_in(&app.admin_email, "a brand new password")
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
}

async fn an_added_viewer_reads_but_every_change_is_403(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let admin = Admin::new(&app).await;
    let admin_id = user_id(&app, &app.admin_email);
    let (vic, _, viewer) = admin
        .add_new(
            "vic@example.com",
            "Vic <b>Viewer</b>",
            "viewer",
            "vic's own password",
        )
        .await;
    let row = row_of(&admin.page().await, &vic).to_owned();
    assert!(
        row.contains("Vic &#60;b&#62;Viewer&#60;/b&#62;") && !row.contains("<b>"),
        "{row}"
    );
    let res = viewer.get(HOME).await;
    assert_eq!(res.status(), StatusCode::OK);
    let page = res.text().await.unwrap();
    assert!(page.contains("No Active API Key Generated"));
    assert!(!page.contains("Generate New API Key"));

    for path in [
        MEMBERS.to_owned(),
        format!("{MEMBERS}/{admin_id}/remove"),
        "/settings/api-credentials/new".to_owned(),
    ] {
        assert_eq!(
            viewer.get(&path).await.status(),
            StatusCode::FORBIDDEN,
            "GET {path}"
        );
    }
    let token = viewer.csrf_token(HOME).await;
    for (path, fields) in [
        (
            MEMBERS.to_owned(),
            vec![("email", "x@example.com"), ("name", "X"), ("role", "admin")],
        ),
        (format!("{MEMBERS}/{admin_id}/role"), vec![("role", "viewer")]),
        (format!("{MEMBERS}/{admin_id}/disable"), vec![]),
        (format!("{MEMBERS}/{admin_id}/enable"), vec![]),
        (format!("{MEMBERS}/{admin_id}/remove"), vec![]),
        (HOME.to_owned(), vec![("name", "Viewer key")]),
    ] {
        let mut all = vec![("csrf_token", token.as_str())];
        all.extend(fields);
        assert_eq!(
            viewer.post_form(&path, &all).await.status(),
            StatusCode::FORBIDDEN,
            "POST {path}"
        );
    }
    let me = admin.member(&admin_id).unwrap();
    assert_eq!(me.role, Role::Admin);
    assert!(me.disabled_at.is_none());
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM memberships"), 2);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM api_keys"), 0);
    assert!(member_events(&app).is_empty());
}

async fn only_admins_see_and_open_the_members_page(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let admin = Admin::new(&app).await;
    let home = admin.browser.html(HOME).await;
    assert!(
        home.contains(r#"<a href="/settings/members">Members</a>"#),
        "{home}"
    );

    let (_, developer) = signed_in_member(&app, "dev@example.com", Role::Developer).await;
    let home = developer.html(HOME).await;
    assert!(!home.contains(r#"href="/settings/members""#));
    assert_eq!(developer.get(MEMBERS).await.status(), StatusCode::FORBIDDEN);

    create_support(&app);
    let support = app.browser();
    assert_eq!(
        support
            .sign_in("support@example.com", "support password")
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(support.get(MEMBERS).await.status(), StatusCode::FORBIDDEN);
}

async fn a_role_change_takes_effect_on_the_members_next_request(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let admin = Admin::new(&app).await;
    let (mia, browser) = signed_in_member(&app, "mia@example.com", Role::Viewer).await;
    assert_eq!(
        browser.get("/settings/api-credentials/new").await.status(),
        StatusCode::FORBIDDEN
    );

    let res = admin.act(&mia, "role", &[("role", "developer")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), MEMBERS);
    assert!(admin.page().await.contains("role is now Developer."));
    assert_eq!(
        browser.get("/settings/api-credentials/new").await.status(),
        StatusCode::OK,
        "the same session, the new role"
    );
    assert_eq!(browser.get(MEMBERS).await.status(), StatusCode::FORBIDDEN);

    admin.act(&mia, "role", &[("role", "admin")]).await;
    assert_eq!(browser.get(MEMBERS).await.status(), StatusCode::OK);

    admin.act(&mia, "role", &[("role", "viewer")]).await;
    assert_eq!(browser.get(MEMBERS).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        browser.get("/settings/api-credentials/new").await.status(),
        StatusCode::FORBIDDEN
    );

    // The role it has already: nothing changes, nothing is recorded.
    let res = admin.act(&mia, "role", &[("role", "viewer")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(count_events(&app, "member_role_changed"), 3);
    assert_eq!(admin.member(&mia).unwrap().role, Role::Viewer);
}

async fn disabling_and_removing_a_member_end_their_access_on_the_next_request(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let admin = Admin::new(&app).await;
    let (dev, browser) = signed_in_member(&app, "dev@example.com", Role::Developer).await;
    assert!(browser.is_signed_in().await);

    let res = admin.act(&dev, "disable", &[]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let page = admin.page().await;
    let row = row_of(&page, &dev);
    assert!(row.contains("Disabled") && row.contains(">Enable<"), "{row}");
    assert!(admin.member(&dev).unwrap().disabled_at.is_some());
    assert!(!browser.is_signed_in().await, "disabled on the very next request");
    let res = browser.sign_in("dev@example.com", "member password").await;
    assert_message(res, StatusCode::FORBIDDEN, "not a member of any merchant").await;

    let res = admin.act(&dev, "enable", &[]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(admin.member(&dev).unwrap().disabled_at.is_none());
    assert_eq!(
        browser
            .sign_in("dev@example.com", "member password")
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
    assert!(browser.is_signed_in().await);

    // Remove asks first: a page without JavaScript, a modal with htmx.
    let path = format!("{MEMBERS}/{dev}/remove");
    let page = admin.browser.get(&path).await;
    assert_eq!(page.status(), StatusCode::OK);
    let page = page.text().await.unwrap();
    assert!(page.contains("<html") && page.contains("Remove member") && page.contains("dev@example.com"));
    assert!(page.contains(&format!(r#"action="{path}""#)));
    let modal = admin
        .browser
        .send(
            admin
                .browser
                .builder(reqwest::Method::GET, &path)
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
    assert!(
        admin.member(&dev).is_some(),
        "opening the confirmation removes nobody"
    );

    let token = admin.browser.csrf_token(HOME).await;
    let res = admin
        .browser
        .send(
            admin
                .browser
                .builder(reqwest::Method::POST, &path)
                .header("HX-Request", "true")
                .form(&[("csrf_token", token.as_str())]),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["hx-redirect"], MEMBERS);
    assert!(admin.member(&dev).is_none());
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM users WHERE email = 'dev@example.com'"),
        1,
        "the account is kept"
    );
    assert!(!browser.is_signed_in().await, "removed on the very next request");
    let page = admin.page().await;
    assert!(page.contains("was removed from this merchant.") && !page.contains("dev@example.com"));
    assert_eq!(
        admin.act(&dev, "remove", &[]).await.status(),
        StatusCode::NOT_FOUND
    );
}

async fn the_last_active_admin_cannot_be_demoted_disabled_or_removed(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let admin = Admin::new(&app).await;
    let me = user_id(&app, &app.admin_email);
    let refuse_all = || async {
        for (action, fields) in [
            ("role", vec![("role", "developer")]),
            ("disable", vec![]),
            ("remove", vec![]),
        ] {
            let html = assert_message(
                admin.act(&me, action, &fields).await,
                StatusCode::CONFLICT,
                "is this merchant&#39;s last active admin",
            )
            .await;
            assert!(html.contains("Make another member an admin first."));
            let member = admin.member(&me).expect("still a member");
            assert_eq!(member.role, Role::Admin, "after {action}");
            assert!(member.disabled_at.is_none(), "after {action}");
        }
    };
    refuse_all().await;
    assert!(member_events(&app).is_empty());

    // An admin disabled here, or whose account is disabled, does not count.
    let second = app.create_member(
        "second@example.com",
        "second password",
        &admin.merchant_id,
        Role::Admin,
    );
    assert_eq!(admin.active_admins(), 2);
    assert_eq!(
        admin.act(&second, "disable", &[]).await.status(),
        StatusCode::SEE_OTHER
    );
    refuse_all().await;
    assert_eq!(
        admin.act(&second, "enable", &[]).await.status(),
        StatusCode::SEE_OTHER
    );
    keyward::db::users::disable(
        &mut app.db.get().unwrap(),
        &keyward::domain::Email::parse("second@example.com").unwrap(),
        app.clock.now(),
    )
    .unwrap();
    assert_eq!(admin.active_admins(), 1);
    refuse_all().await;
    assert!(row_of(&admin.page().await, &second).contains("Account disabled"));

    // With another admin who can act, the first may step down.
    app.create_member(
        "third@example.com",
        "third password",
        &admin.merchant_id,
        Role::Admin,
    );
    let res = admin.act(&me, "role", &[("role", "developer")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(admin.member(&me).unwrap().role, Role::Developer);
    assert_eq!(admin.active_admins(), 1);
}

async fn two_admins_demoting_each_other_at_once_leave_one_admin(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let first = Admin::new(&app).await;
    let first_id = user_id(&app, &app.admin_email);
    let (second_id, second) = signed_in_member(&app, "second@example.com", Role::Admin).await;
    let second = Admin {
        app: &app,
        browser: second,
        merchant_id: first.merchant_id.clone(),
    };
    // Each round starts with two admins; the race is not won the same way every time.
    const ROUNDS: usize = 10;
    for round in 0..ROUNDS {
        for id in [&first_id, &second_id] {
            memberships::set_role(&mut app.db.get().unwrap(), id, &first.merchant_id, Role::Admin).unwrap();
        }
        let (a, b) = futures_util::future::join(
            first.act(&second_id, "role", &[("role", "viewer")]),
            second.act(&first_id, "role", &[("role", "viewer")]),
        )
        .await;
        let mut statuses = [a.status(), b.status()];
        statuses.sort();
        // The loser is refused inside the transaction (409), or, when the winner
        // committed before its request began, as the non-admin it has become (403).
        assert_eq!(statuses[0], StatusCode::SEE_OTHER, "round {round}: {statuses:?}");
        assert!(
            matches!(statuses[1], StatusCode::CONFLICT | StatusCode::FORBIDDEN),
            "round {round}: {statuses:?}"
        );
        assert_eq!(first.active_admins(), 1, "round {round}");
    }
    assert_eq!(count_events(&app, "member_role_changed"), ROUNDS);
}

async fn another_merchants_members_and_malformed_ids_are_not_found(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (rival_merchant, rival_id) = rival(&app);
    let admin = Admin::new(&app).await;
    for id in [
        rival_id.as_str(),
        "not-a-uuid",
        "00000000-0000-0000-0000-000000000000",
    ] {
        let res = admin.browser.get(&format!("{MEMBERS}/{id}/remove")).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "GET remove {id}");
        assert!(!res.text().await.unwrap().contains("rival@example.com"));
        for (action, fields) in [
            ("role", vec![("role", "viewer")]),
            ("role", vec![("role", "nonsense")]),
            ("disable", vec![]),
            ("enable", vec![]),
            ("remove", vec![]),
        ] {
            let res = admin.act(id, action, &fields).await;
            assert_eq!(res.status(), StatusCode::NOT_FOUND, "POST {action} {id}");
        }
    }
    let theirs = memberships::member(&mut app.db.get().unwrap(), &rival_merchant, &rival_id)
        .unwrap()
        .unwrap();
    assert_eq!(theirs.role, Role::Admin);
    assert!(theirs.disabled_at.is_none());
    assert!(member_events(&app).is_empty());
}

async fn each_member_change_records_one_event_with_the_member_and_role(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let admin = Admin::new(&app).await;
    let admin_id = user_id(&app, &app.admin_email);
    let (dana, password, _) = admin
        .add_new("dana@example.com", "Dana Dev", "developer", "dana's own password")
        .await;
    for (action, fields) in [
        ("role", vec![("role", "viewer")]),
        ("disable", vec![]),
        ("enable", vec![]),
        ("remove", vec![]),
    ] {
        assert_eq!(
            admin.act(&dana, action, &fields).await.status(),
            StatusCode::SEE_OTHER,
            "{action}"
        );
    }

    let member = json!({ "id": dana, "email": "dana@example.com", "name": "Dana Dev" });
    let expected = [
        (
            "member_role_changed",
            json!({ "member": member, "before": { "role": "developer" }, "after": { "role": "viewer" } }),
        ),
        ("member_disabled", json!({ "member": member, "role": "viewer" })),
        ("member_enabled", json!({ "member": member, "role": "viewer" })),
        ("member_removed", json!({ "member": member, "role": "viewer" })),
    ];
    let events = member_events(&app);
    assert_eq!(events.len(), expected.len());
    for (event_type, details) in expected {
        let matching: Vec<&EventRow> = events.iter().filter(|e| e.event_type == event_type).collect();
        assert_eq!(matching.len(), 1, "{event_type} recorded once");
        let event = matching[0];
        assert_eq!(
            serde_json::from_str::<Value>(&event.details).unwrap(),
            details,
            "{event_type}"
        );
        assert_eq!(event.actor_name, "Admin");
        assert_eq!(event.actor_id.as_deref(), Some(admin_id.as_str()));
        assert_eq!(event.key_id, None);
    }

    // The one-time password is in no table (only its hash) and no log line.
    assert!(!app.dump_text().contains(&password));
    assert!(!logs().contains(&password));
    for event in &events {
        assert!(!event.details.contains("argon2") && !event.details.contains("password"));
    }
}

async fn bad_member_input_gets_a_clear_message_and_changes_nothing(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let admin = Admin::new(&app).await;
    let admin_email = app.admin_email.as_str();
    let long_name = "n".repeat(101);
    let users_before = app.count("SELECT COUNT(*) AS n FROM users");
    for (email, name, role, status, message) in [
        (
            "not-an-email",
            "Nora",
            "viewer",
            422,
            "Email is not valid: it must contain an @.",
        ),
        ("", "Nora", "viewer", 422, "Email must not be empty."),
        (
            "nora@example.com",
            "Nora",
            "owner",
            422,
            "Role is not valid: choose Admin, Developer or Viewer.",
        ),
        ("nora@example.com", "", "viewer", 422, "Name must not be empty."),
        (
            "nora@example.com",
            "No\u{202E}ra",
            "viewer",
            422,
            "Name must not contain control characters.",
        ),
        (
            "nora@example.com",
            long_name.as_str(),
            "viewer",
            422,
            "Name must be at most 100 characters.",
        ),
        (
            admin_email,
            "Someone",
            "developer",
            409,
            "admin@example.com is already a member of this merchant.",
        ),
    ] {
        let status = StatusCode::from_u16(status).unwrap();
        let html = assert_message(admin.add(email, name, role).await, status, message).await;
        // The form comes back as typed, ready to correct and send again.
        assert_eq!(field_value(&html, "email").as_deref(), Some(email), "{html}");
        assert!(field_value(&html, "nonce").is_some());
        assert!(!html.contains("one-time-password"));
    }
    let me = user_id(&app, admin_email);
    assert_message(
        admin.act(&me, "role", &[("role", "superuser")]).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "Role is not valid",
    )
    .await;
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM users"), users_before);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM memberships"), 1);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM invitations"), 0);
    assert_eq!(admin.member(&me).unwrap().role, Role::Admin);
    assert!(member_events(&app).is_empty());
}
