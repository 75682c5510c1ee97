//! How the `key` commands print for a person: the same from the database and from the
//! management API, since both give the API's resources.

use std::io::{self, Write};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::backend::StateChange;
use crate::api::manage::events::Event;
use crate::api::manage::keys::{Key, KeyEnvironment, LoggedRequest};
use crate::cli::management_api::printable;
use crate::domain::Environment;
use crate::web::history::who;

/// An RFC 3339 time as the command line shows it: `2026-11-03 14:02` (UTC); a time that
/// does not read as one is shown as it came.
pub(super) fn time(rfc3339: &str) -> String {
    OffsetDateTime::parse(rfc3339, &Rfc3339)
        .ok()
        .and_then(|at| {
            at.to_offset(time::UtcOffset::UTC)
                .format(time::macros::format_description!(
                    "[year]-[month]-[day] [hour]:[minute]"
                ))
                .ok()
        })
        .unwrap_or_else(|| rfc3339.to_owned())
}

fn environment_of(key: &Key) -> Environment {
    match key.environment {
        KeyEnvironment::Live => Environment::Live,
        KeyEnvironment::Test => Environment::Test,
    }
}

fn time_or(at: Option<&String>, none: &str) -> String {
    at.map_or_else(|| none.to_owned(), |at| time(at))
}

/// One line a key: ID, masked key, name, status, environment, version, created, last
/// used.
pub(super) fn print_list(out: &mut impl Write, keys: &[Key]) -> io::Result<()> {
    writeln!(
        out,
        "{:<36}  {:<18}  {:<24}  {:<8}  {:<4}  {:>7}  {:<17}  LAST USED",
        "ID", "KEY", "NAME", "STATUS", "ENV", "VERSION", "CREATED"
    )?;
    for key in keys {
        let name: String = key.name.chars().take(24).collect();
        writeln!(
            out,
            "{:<36}  {:<18}  {:<24}  {:<8}  {:<4}  {:>7}  {:<17}  {}",
            key.id,
            key.masked_key,
            name,
            key.status.to_ascii_uppercase(),
            environment_of(key).as_str(),
            key.version,
            time(&key.created_at),
            time_or(key.last_used_at.as_ref(), "never"),
        )?;
    }
    Ok(())
}

/// A key, one fact a line, the labels aligned.
pub(super) fn print_key(out: &mut impl Write, key: &Key) -> io::Result<()> {
    let mut lines = vec![("ID", key.id.clone()), ("Name", key.name.clone())];
    if !key.description.is_empty() {
        lines.push(("Description", key.description.clone()));
    }
    lines.extend([
        ("Key", key.masked_key.clone()),
        ("Status", key.status.to_ascii_uppercase()),
        ("Environment", environment_of(key).as_str().to_owned()),
        ("Version", format!("{} (lineage {})", key.version, key.lineage_id)),
        (
            "Scopes",
            if key.scopes.is_empty() {
                "none".to_owned()
            } else {
                key.scopes.join(" ")
            },
        ),
        (
            "Rate limit",
            key.rate_limit_per_minute
                .map_or_else(|| "none".to_owned(), |limit| format!("{limit} requests a minute")),
        ),
        (
            "Allowed IPs",
            if key.allowed_ips.is_empty() {
                "any address".to_owned()
            } else {
                key.allowed_ips.join(" ")
            },
        ),
        ("Expires", time_or(key.expires_at.as_ref(), "never")),
    ]);
    if let Some(days) = key.lifetime_days {
        lines.push(("Lifetime", format!("{days} days a renewal")));
    }
    if let Some(ends) = &key.grace_ends_at {
        lines.push(("Grace ends", time(ends)));
    }
    lines.extend([
        (
            "Created",
            format!("{} by {}", time(&key.created_at), key.created_by),
        ),
        ("Last used", time_or(key.last_used_at.as_ref(), "never")),
    ]);
    let width = lines.iter().map(|(label, _)| label.len()).max().unwrap_or(0);
    for (label, value) in lines {
        writeln!(out, "{label:<width$}  {value}")?;
    }
    Ok(())
}

/// One line an event: when, what, who (as history names them, and whom a token acts for).
pub(super) fn print_history(out: &mut impl Write, events: &[Event]) -> io::Result<()> {
    let width = events
        .iter()
        .map(|event| event.label.chars().count())
        .max()
        .unwrap_or(0);
    for event in events {
        let mut actor = who(&event.actor.actor_type, &event.actor.name);
        if let Some(detail) = &event.actor.detail {
            actor.push_str(&format!(" ({detail})"));
        }
        writeln!(
            out,
            "{}  {:<width$}  {actor}",
            time(&event.created_at),
            event.label
        )?;
    }
    Ok(())
}

/// One line a row of the request log, newest first: when (the row's last request),
/// outcome, how many requests, address, method and path, detail and request ID.
pub(super) fn print_requests(out: &mut impl Write, rows: &[LoggedRequest]) -> io::Result<()> {
    let width = rows.iter().map(|row| row.outcome.len()).max().unwrap_or(0);
    for row in rows {
        let mut line = format!(
            "{}  {:<width$}  {:>5}x  {}  {} {}",
            time(&row.last_at),
            row.outcome,
            row.count,
            row.client_address,
            row.method,
            row.path
        );
        if let Some(detail) = &row.detail {
            line.push_str(&format!("  ({detail})"));
        }
        if let Some(request_id) = &row.request_id {
            line.push_str(&format!("  request {request_id}"));
        }
        // What a request carried is the caller's text, wherever it came from: printed
        // without the control characters a terminal would obey.
        writeln!(out, "{}", printable(line.trim_end()))?;
    }
    Ok(())
}

/// What a state change did to `key`, in a sentence.
pub(super) fn changed(change: StateChange, key: &Key) -> String {
    let done = match change {
        StateChange::Revoke => "Revoked",
        StateChange::Disable => "Disabled",
        StateChange::Enable => "Enabled",
        StateChange::Renew => "Renewed",
    };
    match (change, &key.expires_at) {
        (StateChange::Renew, Some(expires_at)) => format!(
            "{done} {} ({}); it now expires {}.",
            key.name,
            key.masked_key,
            time(expires_at)
        ),
        _ => format!("{done} {} ({}).", key.name, key.masked_key),
    }
}
