//! `keyward token …`: management tokens for operators, through the same service as the
//! Management Tokens page.

use std::path::Path;

use clap::Subcommand;

use super::error::{CliError, open};
use crate::clock::Clock;
use crate::config::{DatabaseUrl, Secret};
use crate::db::merchants;
use crate::domain::Actor;
use crate::service::tokens::{self, CreateToken, TokenError};

#[derive(Debug, Subcommand)]
pub(crate) enum TokenCommand {
    /// Create a management token and print it, once, alone on standard output.
    Create {
        /// The merchant (name or ID).
        #[arg(long)]
        merchant: String,
        /// The token's name; history records its changes as "token <name>".
        #[arg(long)]
        name: String,
        /// A scope to grant: keys:read, keys:write, audit:read, members:read,
        /// policy:read or policy:write (repeat for several).
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        /// Days until the token stops working; without it, it never expires.
        #[arg(long)]
        expires_in_days: Option<u32>,
    },
}

impl From<TokenError> for CliError {
    fn from(err: TokenError) -> Self {
        match err {
            TokenError::Invalid(err) => CliError::Invalid(err),
            TokenError::Db(err) => CliError::Database(err),
            other => CliError::Refused(other.to_string()),
        }
    }
}

pub(crate) fn token_command(
    database: &DatabaseUrl,
    secret_file: Option<&Path>,
    command: TokenCommand,
) -> Result<(), CliError> {
    let db = open(database)?;
    let mut conn = db.get()?;
    match command {
        TokenCommand::Create {
            merchant,
            name,
            scopes,
            expires_in_days,
        } => {
            let merchant = merchants::find_by_id_or_name(&mut conn, &merchant)?
                .ok_or_else(|| CliError::Refused(format!("no merchant has the name or ID \"{merchant}\"")))?;
            // The server's pepper, so the server finds the token by its digest.
            let secret = Secret::load(std::env::var("KEYWARD_SECRET").ok(), secret_file, database)?;
            let request = CreateToken {
                name,
                scopes,
                expires_in_days,
                request_id: None,
            };
            let created = tokens::create(
                &mut conn,
                &merchant.id,
                &request,
                &Actor::cli(),
                &crate::startup::key_pepper(&secret),
                Clock::default().now(),
            )?;
            println!("{}", created.token.expose());
        }
    }
    Ok(())
}
