//! The one integration-test binary: every test drives the real server over HTTP or the
//! real binary from a shell, on SQLite and on Postgres.

mod support;

mod actions;
mod allowlist;
mod api;
mod architecture;
mod audit;
mod browser;
mod cli;
mod cli_remote;
mod csrf;
mod deploy;
mod diagnosis;
mod drain;
mod faults;
mod gateway;
mod hardening;
mod invitations;
mod keys;
mod manage_keys;
mod manage_rest;
mod members;
mod metrics;
mod operations;
mod outages;
mod pages;
mod passwords;
mod recheck;
mod request_log;
mod roles;
mod same_rule_everywhere;
mod scaleout;
mod security;
mod sessions;
mod shared_limits;
mod sign_in;
mod support_console;
mod tokens;
