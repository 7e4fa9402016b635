//! The command line: `serve` runs the server; `openapi` prints the API document.

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::App;
use crate::config::Settings;
use crate::domain::Role;

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

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server.
    Serve(Box<Settings>),
    /// Print the OpenAPI document (JSON) to stdout.
    Openapi,
    /// Write a consistent copy of the database (safe while the server runs).
    Backup {
        /// Data directory of the server.
        #[arg(long, env = "ROLLCALL_DATA_DIR", default_value = "data")]
        data_dir: std::path::PathBuf,
        /// File to create.
        out: std::path::PathBuf,
    },
}

pub fn run() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Serve(settings) => serve(*settings),
        Command::Openapi => {
            let (_, doc) = crate::api::documented();
            println!("{}", doc.to_pretty_json()?);
            Ok(())
        }
        Command::Backup { data_dir, out } => {
            let path = data_dir.join(crate::config::DATABASE_FILE);
            anyhow::ensure!(path.is_file(), "no database at {}", path.display());
            crate::storage::Db::open(&path)?.backup(&out)?;
            println!("backup written to {}", out.display());
            Ok(())
        }
    }
}

fn serve(settings: Settings) -> anyhow::Result<()> {
    crate::telemetry::init(settings.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        tracing::info!(settings = settings.redacted_summary(), "starting rollcall");
        let bind = settings.bind;
        let app = App::build(settings).await?;
        announce(&app);
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .with_context(|| format!("binding {bind}"))?;
        let addr = listener.local_addr()?;
        tracing::info!(%addr, "listening");
        println!("rollcall listening on http://{addr}  (API docs: http://{addr}/docs)");
        app.serve(listener, shutdown_signal())
            .await
            .context("serving")?;
        tracing::info!("stopped");
        Ok(())
    })
}

/// Tell the operator, on the console, about accounts created at start-up.
fn announce(app: &App) {
    let b = &app.bootstrap;
    if let Some((email, generated)) = &b.admin {
        match generated {
            Some(pw) => println!(
                "\n  First administrator created: {email}\n  One-time password (shown only now, change it after logging in): {pw}\n"
            ),
            None => println!("\n  First administrator created: {email}\n"),
        }
    }
    for (role, email) in &b.demo {
        let kind = match role {
            Role::Teacher => "teacher",
            Role::Student => "student",
            Role::Admin => "admin",
        };
        println!(
            "  Demo {kind}: {email} / {}",
            crate::service::accounts::DEMO_PASSWORD
        );
    }
    if !b.demo.is_empty() {
        if let Some((email, None)) = &b.admin {
            println!(
                "  Demo admin: {email} / {}",
                crate::service::accounts::DEMO_PASSWORD
            );
        }
        println!();
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown requested");
}
