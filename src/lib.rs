//! rollcall: a face-recognition school attendance server in one binary.
//!
//! [`App::build`] turns [`config::Settings`] into a ready router and state; `main` only parses
//! the command line. See `docs/architecture.md` for the layering.

pub mod api;
pub mod cli;
pub mod config;
pub mod domain;
#[doc(hidden)]
pub mod fuzzing;
pub mod jobs;
pub mod matching;
pub mod notify;
pub mod server;
pub mod service;
pub mod storage;
pub mod telemetry;
pub mod vision;

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use axum::Router;
use tokio::net::TcpListener;

use crate::api::AppState;
use crate::config::Settings;
use crate::service::accounts::{self, Bootstrap};
use crate::service::auth::Auth;
use crate::storage::Db;

pub struct App {
    router: Router,
    pub state: AppState,
    /// What start-up created (first admin, demo accounts), for the console.
    pub bootstrap: Bootstrap,
    /// The SMTP relay; `None` when none is configured (mail stays in the outbox).
    mailer: Option<notify::Mailer>,
    /// Connection caps and read timeouts of the HTTP server.
    limits: server::Limits,
}

impl App {
    /// Validate settings, open and migrate the database, create the first admin if needed.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with_clock(settings, Arc::new(service::clock::SystemClock)).await
    }

    /// [`App::build`] with the clock that the authentication limits and the school's "today"
    /// read (tests fix or move it).
    pub async fn build_with_clock(
        settings: Settings,
        clock: Arc<dyn service::clock::Clock>,
    ) -> anyhow::Result<Self> {
        settings.validate()?;
        let limits = server::Limits::from_settings(&settings)?;
        let mailer = notify::Mailer::from_settings(&settings)?;
        let settings = Arc::new(settings);
        let s = Arc::clone(&settings);
        let (db, secret, bootstrap) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            std::fs::create_dir_all(&s.data_dir)
                .with_context(|| format!("creating data directory {}", s.data_dir.display()))?;
            // Fail at start, naming the cause, rather than on the first write a teacher makes.
            let probe = s.data_dir.join(".rollcall-write-test");
            std::fs::write(&probe, b"ok")
                .and_then(|()| std::fs::remove_file(&probe))
                .with_context(|| {
                    format!(
                        "the data directory {} is not writable",
                        s.data_dir.display()
                    )
                })?;
            let db = Db::open_url(&s.database_url, &s.data_dir)?;
            let secret = accounts::signing_secret(&db, &s)?;
            let bootstrap = accounts::bootstrap(&db, &s)?;
            Ok((db, secret, bootstrap))
        })
        .await??;
        let s = Arc::clone(&settings);
        let db2 = db.clone();
        let auth_clock = Arc::clone(&clock);
        let auth =
            tokio::task::spawn_blocking(move || Auth::new(db2, s, &secret, auth_clock)).await??;
        let (_, openapi) = api::documented();
        let images = service::images::ImageStore::for_database(&db, &settings.data_dir);
        let state = AppState {
            cache_dir: settings.resolved_cache_dir(),
            db,
            auth: Arc::new(auth),
            metrics: Arc::new(api::middleware::Metrics::new()?),
            started: Instant::now(),
            openapi_json: Arc::new(openapi.to_json()?),
            faces: Arc::new(if settings.biometrics {
                service::faces::FaceEngine::new(
                    settings.resolved_cache_dir(),
                    settings.vision.pipeline_options(),
                )
            } else {
                service::faces::FaceEngine::turned_off(settings.resolved_cache_dir())
            }),
            mail_wake: Arc::new(tokio::sync::Notify::new()),
            clock,
            settings,
            images,
        };
        let router = api::router(state.clone())?;
        Ok(Self {
            router,
            state,
            bootstrap,
            mailer,
            limits,
        })
    }

    /// Serve on `listener` until `shutdown` resolves, then finish in-flight requests. The e-mail
    /// delivery worker runs alongside and stops after the message it is sending. Connections are
    /// capped and slow clients cut off as [`server::Limits`] says.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        jobs::start(&self.state.db, &self.state.images, &self.state.settings);
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let worker = match self.mailer {
            Some(mailer) => Some(tokio::spawn(notify::worker::run(
                self.state.db.clone(),
                mailer,
                notify::worker::Policy::from_settings(&self.state.settings),
                Arc::clone(&self.state.mail_wake),
                stopped,
            ))),
            None => {
                tracing::warn!(
                    "SMTP_HOST is not set: e-mail is not sent; messages stay queued in the outbox"
                );
                None
            }
        };
        let limits = self.limits;
        tracing::info!(
            max_connections = limits.max_connections,
            max_connections_setting = self.state.settings.connections.max_connections,
            max_connections_per_ip = limits.max_per_address,
            open_file_limit = limits.open_file_limit,
            header_timeout_secs = limits.header_timeout.as_secs(),
            body_idle_timeout_secs = limits.body_idle_timeout.as_secs(),
            body_timeout_secs = limits.body_timeout.as_secs(),
            "connection limits"
        );
        if limits.max_connections < self.state.settings.connections.max_connections {
            tracing::warn!(
                max_connections = limits.max_connections,
                open_file_limit = limits.open_file_limit,
                "ROLLCALL_MAX_CONNECTIONS lowered to fit the open-file limit; raise `ulimit -n` to serve more"
            );
        }
        let served = server::serve(
            listener,
            self.router,
            limits,
            Arc::clone(&self.state.metrics),
            shutdown,
        )
        .await;
        let _ = stop.send(true);
        if let Some(worker) = worker {
            let grace = std::time::Duration::from_secs(self.state.settings.smtp_timeout_secs + 5);
            if tokio::time::timeout(grace, worker).await.is_err() {
                tracing::warn!("e-mail worker still busy at shutdown; its message will be retried");
            }
        }
        served
    }
}
