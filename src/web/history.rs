//! How a history event reads on the key page, in the audit log and in its CSV.

use std::collections::HashMap;

use serde_json::Value;
use time::PrimitiveDateTime;
use time::macros::format_description;

use crate::db::key_events::{EventRow, EventType};
use crate::db::keys::KeyLabel;
use crate::domain::{EventId, GracePeriod, PolicyPreset};
use crate::web::format;

/// One event, as people read it.
pub struct EventView {
    /// The event's ID.
    pub id: EventId,
    /// The stored event type.
    pub event_type: String,
    /// What happened ("Revoked").
    pub what: String,
    /// Who did it ("Ana Lima", "Keyward (system)").
    pub who: String,
    /// Whom a management token acted for ("created by Ana Lima"), or empty.
    pub actor_detail: String,
    /// user, support, cli, system or token.
    pub actor_type: String,
    /// When, as shown ("3 Nov 2026 14:02 UTC").
    pub when: String,
    /// When, as an ISO 8601 UTC timestamp.
    pub when_iso: String,
    /// The client's address, or empty.
    pub from: String,
    /// The client's user agent, or empty.
    pub user_agent: String,
    /// The change in a line ("name: Old → New").
    pub summary: String,
    /// The key it concerns.
    pub key_id: Option<String>,
    /// How the key is named ("Checkout v2"), or empty.
    pub key_label: String,
    /// The stored details, as JSON.
    pub details: String,
}

impl EventView {
    /// The timeline's sentence: "Created by Ana Lima on 3 Nov 2026 14:02 UTC from
    /// 203.0.113.9", or for a token's change "Rotated by token deploy (created by Ana
    /// Lima) on …".
    pub fn sentence(&self) -> String {
        let mut text = format!("{} by {}", self.what, self.who);
        if !self.actor_detail.is_empty() {
            text.push_str(&format!(" ({})", self.actor_detail));
        }
        text.push_str(&format!(" on {}", self.when));
        if !self.from.is_empty() {
            text.push_str(" from ");
            text.push_str(&self.from);
        }
        text
    }
}

/// How history names an actor of kind `actor_type` ("Ana Lima", "Sam (support)",
/// "Keyward (system)", "the command line", "token deploy").
pub fn who(actor_type: &str, actor_name: &str) -> String {
    match actor_type {
        "support" => format!("{actor_name} (support)"),
        "system" => format!("{actor_name} (system)"),
        "cli" => "the command line".to_owned(),
        _ => actor_name.to_owned(),
    }
}

/// Reads `event`; `keys` names the keys it may mention.
pub fn view(event: &EventRow, keys: &HashMap<String, KeyLabel>) -> EventView {
    let details: Value = serde_json::from_str(&event.details).unwrap_or(Value::Null);
    let event_type = event.event_type.parse::<EventType>().ok();
    let who = who(&event.actor_type, &event.actor_name);
    EventView {
        id: event.id.clone(),
        event_type: event.event_type.clone(),
        what: event_type.map_or_else(|| event.event_type.replace('_', " "), |t| t.label().to_owned()),
        who,
        actor_detail: event.actor_detail.clone().unwrap_or_default(),
        actor_type: event.actor_type.clone(),
        when: format::datetime(event.created_at),
        when_iso: format::iso(event.created_at),
        from: event.client_address.clone().unwrap_or_default(),
        user_agent: event.user_agent.clone().unwrap_or_default(),
        summary: event_type.map(|t| summary(t, &details)).unwrap_or_default(),
        key_label: event
            .key_id
            .as_ref()
            .and_then(|id| keys.get(id))
            .map(|key| format!("{} v{}", key.name, key.version))
            .unwrap_or_default(),
        key_id: event.key_id.clone(),
        details: event.details.clone(),
    }
}

fn summary(event_type: EventType, details: &Value) -> String {
    let text = |name: &str| shown(&details[name]);
    match event_type {
        EventType::Generated => {
            let mut parts = vec![format!("“{}”, version {}", text("name"), text("version"))];
            if let Some(scopes) = details["scopes"].as_array() {
                parts.push(format!("scopes: {}", shown(&Value::Array(scopes.clone()))));
            }
            if !details["expires_at"].is_null() {
                parts.push(format!("expires {}", text("expires_at")));
            }
            if let Some(addresses) = details["allowed_ips"].as_array().filter(|list| !list.is_empty()) {
                parts.push(format!("allowed from: {}", addresses_shown(addresses)));
            }
            if !details["rotated_from"].is_null() {
                parts.push("made by a rotation".to_owned());
            }
            if details["environment"] == "test" {
                parts.push("a test key".to_owned());
            }
            parts.join("; ")
        }
        EventType::Revealed if details["again"] == true => {
            "the test key was shown again, as the Key Policy allows".to_owned()
        }
        EventType::Revealed => "the full key was shown this once; Keyward keeps no copy".to_owned(),
        EventType::Rotated => format!(
            "version {} → {}; the old version works until {}",
            text("from_version"),
            text("to_version"),
            text("grace_ends_at")
        ),
        EventType::GraceEnded => format!("the old version stopped working at {}", text("grace_ended_at")),
        EventType::Expired => format!("reached its expiry at {}", text("expired_at")),
        EventType::DuplicatedFrom => format!("settings copied from “{}”", text("source_name")),
        EventType::AllowedIpsChanged => {
            let list = |side: &str| {
                details[side]["allowed_ips"]
                    .as_array()
                    .map_or_else(|| "any address".to_owned(), |list| addresses_shown(list))
            };
            format!("allowed IP addresses: {} → {}", list("before"), list("after"))
        }
        EventType::PolicyChanged => policy_changes(details),
        EventType::ChangeRefused => format!("{} {}", text("method"), text("path")),
        EventType::SignInLocked => format!(
            "{} after {} failed password checks; locked until {}",
            member(details),
            text("failures"),
            text("locked_until")
        ),
        EventType::PasswordCheckFailed => member(details),
        EventType::MemberAdded
        | EventType::MemberDisabled
        | EventType::MemberEnabled
        | EventType::MemberRemoved
        | EventType::MemberRoleChanged => {
            let mut line = member(details);
            if !details["role"].is_null() {
                line.push_str(&format!(", {}", text("role")));
            }
            let changes = changes(details);
            if !changes.is_empty() {
                line.push_str(&format!("; {changes}"));
            }
            line
        }
        // Before it is accepted, an invitation names nobody but the email.
        EventType::InvitationSent
        | EventType::InvitationDeclined
        | EventType::InvitationCancelled
        | EventType::InvitationExpired => {
            format!("{}, {}", shown(&details["invitation"]["email"]), text("role"))
        }
        EventType::TokenCreated => {
            let mut parts = vec![
                format!("“{}” {}", text("name"), text("token")),
                format!("scopes: {}", text("scopes")),
            ];
            parts.push(if details["expires_at"].is_null() {
                "no expiry".to_owned()
            } else {
                format!("expires {}", text("expires_at"))
            });
            parts.join("; ")
        }
        EventType::TokenRevoked => format!("“{}” {}", text("name"), text("token")),
        EventType::InvitationAccepted => {
            let member = &details["member"];
            format!(
                "{} ({}), {}",
                shown(&member["name"]),
                shown(&member["email"]),
                text("role")
            )
        }
        _ => {
            let changes = changes(details);
            if changes.is_empty() {
                fields(details)
            } else {
                changes
            }
        }
    }
}

/// An allowlist as history shows it: its entries, or "any address" for none.
fn addresses_shown(entries: &[Value]) -> String {
    if entries.is_empty() {
        "any address".to_owned()
    } else {
        shown(&Value::Array(entries.to_vec()))
    }
}

/// The member an event concerns: "Ana Lima (ana@example.com)".
fn member(details: &Value) -> String {
    let member = &details["member"];
    format!("{} ({})", shown(&member["name"]), shown(&member["email"]))
}

/// "name: Old → New; scopes: a → a, b" for every value `after` changed.
fn changes(details: &Value) -> String {
    let (Some(before), Some(after)) = (details["before"].as_object(), details["after"].as_object()) else {
        return String::new();
    };
    after
        .iter()
        .filter(|(name, value)| before.get(*name) != Some(value))
        .map(|(name, value)| {
            format!(
                "{}: {} → {}",
                name.replace('_', " "),
                shown(before.get(name).unwrap_or(&Value::Null)),
                shown(value)
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// "preset: Single key → Standard; max active keys: 1 → 5" for every setting a Key
/// Policy change changed, with presets and grace periods named as the Key Policy page
/// names them; a save that changed nothing says so.
fn policy_changes(details: &Value) -> String {
    let (Some(before), Some(after)) = (details["before"].as_object(), details["after"].as_object()) else {
        return String::new();
    };
    // Changes recorded before test keys could be revealed again lack that setting: it
    // was off.
    let off = Value::Bool(false);
    let before_of = |name: &str| {
        before
            .get(name)
            .or((name == "test_keys_revealable").then_some(&off))
    };
    let changed: Vec<String> = after
        .iter()
        .filter(|(name, value)| before_of(name) != Some(value))
        .map(|(name, value)| {
            format!(
                "{}: {} → {}",
                name.replace('_', " "),
                policy_value(name, before_of(name).unwrap_or(&Value::Null)),
                policy_value(name, value)
            )
        })
        .collect();
    if changed.is_empty() {
        "saved without a change".to_owned()
    } else {
        changed.join("; ")
    }
}

/// A Key Policy setting's stored value as the Key Policy page shows it.
fn policy_value(name: &str, value: &Value) -> String {
    let text = value.as_str().unwrap_or_default();
    match (name, value) {
        // Settings that match no preset have none.
        ("preset", Value::Null) => "custom".to_owned(),
        ("preset", _) => {
            PolicyPreset::parse(text).map_or_else(|_| text.to_owned(), |preset| preset.label().to_owned())
        }
        ("default_grace", _) => {
            GracePeriod::parse(text).map_or_else(|_| text.to_owned(), |grace| grace.label().to_owned())
        }
        ("max_lifetime_days", Value::Number(days)) => format!("{days} days"),
        _ => shown(value),
    }
}

/// "from: active; version: 2" for the plain fields of `details`.
fn fields(details: &Value) -> String {
    details
        .as_object()
        .map(|object| {
            object
                .iter()
                .filter(|(_, value)| !value.is_null() && !value.is_object())
                .map(|(name, value)| format!("{}: {}", name.replace('_', " "), shown(value)))
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_default()
}

/// A detail value as text: times in the dashboard's format, lists joined.
fn shown(value: &Value) -> String {
    match value {
        Value::Null => "none".to_owned(),
        Value::Bool(true) => "yes".to_owned(),
        Value::Bool(false) => "no".to_owned(),
        Value::Number(number) => number.to_string(),
        Value::String(text) => stored_time(text).map_or_else(|| text.clone(), format::datetime),
        Value::Array(items) if items.is_empty() => "none".to_owned(),
        Value::Array(items) => items.iter().map(shown).collect::<Vec<_>>().join(", "),
        Value::Object(_) => value.to_string(),
    }
}

/// A time as events store it (`PrimitiveDateTime`'s `Display`, whose hour has no
/// leading zero: `2026-12-03 9:30:00.0`).
fn stored_time(text: &str) -> Option<PrimitiveDateTime> {
    PrimitiveDateTime::parse(
        text,
        format_description!("[year]-[month]-[day] [hour padding:none]:[minute]:[second].[subsecond]"),
    )
    .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn edits_read_as_before_and_after() {
        let details = json!({
            "before": {"name": "Old", "description": "same"},
            "after": {"name": "New", "description": "same"},
        });
        assert_eq!(summary(EventType::Edited, &details), "name: Old → New");
        let scopes = json!({"before": {"scopes": ["orders:read"]}, "after": {"scopes": []}});
        assert_eq!(
            summary(EventType::ScopesChanged, &scopes),
            "scopes: orders:read → none"
        );
    }

    #[test]
    fn allowlist_changes_read_as_before_and_after_with_empty_as_any_address() {
        let details = json!({
            "before": {"allowed_ips": []},
            "after": {"allowed_ips": ["203.0.113.0/24", "2001:db8::/32"]},
        });
        assert_eq!(
            summary(EventType::AllowedIpsChanged, &details),
            "allowed IP addresses: any address → 203.0.113.0/24, 2001:db8::/32"
        );
        let generated =
            json!({"name": "Office", "version": 1, "scopes": [], "allowed_ips": ["203.0.113.0/24"]});
        assert_eq!(
            summary(EventType::Generated, &generated),
            "“Office”, version 1; scopes: none; allowed from: 203.0.113.0/24"
        );
    }

    #[test]
    fn policy_changes_read_in_the_key_policy_pages_words() {
        let details = json!({
            "before": {"preset": "single-key", "max_active_keys": 1, "default_grace": "3d", "name_required": true, "max_lifetime_days": null},
            "after": {"preset": null, "max_active_keys": 5, "default_grace": "1h", "name_required": true, "max_lifetime_days": 90},
        });
        assert_eq!(
            summary(EventType::PolicyChanged, &details),
            "preset: Single key → custom; max active keys: 1 → 5; default grace: 3 days → 1 hour; max lifetime days: none → 90 days"
        );
        let same = json!({"before": {"max_active_keys": 5}, "after": {"max_active_keys": 5}});
        assert_eq!(summary(EventType::PolicyChanged, &same), "saved without a change");
    }

    #[test]
    fn test_keys_and_their_reveals_say_so() {
        let made = json!({"name": "Sandbox", "version": 1, "environment": "test"});
        assert_eq!(
            summary(EventType::Generated, &made),
            "“Sandbox”, version 1; a test key"
        );
        assert!(summary(EventType::Revealed, &json!({"again": true})).contains("shown again"));
        assert!(summary(EventType::Revealed, &json!({})).contains("this once"));
        // A policy change recorded before the setting existed did not change it.
        let older = json!({"before": {"max_active_keys": 5}, "after": {"max_active_keys": 5, "test_keys_revealable": false}});
        assert_eq!(
            summary(EventType::PolicyChanged, &older),
            "saved without a change"
        );
    }

    #[test]
    fn stored_times_read_like_the_dashboards() {
        let at = time::macros::datetime!(2026-11-03 14:02:05.123456);
        assert_eq!(stored_time(&at.to_string()), Some(at));
        let morning = time::macros::datetime!(2026-11-03 09:05:00.0);
        assert_eq!(stored_time(&morning.to_string()), Some(morning));
        assert_eq!(
            summary(EventType::Expired, &json!({"expired_at": at.to_string()})),
            "reached its expiry at 3 Nov 2026 14:02 UTC"
        );
    }

    #[test]
    fn invitations_read_with_the_email_alone_until_accepted() {
        let invitation = json!({"id": "i1", "email": "ana@example.com"});
        let sent = json!({"invitation": invitation, "role": "developer"});
        assert_eq!(
            summary(EventType::InvitationSent, &sent),
            "ana@example.com, developer"
        );
        let accepted = json!({
            "invitation": invitation,
            "member": {"id": "u1", "name": "Ana Lima", "email": "ana@example.com"},
            "role": "developer",
        });
        assert_eq!(
            summary(EventType::InvitationAccepted, &accepted),
            "Ana Lima (ana@example.com), developer"
        );
    }

    #[test]
    fn members_read_with_name_email_and_role_change() {
        let details = json!({
            "member": {"id": "u1", "name": "Ana Lima", "email": "ana@example.com"},
            "before": {"role": "viewer"},
            "after": {"role": "developer"},
        });
        assert_eq!(
            summary(EventType::MemberRoleChanged, &details),
            "Ana Lima (ana@example.com); role: viewer → developer"
        );
    }

    #[test]
    fn token_events_read_with_the_name_and_the_masked_token() {
        let at = time::macros::datetime!(2026-12-03 09:30:00.0);
        let created = json!({
            "token_id": "t1",
            "name": "deploy",
            "token": "kw_mgmt_AbCd…WxYz",
            "scopes": ["keys:read", "keys:write"],
            "expires_at": at.to_string(),
        });
        assert_eq!(
            summary(EventType::TokenCreated, &created),
            "“deploy” kw_mgmt_AbCd…WxYz; scopes: keys:read, keys:write; expires 3 Dec 2026 09:30 UTC"
        );
        let forever =
            json!({"name": "ci", "token": "kw_mgmt_EfGh…1234", "scopes": ["audit:read"], "expires_at": null});
        assert_eq!(
            summary(EventType::TokenCreated, &forever),
            "“ci” kw_mgmt_EfGh…1234; scopes: audit:read; no expiry"
        );
        let revoked = json!({"token_id": "t1", "name": "deploy", "token": "kw_mgmt_AbCd…WxYz"});
        assert_eq!(
            summary(EventType::TokenRevoked, &revoked),
            "“deploy” kw_mgmt_AbCd…WxYz"
        );
    }

    #[test]
    fn a_lock_reads_with_the_member_the_failures_and_its_end() {
        let until = time::macros::datetime!(2026-11-03 14:07:00.5);
        let details = json!({
            "member": {"id": "u1", "name": "Ana Lima", "email": "ana@example.com"},
            "failures": 5,
            "locked_until": until.to_string(),
        });
        assert_eq!(
            summary(EventType::SignInLocked, &details),
            "Ana Lima (ana@example.com) after 5 failed password checks; locked until 3 Nov 2026 14:07 UTC"
        );
    }
}
