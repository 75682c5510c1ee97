//! Invitations: adding a member by email answers the same whatever is behind the email,
//! and the account with that email joins only by accepting, after signing in.

use diesel::RunQueryDsl;
use keyward::db::memberships;
use keyward::domain::{InvitationId, MerchantId, Role};
use reqwest::{Response, StatusCode};
use serde_json::Value;
use time::Duration;

use crate::db_test;
use crate::support::{
    Backend, Browser, TestApp, csrf_token_in, field_value, location, one_time_password, spawn_app,
};

const MEMBERS: &str = "/settings/members";
const INVITATIONS: &str = "/invitations";
const HOME: &str = "/settings/api-credentials";

db_test!(
    adding_an_email_answers_the_same_whether_it_has_an_account_has_none_or_is_support_staff,
    an_invited_account_is_not_a_member_until_it_accepts,
    a_declined_invitation_leaves_the_account_out_and_names_it_by_email_alone,
    an_invitation_older_than_seven_days_cannot_be_accepted_and_its_expiry_is_recorded_once,
    an_account_in_no_merchant_signs_in_to_accept_its_invitation,
    an_admin_cancels_an_invitation_which_can_then_no_longer_be_answered,
    only_the_invited_account_can_answer_and_support_staff_are_never_invited,
    every_invitation_step_is_in_the_audit_log,
);

/// The demo merchant's first admin, signed in.
struct Inviter<'a> {
    app: &'a TestApp,
    browser: Browser,
    merchant_id: MerchantId,
}

impl<'a> Inviter<'a> {
    async fn new(app: &'a TestApp) -> Self {
        Self {
            browser: app.signed_in_admin().await,
            merchant_id: app.demo_merchant_id(),
            app,
        }
    }

    /// Submits Add member for `email` as a developer.
    async fn add(&self, email: &str) -> Response {
        let page = self.browser.html(MEMBERS).await;
        let fields = [
            ("csrf_token", csrf_token_in(&page).unwrap()),
            ("nonce", field_value(&page, "nonce").unwrap()),
            ("email", email.to_owned()),
            ("name", "Given Name".to_owned()),
            ("role", "developer".to_owned()),
        ];
        self.browser
            .send(self.browser.builder(reqwest::Method::POST, MEMBERS).form(&fields))
            .await
    }

    /// Invites `email`; returns the one-time password shown.
    async fn invite(&self, email: &str) -> String {
        let res = self.add(email).await;
        assert_eq!(res.status(), StatusCode::OK, "inviting {email}");
        one_time_password(&res.text().await.unwrap())
    }

    fn is_member(&self, user_id: &str) -> bool {
        memberships::member(&mut self.app.db.get().unwrap(), &self.merchant_id, user_id)
            .unwrap()
            .is_some()
    }

    /// The ID of this merchant's invitation to `email`.
    fn invitation_to(&self, email: &str) -> String {
        invitation_id(self.app, email)
    }
}

fn invitation_id(app: &TestApp, email: &str) -> String {
    #[derive(diesel::QueryableByName)]
    struct Id {
        #[diesel(sql_type = diesel::sql_types::Text)]
        id: String,
    }
    diesel::sql_query(format!("SELECT id FROM invitations WHERE email = '{email}'"))
        .get_result::<Id>(&mut **app.db.get().unwrap())
        .unwrap()
        .id
}

/// An account that belongs to the merchant "Rival" and not to the demo merchant:
/// `rival@example.com`, named "Private Person", password `rival password`.
fn rival(app: &TestApp) -> String {
    let merchant = app.create_merchant("Rival");
    let id = app.create_member("rival@example.com", "rival password", &merchant, Role::Admin);
    app.execute(&format!(
        "UPDATE users SET name = 'Private Person' WHERE id = '{id}'"
    ));
    id
}

async fn signed_in(app: &TestApp, email: &str, password: &str) -> Browser {
    let browser = app.browser();
    let res = browser.sign_in(email, password).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "{email} signs in");
    browser
}

/// One invitation event as stored.
#[derive(diesel::QueryableByName, Debug)]
struct EventRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    event_type: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    details: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    actor_type: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    actor_name: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    client_address: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    user_agent: Option<String>,
}

fn invitation_events(app: &TestApp) -> Vec<EventRow> {
    diesel::sql_query(
        "SELECT event_type, details, actor_type, actor_name, client_address, user_agent FROM key_events \
         WHERE event_type LIKE 'invitation_%' ORDER BY id",
    )
    .load(&mut **app.db.get().unwrap())
    .unwrap()
}

/// `text` with each of `values` replaced by its placeholder, to compare two answers'
/// shapes.
fn shape(text: &str, values: &[(String, &str)]) -> String {
    values.iter().fold(text.to_owned(), |text, (value, placeholder)| {
        text.replace(value, placeholder)
    })
}

/// The times of the invitation to `email` as pages show them, with placeholders: two
/// invitations sent a moment apart differ by these alone.
fn times(app: &TestApp, email: &str) -> Vec<(String, &'static str)> {
    #[derive(diesel::QueryableByName)]
    struct Times {
        #[diesel(sql_type = diesel::sql_types::Timestamp)]
        created_at: time::PrimitiveDateTime,
        #[diesel(sql_type = diesel::sql_types::Timestamp)]
        expires_at: time::PrimitiveDateTime,
    }
    let times = diesel::sql_query(format!(
        "SELECT created_at, expires_at FROM invitations WHERE email = '{email}'"
    ))
    .get_result::<Times>(&mut **app.db.get().unwrap())
    .unwrap();
    use keyward::web::format::{datetime, iso};
    vec![
        (iso(times.expires_at), "EXPIRES_ISO"),
        (datetime(times.expires_at), "EXPIRES"),
        (datetime(times.created_at), "SENT"),
    ]
}

async fn adding_an_email_answers_the_same_whether_it_has_an_account_has_none_or_is_support_staff(
    backend: Backend,
) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let rival = rival(&app);
    let support = app.create_support("staff@example.com", "support password");
    let admin = Inviter::new(&app).await;
    let emails = ["rival@example.com", "fresh@example.com", "staff@example.com"];
    let mut answers = Vec::new();
    for email in emails {
        let res = admin.add(email).await;
        let status = res.status();
        let cache = res.headers()["cache-control"].to_str().unwrap().to_owned();
        let body = res.text().await.unwrap();
        let password = one_time_password(&body);
        let mut values = times(&app, email);
        values.extend([(password, "PASSWORD"), (email.to_owned(), "EMAIL")]);
        answers.push((status, cache, shape(&body, &values)));
    }
    for (email, answer) in emails.iter().zip(&answers).skip(1) {
        assert_eq!(answer, &answers[0], "{email} is answered like {}", emails[0]);
    }
    assert_eq!(answers[0].0, StatusCode::OK);
    assert_eq!(answers[0].1, "no-store");

    // The Members page shows three invitations alike, by email alone.
    let page = admin.browser.html(MEMBERS).await;
    let rows: Vec<String> = emails
        .iter()
        .map(|email| {
            let id = admin.invitation_to(email);
            let start = page
                .find(&format!(r#"<tr id="invitation-{id}">"#))
                .unwrap_or_else(|| panic!("no row for {email} in {page}"));
            let row = &page[start..start + page[start..].find("</tr>").unwrap()];
            let mut values = times(&app, email);
            values.extend([(id, "ID"), (email.to_string(), "EMAIL")]);
            shape(row, &values)
        })
        .collect();
    assert!(rows[0].contains("Pending"), "{}", rows[0]);
    assert!(rows.iter().all(|row| row == &rows[0]), "{rows:?}");
    for private in ["Private Person", "Sam Support", "Given Name"] {
        assert!(!page.contains(private), "{private} shown on the Members page");
    }
    assert!(!admin.is_member(&rival) && !admin.is_member(&support));
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM memberships WHERE user_id IN (SELECT id FROM users WHERE email LIKE 'fresh%')"),
        0
    );

    // So does history: one event each, alike but for the email and the invitation.
    let events = invitation_events(&app);
    assert_eq!(events.len(), 3);
    let shapes: Vec<String> = events
        .iter()
        .zip(emails)
        .map(|(event, email)| {
            let details: Value = serde_json::from_str(&event.details).unwrap();
            let id = details["invitation"]["id"].as_str().unwrap().to_owned();
            shape(&event.details, &[(id, "ID"), (email.to_owned(), "EMAIL")])
        })
        .collect();
    assert!(shapes.iter().all(|shape| shape == &shapes[0]), "{shapes:?}");
    let log = admin.browser.html("/settings/audit-log").await;
    for private in ["Private Person", "Sam Support", "Given Name"] {
        assert!(!log.contains(private), "{private} shown in the audit log");
    }
}

async fn an_invited_account_is_not_a_member_until_it_accepts(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let rival = rival(&app);
    let admin = Inviter::new(&app).await;
    admin.invite("RIVAL@example.com").await;
    assert!(!admin.is_member(&rival));

    // Signed in, the account works in its own merchant, told an invitation waits.
    let browser = signed_in(&app, "rival@example.com", "rival password").await;
    let home = browser.html(HOME).await;
    assert!(
        home.contains("Rival") && !home.contains("Demo Merchant"),
        "{home}"
    );
    assert!(
        home.contains("An invitation to join a merchant is waiting for your answer.")
            && home.contains(r#"<a href="/invitations">Review invitations</a>"#),
        "{home}"
    );
    let page = browser.html(INVITATIONS).await;
    assert!(
        page.contains("Demo Merchant")
            && page.contains("Admin invited you to join as <strong>Developer</strong>"),
        "{page}"
    );
    assert!(
        !page.contains("Review invitations"),
        "no banner on the page itself"
    );

    let res = browser.answer_invitation("Demo Merchant", "accept").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), HOME);
    let home = browser.html(HOME).await;
    assert!(home.contains("You joined Demo Merchant as Developer."), "{home}");
    assert!(
        home.contains(&format!(r#"<option value="{}" selected>"#, admin.merchant_id)),
        "working in the merchant just joined: {home}"
    );
    assert!(!home.contains("Review invitations"));
    let member = memberships::member(&mut app.db.get().unwrap(), &admin.merchant_id, &rival)
        .unwrap()
        .expect("a member now");
    assert_eq!(member.role, Role::Developer);
    assert_eq!(member.name, "Private Person", "the account keeps its own name");
    let page = admin.browser.html(MEMBERS).await;
    assert!(page.contains("Private Person") && page.contains("No invitation is waiting"));
    let memberships = format!("SELECT COUNT(*) AS n FROM memberships WHERE user_id = '{rival}'");
    assert_eq!(app.count(&memberships), 2, "and keeps its own merchant");
}

async fn a_declined_invitation_leaves_the_account_out_and_names_it_by_email_alone(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let rival = rival(&app);
    let admin = Inviter::new(&app).await;
    admin.invite("rival@example.com").await;
    let browser = signed_in(&app, "rival@example.com", "rival password").await;
    let res = browser.answer_invitation("Demo Merchant", "decline").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), INVITATIONS);
    let page = browser.html(INVITATIONS).await;
    assert!(
        page.contains("You declined the invitation to Demo Merchant.") && page.contains("No invitations"),
        "{page}"
    );

    assert!(!admin.is_member(&rival));
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM invitations"), 0);
    let declined = invitation_events(&app)
        .into_iter()
        .find(|event| event.event_type == "invitation_declined")
        .expect("the decline is recorded");
    assert_eq!(declined.actor_type, "user");
    assert_eq!(declined.actor_name, "rival@example.com");
    assert_eq!((declined.client_address, declined.user_agent), (None, None));
    let log = admin.browser.html("/settings/audit-log").await;
    assert!(
        log.contains("Invitation declined") && !log.contains("Private Person"),
        "{log}"
    );
    let page = admin.browser.html(MEMBERS).await;
    assert!(!page.contains("rival@example.com"), "{page}");
}

async fn an_invitation_older_than_seven_days_cannot_be_accepted_and_its_expiry_is_recorded_once(
    backend: Backend,
) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let rival = rival(&app);
    let admin = Inviter::new(&app).await;
    admin.invite("rival@example.com").await;
    let id = admin.invitation_to("rival@example.com");
    app.clock.advance(Duration::days(7) + Duration::seconds(1));

    let browser = signed_in(&app, "rival@example.com", "rival password").await;
    let home = browser.html(HOME).await;
    assert!(
        !home.contains("Review invitations"),
        "an expired invitation waits for nothing"
    );
    let page = browser.html(INVITATIONS).await;
    assert!(
        page.contains("EXPIRED") && page.contains("can no longer be accepted"),
        "{page}"
    );
    assert!(
        !page.contains(&format!("/invitations/{id}/accept")),
        "no Accept button"
    );
    let token = csrf_token_in(&page).unwrap();
    let res = browser
        .post_form(&format!("/invitations/{id}/accept"), &[("csrf_token", &token)])
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let body = res.text().await.unwrap();
    assert!(
        body.contains("This invitation to Demo Merchant has expired."),
        "{body}"
    );
    assert!(!admin.is_member(&rival));

    let admin = Inviter::new(&app).await;
    let page = admin.browser.html(MEMBERS).await;
    assert!(page.contains("Expired") && !page.contains("Pending"), "{page}");
    let now = app.clock.now();
    let recorded =
        |now| keyward::service::invitations::record_expiries(&mut app.db.get().unwrap(), now).unwrap();
    assert_eq!(recorded(now), 1);
    assert_eq!(recorded(now), 0, "each expiry is recorded once");
    let expired: Vec<EventRow> = invitation_events(&app)
        .into_iter()
        .filter(|event| event.event_type == "invitation_expired")
        .collect();
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].actor_type, "system");

    // A new invitation replaces the expired one and can be accepted.
    admin.invite("rival@example.com").await;
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM invitations"), 1);
    let res = browser.answer_invitation("Demo Merchant", "accept").await;
    assert_eq!(location(&res), HOME);
    assert!(admin.is_member(&rival));
}

async fn an_account_in_no_merchant_signs_in_to_accept_its_invitation(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let admin = Inviter::new(&app).await;
    let one_time = admin.invite("fresh@example.com").await;
    let browser = signed_in(&app, "fresh@example.com", &one_time).await;
    assert_eq!(location(&browser.get(HOME).await), "/account/password");
    let page = browser.html("/account/password").await;
    let chosen = "fresh's own password";
    let res = browser
        .post_form(
            "/account/password",
            &[
                ("csrf_token", &csrf_token_in(&page).unwrap()),
                ("new_password", chosen),
                ("confirm_password", chosen),
            ],
        )
        .await;
    assert_eq!(location(&res), HOME);

    // Every merchant page leads to the invitations, the only thing to do.
    assert_eq!(location(&browser.get(HOME).await), INVITATIONS);
    assert_eq!(location(&browser.get("/").await), HOME);
    for path in [MEMBERS, "/settings/key-policy", "/settings/api-credentials/new"] {
        assert_eq!(browser.get(path).await.status(), StatusCode::FORBIDDEN, "{path}");
    }
    let page = browser.html(INVITATIONS).await;
    assert!(
        page.contains(r#"<a href="/invitations" aria-current="page">Invitations"#),
        "{page}"
    );
    let res = browser.answer_invitation("Demo Merchant", "accept").await;
    assert_eq!(location(&res), HOME);
    let home = browser.get(HOME).await;
    assert_eq!(home.status(), StatusCode::OK);
    assert!(home.text().await.unwrap().contains("Generate New API Key"));

    // Signed in again later, with its own password, straight into the merchant.
    let again = signed_in(&app, "fresh@example.com", chosen).await;
    assert!(again.is_signed_in().await);

    // An account in no merchant whose invitation went away signs in no more.
    let one_time = admin.invite("gone@example.com").await;
    let id = admin.invitation_to("gone@example.com");
    let token = admin.browser.csrf_token(MEMBERS).await;
    admin
        .browser
        .post_form(
            &format!("{MEMBERS}/invitations/{id}/cancel"),
            &[("csrf_token", &token)],
        )
        .await;
    let res = app.browser().sign_in("gone@example.com", &one_time).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(res.text().await.unwrap().contains("not a member of any merchant"));
}

async fn an_admin_cancels_an_invitation_which_can_then_no_longer_be_answered(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let rival = rival(&app);
    let admin = Inviter::new(&app).await;
    admin.invite("rival@example.com").await;
    let id = admin.invitation_to("rival@example.com");
    let cancel = format!("{MEMBERS}/invitations/{id}/cancel");

    // Only an admin of this merchant cancels it.
    app.create_member(
        "dev@example.com",
        "dev password 1",
        &admin.merchant_id,
        Role::Developer,
    );
    let developer = signed_in(&app, "dev@example.com", "dev password 1").await;
    let token = developer.csrf_token(HOME).await;
    let res = developer.post_form(&cancel, &[("csrf_token", &token)]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let rival_admin = signed_in(&app, "rival@example.com", "rival password").await;
    let token = rival_admin.csrf_token(HOME).await;
    let res = rival_admin.post_form(&cancel, &[("csrf_token", &token)]).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND, "another merchant's admin");
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM invitations"), 1);

    let token = admin.browser.csrf_token(MEMBERS).await;
    let res = admin.browser.post_form(&cancel, &[("csrf_token", &token)]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), MEMBERS);
    let page = admin.browser.html(MEMBERS).await;
    assert!(
        page.contains("The invitation to rival@example.com was cancelled.")
            && page.contains("No invitation is waiting"),
        "{page}"
    );
    for answer in ["accept", "decline"] {
        let token = rival_admin.csrf_token(INVITATIONS).await;
        let res = rival_admin
            .post_form(&format!("/invitations/{id}/{answer}"), &[("csrf_token", &token)])
            .await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{answer}");
    }
    assert!(!admin.is_member(&rival));
    let res = admin.browser.post_form(&cancel, &[("csrf_token", &token)]).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND, "cancelled once");
}

async fn only_the_invited_account_can_answer_and_support_staff_are_never_invited(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    rival(&app);
    let admin = Inviter::new(&app).await;
    admin.invite("rival@example.com").await;
    let id = admin.invitation_to("rival@example.com");
    app.create_member(
        "dev@example.com",
        "dev password 1",
        &admin.merchant_id,
        Role::Developer,
    );
    let developer = signed_in(&app, "dev@example.com", "dev password 1").await;
    let token = developer.csrf_token(INVITATIONS).await;
    for answer in ["accept", "decline"] {
        let res = developer
            .post_form(&format!("/invitations/{id}/{answer}"), &[("csrf_token", &token)])
            .await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{answer}");
    }
    for bad in ["not-a-uuid", "00000000-0000-0000-0000-000000000000"] {
        let res = developer
            .post_form(&format!("/invitations/{bad}/accept"), &[("csrf_token", &token)])
            .await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{bad}");
    }
    assert!(!developer.html(INVITATIONS).await.contains("Demo Merchant</h2>"));
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM invitations"), 1);

    // Support staff: invited like anyone as far as the admin can tell, yet they see
    // nothing and can accept nothing.
    let support = app.create_support("staff@example.com", "support password");
    admin.invite("staff@example.com").await;
    let staff_invitation = admin.invitation_to("staff@example.com");
    let browser = signed_in(&app, "staff@example.com", "support password").await;
    let console = browser.html("/support").await;
    assert!(!console.contains("Review invitations") && !console.contains(r#"href="/invitations""#));
    assert_eq!(browser.get(INVITATIONS).await.status(), StatusCode::FORBIDDEN);
    let token = browser.csrf_token("/support").await;
    let res = browser
        .post_form(
            &format!("/invitations/{staff_invitation}/accept"),
            &[("csrf_token", &token)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let accepted = keyward::service::invitations::accept(
        &mut app.db.get().unwrap(),
        &InvitationId::parse(&staff_invitation).unwrap(),
        &support,
        &keyward::domain::Actor::cli(),
        app.clock.now(),
    );
    assert!(matches!(
        accepted,
        Err(keyward::service::invitations::InvitationError::NotFound)
    ));
    assert!(!admin.is_member(&support));
    let memberships = format!("SELECT COUNT(*) AS n FROM memberships WHERE user_id = '{support}'");
    assert_eq!(app.count(&memberships), 0);
}

async fn every_invitation_step_is_in_the_audit_log(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let admin = Inviter::new(&app).await;
    for name in ["accepts", "declines"] {
        let email = format!("{name}@example.com");
        let one_time = admin.invite(&email).await;
        let browser = signed_in(&app, &email, &one_time).await;
        let page = browser.html("/account/password").await;
        let chosen = format!("{name}'s own password");
        browser
            .post_form(
                "/account/password",
                &[
                    ("csrf_token", csrf_token_in(&page).unwrap().as_str()),
                    ("new_password", &chosen),
                    ("confirm_password", &chosen),
                ],
            )
            .await;
        let answer = &name[..name.len() - 1];
        let res = browser.answer_invitation("Demo Merchant", answer).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{answer}");
    }
    admin.invite("cancelled@example.com").await;
    let id = admin.invitation_to("cancelled@example.com");
    let token = admin.browser.csrf_token(MEMBERS).await;
    admin
        .browser
        .post_form(
            &format!("{MEMBERS}/invitations/{id}/cancel"),
            &[("csrf_token", &token)],
        )
        .await;
    admin.invite("expires@example.com").await;
    let expiry = app.clock.now() + Duration::days(7);
    assert_eq!(
        keyward::service::invitations::record_expiries(&mut app.db.get().unwrap(), expiry).unwrap(),
        1
    );

    for (event_type, label, summary, who) in [
        (
            "invitation_sent",
            "Invitation sent",
            "expires@example.com, developer",
            "Admin",
        ),
        (
            "invitation_accepted",
            "Invitation accepted",
            "Given Name (accepts@example.com), developer",
            "Given Name",
        ),
        (
            "invitation_declined",
            "Invitation declined",
            "declines@example.com, developer",
            "declines@example.com",
        ),
        (
            "invitation_cancelled",
            "Invitation cancelled",
            "cancelled@example.com, developer",
            "Admin",
        ),
        (
            "invitation_expired",
            "Invitation expired",
            "expires@example.com, developer",
            "Keyward (system)",
        ),
    ] {
        let log = admin
            .browser
            .html(&format!("/settings/audit-log?type={event_type}"))
            .await;
        for text in [label, summary, who] {
            assert!(log.contains(text), "{text} not in the {event_type} log: {log}");
        }
    }
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM key_events WHERE event_type = 'invitation_sent'"),
        4
    );
    assert_eq!(invitation_events(&app).len(), 8);
}
