//! `rollcall mail`: the e-mail outbox's dead messages, and retrying them.

use anyhow::Context;
use clap::Subcommand;

use super::common::{DataDir, runtime};

/// The e-mail outbox: list messages that could not be delivered, retry them (safe while
/// the server runs; its worker sends retried messages on its next poll).
#[derive(Debug, Subcommand)]
pub enum MailCommand {
    /// Messages given up on (dead), newest first: id, kind, recipient, attempts, last error.
    Dead {
        #[command(flatten)]
        data_dir: DataDir,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Give dead messages a fresh set of attempts, due now: the one `ID`, or all with `--all`.
    Retry {
        #[command(flatten)]
        data_dir: DataDir,
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        id: Option<i64>,
        #[arg(long)]
        all: bool,
    },
}

impl MailCommand {
    /// The outbox's dead messages, and retrying them, through the same service functions as the
    /// admin API (same audit entries; actor: the operator, `via cli`).
    pub fn run(self) -> anyhow::Result<()> {
        use crate::service::{Actor, mail};
        let runtime = runtime()?;
        match self {
            MailCommand::Dead { data_dir, limit } => {
                let db = data_dir.open_db()?;
                let (rows, _) = runtime.block_on(mail::list_messages(&db, "dead", limit, 0))?;
                for r in &rows {
                    outln!(
                        "{}\t{}\t{}\t{} attempts\t{}",
                        r.id,
                        r.kind,
                        r.recipient,
                        r.attempts,
                        r.last_error.as_deref().unwrap_or("")
                    )?;
                }
                outln!("{} dead message(s)", rows.len())?;
            }
            MailCommand::Retry { data_dir, id, all } => {
                let db = data_dir.open_db()?;
                let n = match (id, all) {
                    (Some(id), false) => {
                        runtime
                            .block_on(mail::retry_message(&db, Actor::Operator, id))
                            .with_context(|| format!("no dead message with id {id}"))?;
                        1
                    }
                    _ => runtime.block_on(mail::retry_all_dead(&db, Actor::Operator))?,
                };
                outln!("{n} message(s) queued again")?;
            }
        }
        Ok(())
    }
}
