//! `keyward key …`: the dashboard's key actions, through the same service and rules.

use std::path::Path;

use clap::Subcommand;

use super::error::{CliError, open};
use crate::clock::Clock;
use crate::config::{DatabaseUrl, Secret};
use crate::db::keys::{self as db_keys, KeyRow};
use crate::db::{DbConnection, key_policies, merchants};
use crate::domain::{Actor, GracePeriod, KeyId, KeyPepper, KeyStatus};
use crate::service::keys::{self, GenerateRequest};

#[derive(Debug, Subcommand)]
pub(crate) enum KeyCommand {
    /// Generate a key and print it, once, alone on standard output.
    Create {
        /// The merchant (name or ID).
        #[arg(long)]
        merchant: String,
        /// The key's name.
        #[arg(long)]
        name: String,
        /// A scope to grant (repeat for several).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// Days until the key expires (renewable); without it, the key never expires.
        #[arg(long)]
        expires_in_days: Option<u32>,
    },
    /// List a merchant's keys.
    List {
        /// The merchant (name or ID).
        #[arg(long)]
        merchant: String,
    },
    /// Rotate a key and print the new one alone on standard output.
    Rotate {
        /// The key's ID.
        key_id: String,
        /// How long the old key keeps working: now, 1h, 24h, 3d or 7d (default: the
        /// merchant's policy).
        #[arg(long)]
        grace: Option<String>,
    },
    /// Revoke a key for good.
    Revoke {
        /// The key's ID.
        key_id: String,
    },
    /// Disable a key.
    Disable {
        /// The key's ID.
        key_id: String,
    },
    /// Enable a disabled key.
    Enable {
        /// The key's ID.
        key_id: String,
    },
}

fn merchant_named(conn: &mut DbConnection, raw: &str) -> Result<merchants::Merchant, CliError> {
    merchants::find_by_id_or_name(conn, raw)?
        .ok_or_else(|| CliError::Refused(format!("no merchant has the name or ID \"{raw}\"")))
}

/// The key the command line names; a malformed ID is refused like an unknown one.
fn key_by_id(conn: &mut DbConnection, key_id: &str) -> Result<KeyRow, CliError> {
    let found = match KeyId::parse(key_id) {
        Ok(id) => db_keys::find_any(conn, &id)?,
        Err(_) => None,
    };
    found
        .filter(|row| row.status != KeyStatus::Deleted)
        .ok_or_else(|| CliError::Refused(format!("no key has the ID \"{key_id}\"")))
}

/// The same pepper the server derives: from KEYWARD_SECRET, the secret file, or on
/// SQLite the `keyward.secret` beside the database.
fn pepper(database: &DatabaseUrl, secret_file: Option<&Path>) -> Result<KeyPepper, CliError> {
    let secret = Secret::load(std::env::var("KEYWARD_SECRET").ok(), secret_file, database)?;
    Ok(crate::startup::key_pepper(&secret))
}

pub(crate) fn key_command(
    database: &DatabaseUrl,
    secret_file: Option<&Path>,
    command: KeyCommand,
) -> Result<(), CliError> {
    let db = open(database)?;
    let mut conn = db.get()?;
    let conn = &mut conn;
    let actor = Actor::cli();
    let now = Clock::default().now();
    match command {
        KeyCommand::Create {
            merchant,
            name,
            scopes,
            expires_in_days,
        } => {
            let merchant = merchant_named(conn, &merchant)?;
            let request = GenerateRequest {
                name,
                scopes,
                expires: expires_in_days.map_or_else(|| "never".to_owned(), |days| days.to_string()),
                ..GenerateRequest::default()
            };
            let generated = keys::generate(
                conn,
                &merchant.id,
                &request,
                &actor,
                &pepper(database, secret_file)?,
                now,
            )?;
            println!("{}", generated.key.expose());
        }
        KeyCommand::List { merchant } => {
            let merchant = merchant_named(conn, &merchant)?;
            println!(
                "{:<36}  {:<18}  {:<24}  {:<8}  {:>7}  {:<17}  LAST USED",
                "ID", "KEY", "NAME", "STATUS", "VERSION", "CREATED"
            );
            for row in db_keys::list(conn, &merchant.id)? {
                let status = row.facts().display_status(now);
                let name: String = row.name.chars().take(24).collect();
                println!(
                    "{:<36}  {:<18}  {:<24}  {:<8}  {:>7}  {:<17}  {}",
                    row.id,
                    row.masked_key,
                    name,
                    status.label(),
                    row.version,
                    cli_time(row.created_at),
                    row.last_used_at.map_or_else(|| "never".to_owned(), cli_time),
                );
            }
        }
        KeyCommand::Rotate { key_id, grace } => {
            let row = key_by_id(conn, &key_id)?;
            let grace = match grace {
                Some(raw) => GracePeriod::parse(&raw)?,
                None => key_policies::get(conn, &row.merchant_id)?.default_grace,
            };
            let command = keys::Rotate {
                key_id: &row.id,
                grace,
                request_id: None,
            };
            let generated = keys::rotate(
                conn,
                &row.merchant_id,
                &command,
                &actor,
                &pepper(database, secret_file)?,
                now,
            )?;
            println!("{}", generated.key.expose());
        }
        KeyCommand::Revoke { key_id } => {
            let row = key_by_id(conn, &key_id)?;
            // Typing the command is the confirmation the dashboard asks for.
            keys::revoke(conn, &row.merchant_id, &row.id, "REVOKE", &actor, now)?;
            eprintln!("Revoked {} ({}).", row.name, row.masked_key);
        }
        KeyCommand::Disable { key_id } => {
            let row = key_by_id(conn, &key_id)?;
            keys::disable(conn, &row.merchant_id, &row.id, &actor, now)?;
            eprintln!("Disabled {} ({}).", row.name, row.masked_key);
        }
        KeyCommand::Enable { key_id } => {
            let row = key_by_id(conn, &key_id)?;
            keys::enable(conn, &row.merchant_id, &row.id, &actor, now)?;
            eprintln!("Enabled {} ({}).", row.name, row.masked_key);
        }
    }
    Ok(())
}

fn cli_time(at: time::PrimitiveDateTime) -> String {
    at.format(time::macros::format_description!(
        "[year]-[month]-[day] [hour]:[minute]"
    ))
    .unwrap_or_default()
}
