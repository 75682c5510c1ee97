//! How a command fails: one error type whose message is printed as one line (with
//! what a call to a server's management API can fail with), and the database every
//! local command but `serve` opens.

use std::process::ExitCode;

use reqwest::{StatusCode, Url};

use crate::config::{ConfigError, DatabaseUrl};
use crate::db::{Db, DbError};
use crate::domain::ValidationError;
use crate::service::keys::KeyError;

/// A command that failed; its message is printed as one line.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error("{0}")]
    Refused(String),
    /// The command line asks for something that cannot go together (exit code 2, as
    /// for a wrong setting).
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Remote(#[from] RemoteError),
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
    pub(crate) fn exit_code(&self) -> ExitCode {
        match self {
            CliError::Config(_) | CliError::Usage(_) => ExitCode::from(2),
            _ => ExitCode::FAILURE,
        }
    }
}

/// Why a call to the management API failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RemoteError {
    /// The API refused the request with its JSON error.
    #[error("{message} ({code})")]
    Refused {
        /// The stable code of the rule or error (`rotation_in_progress`).
        code: String,
        /// What the API said, for a person.
        message: String,
    },
    /// No answer came, even after the retry.
    #[error("no answer from {server}")]
    Unreachable {
        /// The server's address.
        server: Url,
        /// What the HTTP client saw.
        #[source]
        source: reqwest::Error,
    },
    /// An answer without the management API's error shape: not a Keyward server, a
    /// proxy's error page, or a redirect.
    #[error("{server} answered {status} without a Keyward error; is --url the Keyward server's address?")]
    NotKeyward {
        /// The server's address.
        server: Url,
        /// The status it answered with.
        status: StatusCode,
    },
    /// A successful answer whose body is not the resource the API documents.
    #[error("{server} answered with a body that is not a Keyward {what}")]
    Unreadable {
        /// The server's address.
        server: Url,
        /// The resource expected.
        what: &'static str,
        /// What did not match.
        #[source]
        source: serde_json::Error,
    },
    /// The HTTP client could not be set up (its TLS library).
    #[error("the HTTP client could not start")]
    Client(#[source] reqwest::Error),
}

pub(crate) fn open(database: &DatabaseUrl) -> Result<Db, CliError> {
    let db = Db::connect(database)?;
    db.migrate()?;
    Ok(db)
}
