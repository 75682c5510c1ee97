//! `keyward merchant …` and `keyward user …`: accounts made and disabled from the
//! command line, under the dashboard's rules.

use std::io::BufRead;

use clap::{Args, Subcommand};

use super::error::{CliError, open};
use crate::clock::Clock;
use crate::config::DatabaseUrl;
use crate::db::{DbError, merchants, users};
use crate::domain::{Actor, Email, MerchantName, Password, PersonName, Role, generate_password};
use crate::service::members;

#[derive(Debug, Subcommand)]
pub(crate) enum MerchantCommand {
    /// Create a merchant and print its ID.
    Create {
        /// The merchant's name.
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum UserCommand {
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
pub(crate) struct UserCreateArgs {
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

pub(crate) fn create_merchant(database: &DatabaseUrl, raw_name: &str) -> Result<(), CliError> {
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

pub(crate) fn create_user(database: &DatabaseUrl, args: UserCreateArgs) -> Result<(), CliError> {
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

pub(crate) fn disable_user(database: &DatabaseUrl, raw_email: &str) -> Result<(), CliError> {
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
