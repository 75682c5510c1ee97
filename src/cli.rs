//! The command line: serve, migrate, and the merchant and user commands.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::clock::Clock;
use crate::config::{self, ConfigError, DatabaseUrl, Secret, SessionSettings, Settings};
use crate::db::keys::{self as db_keys, KeyRow};
use crate::db::{Db, DbConnection, DbError, key_policies, merchants, users};
use crate::domain::{
    Actor, Email, GracePeriod, KeyPepper, KeyStatus, MerchantName, Password, PersonName, Role,
    ValidationError, generate_password,
};
use crate::service::keys::{self, GenerateRequest, KeyError};
use crate::service::members;
use crate::startup::{Application, FirstAdmin};

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
    database_url: String,

    /// File holding the server secret (at least 64 bytes); KEYWARD_SECRET gives it inline.
    /// The server signs sessions with it, and the server and the `key` commands derive
    /// the key pepper from it, so both must be given the same one.
    #[arg(long, env = "KEYWARD_SECRET_FILE", global = true)]
    secret_file: Option<PathBuf>,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
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
}

#[derive(Debug, Subcommand)]
enum KeyCommand {
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

#[derive(Debug, Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "KEYWARD_BIND", default_value = "127.0.0.1:8080")]
    bind: String,
    /// Sign out after this long without a request (e.g. 30m).
    #[arg(long, env = "KEYWARD_SESSION_IDLE_TIMEOUT", default_value = "30m")]
    session_idle_timeout: String,
    /// Sign out this long after signing in, however active (e.g. 12h).
    #[arg(long, env = "KEYWARD_SESSION_ABSOLUTE_TIMEOUT", default_value = "12h")]
    session_absolute_timeout: String,
    /// HTTP worker threads (default: one per core).
    #[arg(long, env = "KEYWARD_WORKERS")]
    workers: Option<String>,
    /// Reverse proxies (IP addresses, comma-separated) whose X-Forwarded-For names the
    /// client, for the per-address limits.
    #[arg(long, env = "KEYWARD_TRUSTED_PROXIES", default_value = "")]
    trusted_proxies: String,
    /// How long a verified key is trusted without reading the database, in
    /// milliseconds: how long another process's change can take to be seen. 0 turns
    /// the cache off.
    #[arg(long, env = "KEYWARD_KEY_CACHE_TTL_MS", default_value = "1000")]
    key_cache_ttl_ms: String,
    /// How often scheduled work runs, in milliseconds: "grace ended" and "expired"
    /// history events, and removing expired sessions.
    #[arg(long, env = "KEYWARD_SWEEP_INTERVAL_MS", default_value = "60000")]
    sweep_interval_ms: String,
    /// How long a change's request body may take to arrive before it is refused with
    /// 408 and nothing changed (e.g. 10s).
    #[arg(long, env = "KEYWARD_BODY_TIMEOUT", default_value = "10s")]
    body_timeout: String,
}

#[derive(Debug, Subcommand)]
enum MerchantCommand {
    /// Create a merchant and print its ID.
    Create {
        /// The merchant's name.
        name: String,
    },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create a merchant member or a support user.
    Create(UserCreateArgs),
    /// Disable a user and end their sessions.
    Disable {
        /// The user's email.
        #[arg(long)]
        email: String,
    },
}

#[derive(Debug, Args)]
struct UserCreateArgs {
    /// Sign-in email.
    #[arg(long)]
    email: String,
    /// Display name.
    #[arg(long)]
    name: String,
    /// The merchant (name or ID) the user joins; needs --role.
    #[arg(long, requires = "role", conflicts_with = "support")]
    merchant: Option<String>,
    /// admin, developer or viewer.
    #[arg(long, requires = "merchant", conflicts_with = "support")]
    role: Option<String>,
    /// Make a support user, who reads every merchant and changes nothing.
    #[arg(long)]
    support: bool,
    /// Read the password from the first line of standard input instead of generating one.
    #[arg(long)]
    password_stdin: bool,
}

/// A command that failed; its message is printed as one line.
#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Database(#[from] DbError),
    #[error(transparent)]
    Startup(#[from] crate::startup::StartupError),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("reading or writing failed")]
    Io(#[from] std::io::Error),
}

impl CliError {
    fn exit_code(&self) -> ExitCode {
        match self {
            CliError::Config(_) => ExitCode::from(2),
            _ => ExitCode::FAILURE,
        }
    }
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

fn execute(cli: Cli) -> Result<(), CliError> {
    let database = DatabaseUrl::parse(&cli.database_url)?;
    database.check()?;
    let command = match cli.command {
        Some(command) => command,
        None => Command::Serve(ServeArgs::from_env()?),
    };
    let secret_file = cli.secret_file.as_deref();
    match command {
        Command::Serve(args) => serve(database, secret_file, args),
        Command::Migrate => {
            let applied = Db::connect(&database)?.migrate()?;
            println!(
                "Applied {} migration(s) on {}.",
                applied.len(),
                database.backend_name()
            );
            Ok(())
        }
        Command::Merchant(MerchantCommand::Create { name }) => create_merchant(&database, &name),
        Command::User(UserCommand::Create(args)) => create_user(&database, args),
        Command::User(UserCommand::Disable { email }) => disable_user(&database, &email),
        Command::Key(command) => key_command(&database, secret_file, command),
    }
}

impl ServeArgs {
    /// `keyward` with no subcommand serves with the same settings as `keyward serve`,
    /// read from the environment.
    fn from_env() -> Result<Self, CliError> {
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

fn settings(
    database: DatabaseUrl,
    secret_file: Option<&Path>,
    args: ServeArgs,
) -> Result<Settings, ConfigError> {
    let bind = config::parse_bind(&args.bind)?;
    let session = SessionSettings {
        idle_timeout: config::parse_duration("KEYWARD_SESSION_IDLE_TIMEOUT", &args.session_idle_timeout)?,
        absolute_timeout: config::parse_duration(
            "KEYWARD_SESSION_ABSOLUTE_TIMEOUT",
            &args.session_absolute_timeout,
        )?,
    };
    if session.idle_timeout > session.absolute_timeout {
        return Err(ConfigError::IdleLongerThanAbsolute);
    }
    let secret = Secret::load(std::env::var("KEYWARD_SECRET").ok(), secret_file, &database)?;
    Ok(Settings {
        database,
        bind,
        secret,
        session,
        workers: args.workers.as_deref().map(config::parse_workers).transpose()?,
        trusted_proxies: config::parse_trusted_proxies(&args.trusted_proxies)?,
        key_cache_ttl: config::parse_cache_ttl(&args.key_cache_ttl_ms)?,
        sweep_interval: config::parse_sweep_interval(&args.sweep_interval_ms)?,
        body_timeout: config::parse_duration("KEYWARD_BODY_TIMEOUT", &args.body_timeout)?.unsigned_abs(),
    })
}

fn serve(database: DatabaseUrl, secret_file: Option<&Path>, args: ServeArgs) -> Result<(), CliError> {
    let settings = settings(database, secret_file, args)?;
    let backend = settings.database.backend_name();
    actix_web::rt::System::new().block_on(async move {
        let mut app = Application::build(settings.clone(), Clock::default())?;
        if let Some(admin) = app.take_first_admin() {
            print_first_admin(&admin);
        }
        let address = std::net::SocketAddr::new(settings.bind.ip(), app.port());
        println!("Keyward is listening on http://{address} ({backend})");
        std::io::stdout().flush()?;
        app.run_until_stopped().await?;
        Ok(())
    })
}

fn print_first_admin(admin: &FirstAdmin) {
    println!(
        "Created the merchant \"{}\" and its first admin. Sign in with:",
        admin.merchant
    );
    println!("  Email:    {}", admin.email);
    println!("  Password: {}", admin.password.expose());
    println!("The password is shown only this once; store it somewhere safe.");
}

fn open(database: &DatabaseUrl) -> Result<Db, CliError> {
    let db = Db::connect(database)?;
    db.migrate()?;
    Ok(db)
}

fn create_merchant(database: &DatabaseUrl, raw_name: &str) -> Result<(), CliError> {
    let name = MerchantName::parse(raw_name)?;
    let db = open(database)?;
    let mut conn = db.get()?;
    match merchants::create(&mut conn, &name, Clock::default().now()) {
        Ok(merchant) => {
            println!("{}", merchant.id);
            Ok(())
        }
        Err(DbError::UniqueViolation(_)) => Err(CliError::Refused(format!(
            "a merchant named \"{}\" exists already",
            name.as_str()
        ))),
        Err(err) => Err(err.into()),
    }
}

/// Reads the new password for the account with `email` from the first line of
/// standard input, under the same rules as the dashboard.
fn read_password_line(email: &Email) -> Result<Password, CliError> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let line = line.strip_suffix('\n').unwrap_or(&line);
    let line = line.strip_suffix('\r').unwrap_or(line);
    Ok(Password::parse_new(line.to_owned(), email)?)
}

fn create_user(database: &DatabaseUrl, args: UserCreateArgs) -> Result<(), CliError> {
    let email = Email::parse(&args.email)?;
    let name = PersonName::parse(&args.name)?;
    let role = args
        .role
        .as_deref()
        .map(str::parse::<Role>)
        .transpose()
        .map_err(|err| CliError::Refused(err.to_string()))?;
    if args.merchant.is_none() && !args.support {
        return Err(CliError::Refused(
            "say which merchant the user joins (--merchant NAME_OR_ID --role ROLE) or make a support user (--support)".into(),
        ));
    }
    let (password, generated) = if args.password_stdin {
        (read_password_line(&email)?, false)
    } else {
        (generate_password(), true)
    };
    let db = open(database)?;
    let mut conn = db.get()?;
    let merchant = match &args.merchant {
        Some(raw) => Some(
            merchants::find_by_id_or_name(&mut conn, raw)?
                .ok_or_else(|| CliError::Refused(format!("no merchant has the name or ID \"{raw}\"")))?,
        ),
        None => None,
    };
    let access = match (&merchant, role) {
        (Some(merchant), Some(role)) => users::Access::Member {
            merchant_id: &merchant.id,
            role,
        },
        _ => users::Access::Support,
    };
    let user = members::create_member(
        &mut conn,
        users::NewUser {
            email: &email,
            name: &name,
            password_hash: &password.hash(),
            access,
            password_change_required: false,
        },
        &Actor::cli(),
        Clock::default().now(),
    )
    .map_err(|err| match err {
        DbError::UniqueViolation(_) => {
            CliError::Refused(format!("a user with the email {} exists already", email.as_str()))
        }
        other => other.into(),
    })?;
    match (&merchant, role) {
        (Some(merchant), Some(role)) => println!(
            "Created user {} ({}) as {} of \"{}\".",
            user.email, user.id, role, merchant.name
        ),
        _ => println!("Created support user {} ({}).", user.email, user.id),
    }
    if generated {
        println!("Password (shown once): {}", password.expose());
    }
    Ok(())
}

fn disable_user(database: &DatabaseUrl, raw_email: &str) -> Result<(), CliError> {
    let email = Email::parse(raw_email)?;
    let db = open(database)?;
    let mut conn = db.get()?;
    if users::disable(&mut conn, &email, Clock::default().now())? {
        println!("Disabled {} and ended their sessions.", email.as_str());
        Ok(())
    } else {
        Err(CliError::Refused(format!(
            "no user has the email {}",
            email.as_str()
        )))
    }
}

fn merchant_named(conn: &mut DbConnection, raw: &str) -> Result<merchants::Merchant, CliError> {
    merchants::find_by_id_or_name(conn, raw)?
        .ok_or_else(|| CliError::Refused(format!("no merchant has the name or ID \"{raw}\"")))
}

fn key_by_id(conn: &mut DbConnection, key_id: &str) -> Result<KeyRow, CliError> {
    let found = if uuid::Uuid::parse_str(key_id).is_ok() {
        db_keys::find_any(conn, key_id)?
    } else {
        None
    };
    found
        .filter(|row| row.status != KeyStatus::Deleted.as_str())
        .ok_or_else(|| CliError::Refused(format!("no key has the ID \"{key_id}\"")))
}

/// The same pepper the server derives: from KEYWARD_SECRET, the secret file, or on
/// SQLite the `keyward.secret` beside the database.
fn pepper(database: &DatabaseUrl, secret_file: Option<&Path>) -> Result<KeyPepper, CliError> {
    let secret = Secret::load(std::env::var("KEYWARD_SECRET").ok(), secret_file, database)?;
    Ok(crate::startup::key_pepper(&secret))
}

fn key_command(
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
                let status = row.facts()?.display_status(now);
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
