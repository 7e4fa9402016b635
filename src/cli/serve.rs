//! `rollcall serve` runs the HTTP server; `rollcall openapi` prints its API document.

use anyhow::Context;

use crate::App;
use crate::config::Settings;
use crate::domain::Role;

/// `rollcall openapi`: the OpenAPI document (JSON) on stdout.
pub fn openapi() -> anyhow::Result<()> {
    let (_, doc) = crate::api::documented();
    outln!("{}", doc.to_pretty_json()?)?;
    Ok(())
}

/// `rollcall serve`: the HTTP server, until Ctrl-C or SIGTERM.
pub fn serve(settings: Settings) -> anyhow::Result<()> {
    crate::telemetry::init(settings.log_format);
    // A server waits between photos: what a photo left in the heap goes back after 2 s of quiet.
    crate::vision::malloc::trim_when_idle(std::time::Duration::from_secs(2));
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
        outln!("rollcall listening on http://{addr}  (API docs: http://{addr}/docs)")?;
        app.serve(listener, shutdown_signal())
            .await
            .context("serving")?;
        tracing::info!("stopped");
        Ok(())
    })
}

/// Tell the operator, on the console, about accounts created at start-up. The server runs on
/// whether or not anyone reads its standard output.
fn announce(app: &App) {
    let b = &app.bootstrap;
    if let Some((email, generated)) = &b.admin {
        let told = match generated {
            Some(pw) => outln!(
                "\n  First administrator created: {email}\n  One-time password (shown only now, change it after logging in): {pw}\n"
            ),
            None => outln!("\n  First administrator created: {email}\n"),
        };
        told.ok();
    }
    for (role, email) in &b.demo {
        let kind = match role {
            Role::Teacher => "teacher",
            Role::Student => "student",
            Role::Admin => "admin",
        };
        outln!(
            "  Demo {kind}: {email} / {}",
            crate::service::accounts::DEMO_PASSWORD
        )
        .ok();
    }
    if !b.demo.is_empty() {
        if let Some((email, None)) = &b.admin {
            outln!(
                "  Demo admin: {email} / {}",
                crate::service::accounts::DEMO_PASSWORD
            )
            .ok();
        }
        outln!().ok();
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
