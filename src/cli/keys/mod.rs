//! `keyward key …`: the dashboard's key actions, on the database through the same
//! service and rules ([`local::Local`]), or from anywhere through the management API
//! ([`remote::Remote`]). Each command is read and printed here once, for both.

mod backend;
mod local;
mod remote;
mod text;

use std::io::{self, Write};

use clap::{Args, Subcommand};
use serde::Serialize;

use super::error::CliError;
use crate::api::manage::keys::requests::{OUTCOME_HINT, parse_outcome};
use crate::api::manage::keys::{CreatedKey, EventList, Key, KeyPage, RequestPage, RotatedKey};
use crate::domain::{Environment, GracePeriod, IpAllowlist, parse_rate_limit};
use backend::{KeyBackend, KeyChanges, NewKey, StateChange, key_id};
pub(crate) use local::Local;
pub(crate) use remote::Remote;

#[derive(Debug, Subcommand)]
pub(crate) enum KeyCommand {
    /// Generate a key and print it, once, alone on standard output.
    Create {
        /// The merchant (name or ID); not with --url, where the token's merchant is used.
        #[arg(long)]
        merchant: Option<String>,
        /// The key's name.
        #[arg(long)]
        name: String,
        /// What the key is for.
        #[arg(long)]
        description: Option<String>,
        /// A scope to grant (repeat for several).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// Days until the key expires (renewable); without it, the key never expires.
        #[arg(long)]
        expires_in_days: Option<u32>,
        /// Requests the key may make per minute; without it, no limit.
        #[arg(long)]
        rate_limit: Option<String>,
        /// live (the default) or test: a test key is `kw_test_…`, with its own list and
        /// active-key limit.
        #[arg(long, value_name = "live|test")]
        environment: Option<String>,
        /// An IPv4/IPv6 address or CIDR range the key may be used from (repeat for
        /// several); without it, any address.
        #[arg(long = "allow-ip", value_name = "ADDRESS_OR_CIDR")]
        allow_ips: Vec<String>,
    },
    /// List a merchant's keys.
    List {
        /// The merchant (name or ID); not with --url, where the token's merchant is used.
        #[arg(long)]
        merchant: Option<String>,
        /// Only live or only test keys (both when left out).
        #[arg(long, value_name = "live|test")]
        environment: Option<String>,
    },
    /// Show a key: its ID, masked key, status, scopes, limits and dates.
    Show {
        /// The key's ID.
        key_id: String,
    },
    /// Change a key's name, description, scopes (where the policy allows) or allowed
    /// addresses.
    Edit {
        /// The key's ID.
        key_id: String,
        #[command(flatten)]
        changes: EditArgs,
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
    /// Renew a key with a lifetime: it expires one lifetime from now.
    Renew {
        /// The key's ID.
        key_id: String,
    },
    /// Delete a key: hidden from lists, its history kept.
    Delete {
        /// The key's ID.
        key_id: String,
    },
    /// Generate a key with another key's description, scopes, lifetime and rate limit,
    /// and print it, once, alone on standard output.
    Duplicate {
        /// The ID of the key to copy.
        key_id: String,
        /// The new key's name (default: the source's name with " (copy)").
        #[arg(long)]
        name: Option<String>,
    },
    /// Print a key's history, oldest first: when, what, who.
    History {
        /// The key's ID.
        key_id: String,
    },
    /// Print the newest 100 rows of a key's request log, newest first: when, outcome,
    /// how many, from where, method and path, what a refusal rested on, request ID.
    Requests {
        /// The key's ID.
        key_id: String,
        /// Only requests with this outcome: `accepted` or an error code
        /// (`insufficient_scope`, `invalid_key`…).
        #[arg(long)]
        outcome: Option<String>,
    },
}

/// `--environment`: `live` or `test`, read after the command line so that a wrong one is
/// refused in one line, like every other value.
fn environment_named(raw: Option<&str>) -> Result<Option<Environment>, CliError> {
    raw.map(|raw| {
        raw.parse()
            .map_err(|_| CliError::Usage(format!("--environment must be live or test, not {raw:?}")))
    })
    .transpose()
}

/// What `key edit` changes; what is not given keeps its value.
#[derive(Debug, Args)]
#[group(required = true, multiple = true)]
pub(crate) struct EditArgs {
    /// The new name.
    #[arg(long)]
    name: Option<String>,
    /// The new description.
    #[arg(long)]
    description: Option<String>,
    /// The scopes the key carries from now on, replacing its own (repeat for several).
    #[arg(long = "scope", conflicts_with = "clear_scopes")]
    scopes: Vec<String>,
    /// Take every scope away.
    #[arg(long)]
    clear_scopes: bool,
    /// The addresses and CIDR ranges the key may be used from from now on, replacing its
    /// own (repeat for several).
    #[arg(
        long = "allow-ip",
        value_name = "ADDRESS_OR_CIDR",
        conflicts_with = "allow_any_ip"
    )]
    allow_ips: Vec<String>,
    /// Let the key be used from any address again (empties its list).
    #[arg(long)]
    allow_any_ip: bool,
}

impl TryFrom<EditArgs> for KeyChanges {
    type Error = CliError;

    fn try_from(args: EditArgs) -> Result<Self, CliError> {
        let scopes = if args.clear_scopes {
            Some(Vec::new())
        } else {
            Some(args.scopes).filter(|scopes| !scopes.is_empty())
        };
        let allowed_ips = if args.allow_any_ip {
            Some(Vec::new())
        } else if args.allow_ips.is_empty() {
            None
        } else {
            Some(IpAllowlist::parse_entries(&args.allow_ips)?.entries())
        };
        Ok(Self {
            name: args.name,
            description: args.description,
            scopes,
            allowed_ips,
        })
    }
}

/// Runs `command` on `backend` and prints its result: with `json`, the API's resource on
/// standard output; otherwise a new key alone on standard output, what was asked to be
/// shown on standard output, and a change's sentence on standard error.
pub(crate) fn run(command: KeyCommand, backend: &mut dyn KeyBackend, json: bool) -> Result<(), CliError> {
    match command {
        KeyCommand::Create {
            merchant,
            name,
            description,
            scopes,
            expires_in_days,
            rate_limit,
            environment,
            allow_ips,
        } => {
            let key = NewKey {
                name,
                description,
                scopes,
                expires_in_days,
                rate_limit: parse_rate_limit(rate_limit.as_deref().unwrap_or_default())?,
                environment: environment_named(environment.as_deref())?.unwrap_or_default(),
                allowed_ips: IpAllowlist::parse_entries(&allow_ips)?.entries(),
            };
            let created = backend.create(merchant.as_deref(), &key)?;
            print_new(json, &created)
        }
        KeyCommand::List {
            merchant,
            environment,
        } => {
            let keys = backend.list(merchant.as_deref(), environment_named(environment.as_deref())?)?;
            if json {
                print_json(&KeyPage {
                    data: keys,
                    next_cursor: None,
                })
            } else {
                written(text::print_list(&mut io::stdout().lock(), &keys))
            }
        }
        KeyCommand::Show { key_id: raw } => {
            let key = backend.show(&key_id(&raw)?)?;
            if json {
                print_json(&key)
            } else {
                written(text::print_key(&mut io::stdout().lock(), &key))
            }
        }
        KeyCommand::Edit { key_id: raw, changes } => {
            let key = backend.edit(&key_id(&raw)?, &changes.try_into()?)?;
            print_changed(json, &key, format!("Edited {} ({}).", key.name, key.masked_key))
        }
        KeyCommand::Rotate { key_id: raw, grace } => {
            let key_id = key_id(&raw)?;
            let grace = grace.as_deref().map(GracePeriod::parse).transpose()?;
            let rotated = backend.rotate(&key_id, grace)?;
            print_new(json, &rotated)
        }
        KeyCommand::Revoke { key_id: raw } => change_state(backend, &raw, StateChange::Revoke, json),
        KeyCommand::Disable { key_id: raw } => change_state(backend, &raw, StateChange::Disable, json),
        KeyCommand::Enable { key_id: raw } => change_state(backend, &raw, StateChange::Enable, json),
        KeyCommand::Renew { key_id: raw } => change_state(backend, &raw, StateChange::Renew, json),
        KeyCommand::Delete { key_id: raw } => {
            let key = backend.delete(&key_id(&raw)?)?;
            // The API answers a deletion with no body; so does --json.
            if !json {
                eprintln!("Deleted {} ({}).", key.name, key.masked_key);
            }
            Ok(())
        }
        KeyCommand::Duplicate { key_id: raw, name } => {
            let created = backend.duplicate(&key_id(&raw)?, name.as_deref())?;
            print_new(json, &created)
        }
        KeyCommand::History { key_id: raw } => {
            let events = backend.history(&key_id(&raw)?)?;
            if json {
                print_json(&EventList { data: events })
            } else {
                written(text::print_history(&mut io::stdout().lock(), &events))
            }
        }
        KeyCommand::Requests { key_id: raw, outcome } => {
            let outcome = outcome
                .map(|raw| {
                    parse_outcome(&raw).ok_or_else(|| CliError::Refused(format!("--outcome: {OUTCOME_HINT}")))
                })
                .transpose()?;
            let rows = backend.requests(&key_id(&raw)?, outcome.as_deref())?;
            if json {
                print_json(&RequestPage {
                    data: rows,
                    next_cursor: None,
                })
            } else {
                written(text::print_requests(&mut io::stdout().lock(), &rows))
            }
        }
    }
}

fn change_state(
    backend: &mut dyn KeyBackend,
    raw: &str,
    change: StateChange,
    json: bool,
) -> Result<(), CliError> {
    let key = backend.change_state(&key_id(raw)?, change)?;
    print_changed(json, &key, text::changed(change, &key))
}

/// What writing to standard output came to. A reader that closed the pipe early
/// (`| head`) has what it wanted: that ends the output quietly.
fn written(result: io::Result<()>) -> Result<(), CliError> {
    match result {
        Err(err) if err.kind() != io::ErrorKind::BrokenPipe => Err(err.into()),
        _ => Ok(()),
    }
}

fn print_json(value: &impl Serialize) -> Result<(), CliError> {
    let mut out = io::stdout().lock();
    written(
        serde_json::to_writer_pretty(&mut out, value)
            .map_err(io::Error::from)
            .and_then(|()| writeln!(out)),
    )
}

/// A changed key: the resource, or the sentence saying what happened.
fn print_changed(json: bool, key: &Key, sentence: String) -> Result<(), CliError> {
    if json {
        return print_json(key);
    }
    eprintln!("{sentence}");
    Ok(())
}

/// A new key version with the secret it was given, the one time it is given.
trait NewSecret {
    /// The new version.
    fn key(&self) -> &Key;
    /// Its whole key; `None` when the answer that held it was lost.
    fn secret(&self) -> Option<&str>;
    /// Why there is no secret.
    fn secret_note(&self) -> Option<&str>;
}

impl NewSecret for CreatedKey {
    fn key(&self) -> &Key {
        &self.key
    }
    fn secret(&self) -> Option<&str> {
        self.secret.as_deref()
    }
    fn secret_note(&self) -> Option<&str> {
        self.secret_note.as_deref()
    }
}

impl NewSecret for RotatedKey {
    fn key(&self) -> &Key {
        &self.key
    }
    fn secret(&self) -> Option<&str> {
        self.secret.as_deref()
    }
    fn secret_note(&self) -> Option<&str> {
        self.secret_note.as_deref()
    }
}

/// A new key: the resource, or the key alone on standard output. A key whose secret
/// came in an earlier answer that was lost (the retry was replayed) exists, but its
/// secret cannot be shown again: that is said, and the command fails.
fn print_new(json: bool, new: &(impl Serialize + NewSecret)) -> Result<(), CliError> {
    if json {
        return print_json(new);
    }
    match new.secret() {
        // A new key nobody read is lost: that is a failure, whatever closed the output.
        Some(secret) => Ok(writeln!(io::stdout().lock(), "{secret}")?),
        None => {
            let key = new.key();
            Err(CliError::Refused(format!(
                "{} ({}, ID {}) was made, but its secret cannot be shown: {} Rotate it to get a new one.",
                key.name,
                key.masked_key,
                key.id,
                new.secret_note().unwrap_or("the server did not send it.")
            )))
        }
    }
}
