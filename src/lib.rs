//! Keyward: API-key management with a server-rendered dashboard.

pub mod api;
pub mod cli;
pub mod clock;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod service;
pub mod startup;
pub mod usage;
pub mod web;
