//! The command line: the clap definitions and the dispatch. Each command family lives in its
//! own file, named after the command; what several share (data directory, cache directory,
//! consent notice, runtime) is in `common.rs`. The commands call the same services as the API,
//! as `service::Actor::Operator`.

use clap::{Parser, Subcommand};

use crate::config::Settings;

/// `println!` for a command's output, returning the write's result instead of panicking: with
/// `?` after it, a reader that stopped reading (`rollcall eval … | head`) ends the command as
/// [`StdoutClosed`], any other failure (a full disk) as an error that says where it happened.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout(), $($arg)*).map_err($crate::cli::stdout_error)
    }};
}
/// `print!` as [`outln`] does `println!`.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        write!(std::io::stdout(), $($arg)*).map_err($crate::cli::stdout_error)
    }};
}

mod backup;
mod common;
mod consent;
mod enroll;
mod eval;
mod import_roster;
mod import_seed;
mod mail;
mod migrate_db;
mod models;
mod serve;
mod vision;

#[derive(Debug, Parser)]
#[command(
    name = "rollcall",
    version,
    about = "Face-recognition school attendance server"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The commands. Each one's help text is the doc comment of its arguments' type, in its file
/// (`serve`'s and `openapi`'s are here).
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server.
    Serve(Box<Settings>),
    /// Print the OpenAPI document (JSON) to stdout.
    Openapi,
    #[command(subcommand)]
    Models(models::ModelsCommand),
    Embed(vision::Embed),
    Faces(vision::Faces),
    #[command(subcommand)]
    Eval(eval::EvalCommand),
    Enroll(enroll::Enroll),
    ImportSeed(import_seed::ImportSeed),
    ImportRoster(import_roster::ImportRoster),
    Consent(consent::Consent),
    Backup(backup::Backup),
    Restore(backup::Restore),
    #[command(subcommand)]
    Mail(mail::MailCommand),
    MigrateDb(migrate_db::MigrateDb),
}

pub fn run() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Serve(settings) => serve::serve(*settings),
        Command::Openapi => serve::openapi(),
        Command::Models(command) => command.run(),
        Command::Embed(args) => args.run(),
        Command::Faces(args) => args.run(),
        Command::Eval(command) => command.run(),
        Command::Enroll(args) => args.run(),
        Command::ImportSeed(args) => args.run(),
        Command::ImportRoster(args) => args.run(),
        Command::Consent(args) => args.run(),
        Command::Backup(args) => args.run(),
        Command::Restore(args) => args.run(),
        Command::Mail(command) => command.run(),
        Command::MigrateDb(args) => args.run(),
    }
}

/// Standard output was closed by its reader: the command stops where it was, and `main` exits
/// with status 141 (a shell's figure for a process ended by SIGPIPE) without a message.
#[derive(Debug, thiserror::Error)]
#[error("standard output was closed")]
pub struct StdoutClosed;

/// What [`outln`] and [`out`] return for a failed write to standard output.
pub(crate) fn stdout_error(e: std::io::Error) -> anyhow::Error {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        anyhow::Error::new(StdoutClosed)
    } else {
        anyhow::Error::new(e).context("writing to standard output")
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// clap's own consistency checks over every command (ids, conflicts, defaults).
    #[test]
    fn cli_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
