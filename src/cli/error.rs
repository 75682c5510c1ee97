//! How a command fails: one error type whose message is printed as one line, and the
//! database every local command but `serve` opens.

use std::process::ExitCode;

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
    Remote(#[from] super::management_api::RemoteError),
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

pub(crate) fn open(database: &DatabaseUrl) -> Result<Db, CliError> {
    let db = Db::connect(database)?;
    db.migrate()?;
    Ok(db)
}
