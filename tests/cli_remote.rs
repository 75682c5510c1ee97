//! The `key` commands from another machine (issue 14): every command with `--url` and a
//! management token goes through the management API, with no database or secret where
//! it runs, changes keys as "token <name>", prints what the database mode prints, and
//! refuses with the same message plus the rule's code.
//!
//! These need the management API's key endpoints (list, create, update, rotate, the
//! state changes, delete, duplicate, history), built on the API's branch; `key show`,
//! whose endpoint came first, and what needs no endpoint are tested in `cli.rs`.

use keyward::domain::{ApiKey, KeyPolicy, KeyStatus};

use crate::db_test;
use crate::support::cli::{
    KEY_FIELDS, assert_one_line_error, fields, json_of, key_by_id, key_named, key_rows, run_key, run_remote,
    stderr, stdout,
};
use crate::support::tokens::create_token;
use crate::support::{Backend, TestApp, spawn_app, test_secret};

db_test!(
    remote_key_commands_change_keys_through_the_api_as_the_token,
    remote_key_list_follows_the_cursor_to_the_last_page,
    remote_json_is_what_the_database_mode_prints,
    remote_refusals_say_what_the_database_mode_says_with_the_rules_code,
);

/// Asserts a command succeeded.
fn ok(output: &std::process::Output) {
    assert!(output.status.success(), "{output:?}");
}

/// The key a command printed alone on standard output, checked against the stored digest.
fn printed_key(app: &TestApp, output: &std::process::Output, name: &str, version: i32) -> ApiKey {
    ok(output);
    let printed = stdout(output);
    assert_eq!(printed.lines().count(), 1, "the key alone: {printed}");
    let key = ApiKey::parse(printed.trim()).expect("a whole key");
    let row = key_rows(app)
        .into_iter()
        .find(|row| row.name == name && row.version == version)
        .unwrap_or_else(|| panic!("no {name} v{version}"));
    assert_eq!(
        row.key_hash,
        key.digest(&keyward::startup::key_pepper(&test_secret()))
    );
    key
}

async fn remote_key_commands_change_keys_through_the_api_as_the_token(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let merchant = app.demo_merchant_id();
    let token = create_token(&app.db, &merchant, "Deploy", &["keys:read", "keys:write"]);

    let created = run_remote(
        &app,
        &token,
        &[
            "create",
            "--name",
            "Remote",
            "--description",
            "From afar",
            "--scope",
            "orders:read",
            "--expires-in-days",
            "30",
            "--rate-limit",
            "60",
        ],
    )
    .await;
    printed_key(&app, &created, "Remote", 1);
    let v1 = key_named(&app, "Remote");
    assert_eq!(
        (
            v1.description.as_str(),
            v1.scopes.to_stored(),
            v1.lifetime_days,
            v1.rate_limit_per_minute,
            v1.created_by.as_str()
        ),
        (
            "From afar",
            "orders:read".to_owned(),
            Some(30),
            Some(60),
            "token Deploy"
        )
    );

    let edited = run_remote(
        &app,
        &token,
        &["edit", &v1.id, "--name", "Remote v2", "--scope", "feeds:upload"],
    )
    .await;
    ok(&edited);
    assert_eq!(
        stderr(&edited).trim(),
        format!("Edited Remote v2 ({}).", v1.masked_key)
    );
    let after = key_by_id(&app, &v1.id);
    assert_eq!(
        (
            after.name.as_str(),
            after.description.as_str(),
            after.scopes.to_stored()
        ),
        ("Remote v2", "From afar", "feeds:upload".to_owned()),
        "what was not given kept its value"
    );
    ok(&run_remote(&app, &token, &["edit", &v1.id, "--clear-scopes"]).await);
    let after = key_by_id(&app, &v1.id);
    assert!(after.scopes.names().is_empty());
    assert_eq!(after.name, "Remote v2");

    let renewed = run_remote(&app, &token, &["renew", &v1.id]).await;
    ok(&renewed);
    assert!(
        stderr(&renewed).starts_with(&format!("Renewed Remote v2 ({}); it now expires ", v1.masked_key)),
        "{}",
        stderr(&renewed)
    );
    assert!(key_by_id(&app, &v1.id).expires_at > v1.expires_at);

    let rotated = run_remote(&app, &token, &["rotate", &v1.id, "--grace", "24h"]).await;
    printed_key(&app, &rotated, "Remote v2", 2);
    let old = key_by_id(&app, &v1.id);
    assert_eq!(old.status, KeyStatus::Rotated);
    let grace = old.grace_ends_at.unwrap() - app.clock.now();
    assert!(
        grace > time::Duration::hours(23) && grace <= time::Duration::hours(24),
        "{grace}"
    );
    let v2 = key_rows(&app)
        .into_iter()
        .find(|row| row.lineage_id == v1.id && row.version == 2)
        .unwrap();

    for (command, status, sentence) in [
        ("disable", KeyStatus::Disabled, "Disabled"),
        ("enable", KeyStatus::Active, "Enabled"),
        ("revoke", KeyStatus::Revoked, "Revoked"),
    ] {
        let output = run_remote(&app, &token, &[command, &v2.id]).await;
        ok(&output);
        assert_eq!(
            stderr(&output).trim(),
            format!("{sentence} Remote v2 ({}).", v2.masked_key)
        );
        assert_eq!(key_by_id(&app, &v2.id).status, status, "{command}");
    }

    ok(&run_remote(
        &app,
        &token,
        &[
            "create",
            "--name",
            "Source",
            "--scope",
            "orders:write",
            "--rate-limit",
            "5",
        ],
    )
    .await);
    let source = key_named(&app, "Source");
    let duplicated = run_remote(&app, &token, &["duplicate", &source.id]).await;
    printed_key(&app, &duplicated, "Source (copy)", 1);
    let copy = key_named(&app, "Source (copy)");
    assert_eq!(
        (copy.scopes.to_stored(), copy.rate_limit_per_minute),
        ("orders:write".to_owned(), Some(5))
    );
    let named = run_remote(&app, &token, &["duplicate", &source.id, "--name", "Named copy"]).await;
    printed_key(&app, &named, "Named copy", 1);

    let named = key_named(&app, "Named copy");
    ok(&run_remote(&app, &token, &["disable", &named.id]).await);
    let deleted = run_remote(&app, &token, &["delete", &named.id]).await;
    ok(&deleted);
    assert_eq!(
        stderr(&deleted).trim(),
        format!("Deleted Named copy ({}).", named.masked_key)
    );
    assert_eq!(key_by_id(&app, &named.id).status, KeyStatus::Deleted);

    let list = run_remote(&app, &token, &["list"]).await;
    ok(&list);
    let list = stdout(&list);
    for row in key_rows(&app) {
        assert!(list.contains(row.id.as_str()), "{} missing: {list}", row.name);
    }
    assert!(!list.contains(named.id.as_str()), "deleted keys are not listed");
    assert_eq!(list.lines().count(), 1 + key_rows(&app).len());

    let history = run_remote(&app, &token, &["history", &v1.id]).await;
    ok(&history);
    let history = stdout(&history);
    let labels: Vec<&str> = history
        .lines()
        .map(|line| line["2026-11-03 14:02".len()..].trim_start())
        .collect();
    let expected = [
        "Created",
        "Key shown once",
        "Edited",
        "Scopes changed",
        "Scopes changed",
        "Renewed",
        "Rotated",
    ];
    assert_eq!(labels.len(), expected.len(), "{history}");
    for (line, label) in labels.iter().zip(expected) {
        assert!(line.starts_with(label), "{label}: {line}");
        assert!(line.ends_with("  token Deploy (created by cli)"), "{line}");
    }

    // Every key event came from the token, with the CLI's user agent.
    let merchant_id = merchant.as_str();
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) AS n FROM key_events WHERE merchant_id = '{merchant_id}' AND key_id IS NOT NULL \
             AND (actor_type <> 'token' OR actor_name <> 'token Deploy' OR user_agent NOT LIKE 'keyward-cli/%')"
        )),
        0
    );
    assert!(
        app.count(&format!(
            "SELECT COUNT(*) AS n FROM key_events WHERE merchant_id = '{merchant_id}' AND actor_type = 'token'"
        )) > 10
    );
}

async fn remote_key_list_follows_the_cursor_to_the_last_page(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let merchant = app.demo_merchant_id();
    app.seed_keys(&merchant, 3, 120);
    let token = create_token(&app.db, &merchant, "Reader", &["keys:read"]);

    let listed = json_of(&run_remote(&app, &token, &["list", "--json"]).await);
    assert_eq!(fields(&listed), ["data", "next_cursor"]);
    assert!(listed["next_cursor"].is_null(), "every page was read");
    let remote: Vec<&str> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["id"].as_str().unwrap())
        .collect();
    let stored: Vec<String> = key_rows(&app).into_iter().map(|row| row.id.to_string()).collect();
    assert_eq!(remote.len(), 123, "more than one page of 100");
    assert_eq!(remote, stored, "every key once, newest first");

    let text = run_remote(&app, &token, &["list"]).await;
    ok(&text);
    assert_eq!(stdout(&text).lines().count(), 1 + 123);
}

async fn remote_json_is_what_the_database_mode_prints(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let url = app.test_db.url_string();
    let merchant = app.demo_merchant_id();
    let token = create_token(&app.db, &merchant, "Deploy", &["keys:read", "keys:write"]);
    let local = |args: &[&str]| json_of(&run_key(&url, args));

    let created = json_of(
        &run_remote(
            &app,
            &token,
            &["create", "--name", "Json", "--scope", "orders:read", "--json"],
        )
        .await,
    );
    assert_eq!(fields(&created), ["key", "secret", "secret_note"]);
    assert!(created["secret_note"].is_null());
    ApiKey::parse(created["secret"].as_str().unwrap()).expect("the whole key, this once");
    assert_eq!(fields(&created["key"]), KEY_FIELDS);
    let id = created["key"]["id"].as_str().unwrap().to_owned();
    assert_eq!(created["key"], local(&["show", &id, "--json"]));
    assert_eq!(
        json_of(&run_remote(&app, &token, &["show", &id, "--json"]).await),
        local(&["show", &id, "--json"])
    );
    assert_eq!(
        json_of(&run_remote(&app, &token, &["list", "--json"]).await),
        local(&["list", "--merchant", "Demo Merchant", "--json"])
    );

    let rotated = json_of(&run_remote(&app, &token, &["rotate", &id, "--grace", "1h", "--json"]).await);
    assert_eq!(fields(&rotated), ["key", "previous", "secret", "secret_note"]);
    let new_id = rotated["key"]["id"].as_str().unwrap().to_owned();
    assert_eq!(rotated["previous"], local(&["show", &id, "--json"]));
    assert_eq!(rotated["key"], local(&["show", &new_id, "--json"]));

    let disabled = json_of(&run_remote(&app, &token, &["disable", &new_id, "--json"]).await);
    assert_eq!(disabled["status"], "disabled");
    assert_eq!(disabled, local(&["show", &new_id, "--json"]));
    let edited = json_of(
        &run_remote(
            &app,
            &token,
            &["edit", &new_id, "--description", "Edited", "--json"],
        )
        .await,
    );
    assert_eq!(edited, local(&["show", &new_id, "--json"]));
    assert_eq!(edited["description"], "Edited");

    let history = json_of(&run_remote(&app, &token, &["history", &id, "--json"]).await);
    assert_eq!(fields(&history), ["data"]);
    let token_id = history["data"][0]["actor"]["id"].clone();
    assert!(token_id.is_string(), "the token's ID, to filter the Audit Log by");
    assert_eq!(
        history["data"][0]["actor"],
        serde_json::json!({"type": "token", "id": token_id, "name": "token Deploy", "detail": "created by cli"})
    );
    assert_eq!(
        history,
        local(&["history", &id, "--json"]),
        "the same events, read the same"
    );

    let deleted = run_remote(&app, &token, &["delete", &new_id, "--json"]).await;
    ok(&deleted);
    assert_eq!(stdout(&deleted), "", "a deletion has no resource");

    let second = json_of(&run_remote(&app, &token, &["create", "--name", "Second", "--json"]).await);
    let second_id = second["key"]["id"].as_str().unwrap();
    let duplicated = json_of(&run_remote(&app, &token, &["duplicate", second_id, "--json"]).await);
    assert_eq!(fields(&duplicated), ["key", "secret", "secret_note"]);
    assert_eq!(duplicated["key"]["name"], "Second (copy)");
    ApiKey::parse(duplicated["secret"].as_str().unwrap()).expect("the whole key, this once");
}

async fn remote_refusals_say_what_the_database_mode_says_with_the_rules_code(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let url = app.test_db.url_string();
    let merchant = app.demo_merchant_id();
    let token = create_token(&app.db, &merchant, "Deploy", &["keys:read", "keys:write"]);
    let create = |name: &str| {
        ok(&run_key(
            &url,
            &["create", "--merchant", "Demo Merchant", "--name", name],
        ))
    };
    for name in ["Rotating", "Active", "Gone"] {
        create(name);
    }
    let rotating = key_named(&app, "Rotating");
    ok(&run_key(&url, &["rotate", &rotating.id, "--grace", "1h"]));
    let in_grace_next = key_rows(&app)
        .into_iter()
        .find(|row| row.lineage_id == rotating.id && row.version == 2)
        .unwrap();
    let active = key_named(&app, "Active");
    let gone = key_named(&app, "Gone");
    ok(&run_key(&url, &["revoke", &gone.id]));

    // Each refused where the database mode refuses, with its message and the rule's code.
    let refusals: Vec<(Vec<&str>, Vec<&str>, &str)> = vec![
        (
            vec!["rotate", &in_grace_next.id],
            vec!["rotate", &in_grace_next.id],
            "rotation_in_progress",
        ),
        (
            vec!["delete", &active.id],
            vec!["delete", &active.id],
            "must_deactivate_first",
        ),
        (
            vec!["renew", &active.id],
            vec!["renew", &active.id],
            "no_lifetime",
        ),
        (vec!["enable", &gone.id], vec!["enable", &gone.id], "key_revoked"),
        (
            vec!["enable", &active.id],
            vec!["enable", &active.id],
            "wrong_state",
        ),
        (
            vec!["edit", &active.id, "--name", "rotating"],
            vec!["edit", &active.id, "--name", "rotating"],
            "name_taken",
        ),
        (
            vec![
                "create",
                "--merchant",
                "Demo Merchant",
                "--name",
                "X",
                "--scope",
                "root",
            ],
            vec!["create", "--name", "X", "--scope", "root"],
            "invalid_field",
        ),
    ];
    let policy = |change: fn(&mut KeyPolicy)| {
        let mut policy = KeyPolicy::default();
        change(&mut policy);
        keyward::service::policy::set_policy(
            &mut app.db.get().unwrap(),
            &merchant,
            &policy,
            &keyward::domain::Actor::cli(),
            app.clock.now(),
        )
        .unwrap();
    };
    let check = async |local_args: &[&str], remote_args: &[&str], code: &str| {
        let local = run_key(&url, local_args);
        assert_one_line_error(&local, "");
        let remote = run_remote(&app, &token, remote_args).await;
        assert_eq!(
            stderr(&remote),
            format!("{} ({code})\n", stderr(&local).trim_end()),
            "{remote_args:?}"
        );
        assert_eq!(remote.status.code(), Some(1));
    };
    for (local_args, remote_args, code) in &refusals {
        check(local_args, remote_args, code).await;
    }
    policy(|policy| policy.scopes_editable = false);
    check(
        &["edit", &active.id, "--scope", "feeds:upload"],
        &["edit", &active.id, "--scope", "feeds:upload"],
        "scopes_fixed",
    )
    .await;
    policy(|policy| policy.max_active_keys = 2);
    check(
        &["create", "--merchant", "Demo Merchant", "--name", "Over"],
        &["create", "--name", "Over"],
        "active_key_limit",
    )
    .await;

    let reader = create_token(&app.db, &merchant, "Reader", &["keys:read"]);
    assert_one_line_error(
        &run_remote(&app, &reader, &["disable", &active.id]).await,
        "does not have the scope `keys:write`. (insufficient_scope)",
    );
    assert_eq!(
        key_by_id(&app, &active.id).status,
        KeyStatus::Active,
        "nothing changed"
    );
}
