//! Integration tests: each test spawns the real server on a random port with a fresh data dir
//! and talks HTTP to it.

// A test's panic is its failure report: unwrap and expect are how a test says "this must hold".
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod accounts;
mod analytics;
mod attendance;
mod auth;
mod browser;
mod cli;
mod cluster;
mod connections;
mod contract;
mod drafts;
mod errors;
mod faults;
mod gallery;
mod guards;
mod hostile;
mod images;
mod import;
mod invitations;
mod limits;
mod load;
mod mail;
mod memory;
mod migrate_db;
mod openapi;
mod ops;
mod privacy;
mod recovery;
mod roster;
mod secrets;
mod seed_access;
mod seedday;
mod settings;
mod students;
mod subjects;
mod support;
mod tenancy;
