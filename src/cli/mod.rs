//! The command line: serve, migrate, and the merchant, user and key commands.

mod accounts;
mod error;
mod keys;
mod management_api;
mod serve;
mod tokens;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::config::{ConfigError, DatabaseUrl};
use crate::db::Db;
use accounts::{MerchantCommand, UserCommand};
use error::CliError;
use keys::{KeyCommand, Local, Remote};
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
        global = true,
        // `--help` would print a Postgres password set in the environment.
        hide_env_values = true
    )]
    pub(crate) database_url: String,

    /// File holding the server secret (at least 64 bytes); KEYWARD_SECRET gives it inline.
    /// The server signs sessions with it, and the server and the `key` commands derive
    /// the key pepper from it, so both must be given the same one.
    #[arg(long, env = "KEYWARD_SECRET_FILE", global = true)]
    pub(crate) secret_file: Option<PathBuf>,

    /// A Keyward server (https://…): the `key` commands then go through its management
    /// API, with no database or secret here.
    #[arg(long, env = "KEYWARD_URL", global = true)]
    pub(crate) url: Option<String>,

    /// The management token (kw_mgmt_…) the `key` commands use with --url.
    #[arg(long, env = "KEYWARD_TOKEN", global = true, hide_env_values = true)]
    pub(crate) token: Option<String>,

    /// Print what the `key` commands return as the management API's JSON resources.
    #[arg(long, global = true)]
    pub(crate) json: bool,

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
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|err| err.exit());
    init_tracing(cli.command.is_none() || matches!(cli.command, Some(Command::Serve(_))));
    match execute(cli, &matches) {
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

/// True when `id` was typed on the command line, before or after the subcommand (not
/// only found in the environment).
fn typed(matches: &ArgMatches, id: &str) -> bool {
    let mut matches = Some(matches);
    while let Some(here) = matches {
        if here.value_source(id) == Some(ValueSource::CommandLine) {
            return true;
        }
        matches = here.subcommand().map(|(_, sub)| sub);
    }
    false
}

fn execute(cli: Cli, matches: &ArgMatches) -> Result<(), CliError> {
    let Cli {
        database_url,
        secret_file,
        url,
        token,
        json,
        command,
    } = cli;
    // With a server's address the key commands touch no database and no secret here.
    let command = match (command, &url) {
        (Some(Command::Key(command)), Some(url)) => {
            return keys::run(command, &mut Remote::new(url, token.as_deref())?, json);
        }
        (command, _) => command,
    };
    // KEYWARD_URL and KEYWARD_TOKEN may be set for the key commands; only a flag typed
    // where it does nothing is a mistake.
    let idle_here: &[&str] = match command {
        Some(Command::Key(_)) => &["token"],
        _ => &["url", "token", "json"],
    };
    if let Some(flag) = idle_here.iter().find(|id| typed(matches, id)) {
        return Err(CliError::Usage(match *flag {
            "token" => "--token goes with --url, the server whose management API to use".to_owned(),
            flag => format!("--{flag} goes with the key commands only"),
        }));
    }
    let database = DatabaseUrl::parse(&database_url)?;
    database.check()?;
    let command = match command {
        Some(command) => command,
        None => Command::Serve(ServeArgs::from_env()?),
    };
    let secret_file = secret_file.as_deref();
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
        Command::Key(command) => keys::run(command, &mut Local::open(&database, secret_file)?, json),
        Command::Token(command) => tokens::token_command(&database, secret_file, command),
    }
}
