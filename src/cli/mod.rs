//! The command line: serve, migrate, and the merchant, user and key commands.

mod accounts;
mod error;
mod keys;
mod serve;
mod tokens;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{ConfigError, DatabaseUrl};
use crate::db::Db;
use accounts::{MerchantCommand, UserCommand};
use error::CliError;
use keys::KeyCommand;
use serve::ServeArgs;
use tokens::TokenCommand;

/// Keyward: API-key management with a server-rendered dashboard.
#[derive(Debug, Parser)]
#[command(name = "keyward", version, about)]
pub struct Cli {
    /// Database: sqlite://PATH, a bare path, or postgres://USER@HOST:PORT/DB.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://keyward.db",
        global = true
    )]
    pub(crate) database_url: String,

    /// File holding the server secret (at least 64 bytes); KEYWARD_SECRET gives it inline.
    /// The server signs sessions with it, and the server and the `key` commands derive
    /// the key pepper from it, so both must be given the same one.
    #[arg(long, env = "KEYWARD_SECRET_FILE", global = true)]
    pub(crate) secret_file: Option<PathBuf>,

    #[command(subcommand)]
    pub(crate) command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the server (the default).
    Serve(ServeArgs),
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage merchants.
    #[command(subcommand)]
    Merchant(MerchantCommand),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API keys, through the same rules and history as the dashboard.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Create management tokens, for the management API.
    #[command(subcommand)]
    Token(TokenCommand),
}

/// Parses the command line, runs the command, and prints any error as one line.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.command.is_none() || matches!(cli.command, Some(Command::Serve(_))));
    match execute(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("keyward: {}", crate::error::cause_chain(&err));
            err.exit_code()
        }
    }
}

fn init_tracing(serving: bool) {
    let default = if serving { "info" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Colour codes only for a person watching: a journal or a log file gets plain text.
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(terminal)
        .init();
}

impl ServeArgs {
    /// `keyward` with no subcommand serves with the same settings as `keyward serve`,
    /// read from the environment.
    pub(crate) fn from_env() -> Result<Self, CliError> {
        match Cli::try_parse_from(["keyward", "serve"]) {
            Ok(Cli {
                command: Some(Command::Serve(args)),
                ..
            }) => Ok(args),
            Ok(_) => Err(CliError::Refused("could not read the serve settings".into())),
            Err(err) => {
                let message = err.to_string();
                let first_line = message.lines().next().unwrap_or_default();
                Err(CliError::Config(ConfigError::Environment(
                    first_line.trim_start_matches("error: ").to_owned(),
                )))
            }
        }
    }
}

fn execute(cli: Cli) -> Result<(), CliError> {
    let database = DatabaseUrl::parse(&cli.database_url)?;
    database.check()?;
    let command = match cli.command {
        Some(command) => command,
        None => Command::Serve(ServeArgs::from_env()?),
    };
    let secret_file = cli.secret_file.as_deref();
    match command {
        Command::Serve(args) => serve::serve(database, secret_file, args),
        Command::Migrate => {
            let applied = Db::connect(&database)?.migrate()?;
            println!(
                "Applied {} migration(s) on {}.",
                applied.len(),
                database.backend_name()
            );
            Ok(())
        }
        Command::Merchant(MerchantCommand::Create { name }) => accounts::create_merchant(&database, &name),
        Command::User(UserCommand::Create(args)) => accounts::create_user(&database, args),
        Command::User(UserCommand::Disable { email }) => accounts::disable_user(&database, &email),
        Command::Key(command) => keys::key_command(&database, secret_file, command),
        Command::Token(command) => tokens::token_command(&database, secret_file, command),
    }
}
