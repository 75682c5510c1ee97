//! `GET /api/v1/members`: the merchant's members with their roles and standing, and
//! nothing about their passwords.

use keyward::domain::Role;
use reqwest::StatusCode;
use serde_json::Value;

use super::get;
use crate::db_test;
use crate::support::tokens::create_token;
use crate::support::{Backend, spawn_app};

db_test!(members_are_listed_with_role_and_standing_and_nothing_secret);

async fn members_are_listed_with_role_and_standing_and_nothing_secret(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let merchant = app.demo_merchant_id();
    let developer = app.create_member(
        "dev@example.com",
        "a long enough passphrase",
        &merchant,
        Role::Developer,
    );
    let viewer = app.create_member(
        "view@example.com",
        "another long passphrase",
        &merchant,
        Role::Viewer,
    );
    {
        let mut conn = app.db.get().unwrap();
        keyward::db::memberships::set_disabled(&mut conn, &viewer, &merchant, Some(app.clock.now())).unwrap();
    }
    let elsewhere = app.create_merchant("Elsewhere");
    app.create_member(
        "other@example.com",
        "a third long passphrase",
        &elsewhere,
        Role::Admin,
    );

    let token = create_token(&app.db, &merchant, "directory", &["members:read"]);
    let answer = get(&app, "/api/v1/members", &token).await;
    assert_eq!(answer.status, StatusCode::OK);
    let members = answer.body["data"].as_array().unwrap();
    let emails: Vec<&str> = members.iter().map(|m| m["email"].as_str().unwrap()).collect();
    assert_eq!(members.len(), 3, "only this merchant's members: {emails:?}");
    assert!(!emails.contains(&"other@example.com"));

    let by_email = |email: &str| -> &Value { members.iter().find(|m| m["email"] == email).unwrap() };
    let admin = by_email(&app.admin_email);
    assert_eq!(admin["role"], "admin");
    assert_eq!(admin["status"], "active");
    let dev = by_email("dev@example.com");
    assert_eq!(dev["user_id"], developer.as_str());
    assert_eq!(dev["name"], "Test User");
    assert_eq!(dev["role"], "developer");
    assert_eq!(dev["status"], "active");
    let view = by_email("view@example.com");
    assert_eq!(view["user_id"], viewer.as_str());
    assert_eq!(view["role"], "viewer");
    assert_eq!(view["status"], "disabled");

    for member in members {
        let mut fields: Vec<&str> = member.as_object().unwrap().keys().map(String::as_str).collect();
        fields.sort_unstable();
        assert_eq!(
            fields,
            ["email", "joined_at", "name", "role", "status", "user_id"],
            "these fields and no others"
        );
        let joined = member["joined_at"].as_str().unwrap();
        assert!(
            time::OffsetDateTime::parse(joined, &time::format_description::well_known::Rfc3339).is_ok(),
            "{joined}"
        );
    }
    let text = answer.body.to_string();
    assert!(!text.contains("argon2") && !text.contains("password"), "{text}");
}
