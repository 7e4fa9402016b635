//! Structured logging: JSON lines (default) or human-readable, filtered by `RUST_LOG`.

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second init (tests, embedding) keeps the first subscriber.
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}

/// This process's peak resident memory (VmHWM of `/proc/self/status`) in MiB; 0 where it
/// cannot be read. The memory-budget tests read it.
#[must_use]
pub fn peak_rss_mib() -> u64 {
    status_mib("self", "VmHWM")
}

/// A memory figure of `/proc/PROCESS/status` (`VmHWM`, `VmRSS`, ...) in MiB, for `process`
/// `self` or a pid; 0 where it cannot be read.
#[must_use]
pub fn status_mib(process: &str, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{process}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |kib| kib / 1024)
}

/// What the work behind the routes costs, process-wide (as the HTTP metrics are per route):
/// the time of each stage of a face analysis, and how often work was turned away as busy.
/// `/metrics` renders these after the HTTP families (see `api::middleware::Metrics::render`).
mod work {
    use std::sync::LazyLock;

    use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

    pub(super) struct Work {
        pub registry: Registry,
        pub stages: HistogramVec,
        pub busy: IntCounterVec,
    }

    fn build() -> prometheus::Result<Work> {
        let registry = Registry::new_custom(Some("rollcall".into()), None)?;
        let stages = HistogramVec::new(
            HistogramOpts::new(
                "vision_stage_seconds",
                "Time of each stage of a face analysis: decode (bytes to upright pixels), \
                 detect (proposals and dlib's detector), describe (landmarks, chips, embeddings)",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["stage"],
        )?;
        let busy = IntCounterVec::new(
            Opts::new(
                "busy_rejections_total",
                "Requests answered 503 with Retry-After because a resource was saturated: \
                 face analysis, password hashing, database",
            ),
            &["resource"],
        )?;
        registry.register(Box::new(stages.clone()))?;
        registry.register(Box::new(busy.clone()))?;
        Ok(Work {
            registry,
            stages,
            busy,
        })
    }

    /// `None` only if the metric definitions above were invalid (a bug the tests catch).
    pub(super) static WORK: LazyLock<Option<Work>> = LazyLock::new(|| build().ok());
}

/// A stage of a face analysis, timed into `rollcall_vision_stage_seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Decode,
    Detect,
    Describe,
}

impl Stage {
    fn label(self) -> &'static str {
        match self {
            Self::Decode => "decode",
            Self::Detect => "detect",
            Self::Describe => "describe",
        }
    }
}

/// Record how long one stage of a face analysis took.
pub fn stage(stage: Stage, took: std::time::Duration) {
    if let Some(w) = work::WORK.as_ref() {
        w.stages
            .with_label_values(&[stage.label()])
            .observe(took.as_secs_f64());
    }
}

/// A resource whose saturation turns requests away (503, Retry-After).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    FaceAnalysis,
    PasswordHashing,
    Database,
}

/// Count one request turned away because `resource` was saturated.
pub fn busy(resource: Resource) {
    let label = match resource {
        Resource::FaceAnalysis => "face_analysis",
        Resource::PasswordHashing => "password_hashing",
        Resource::Database => "database",
    };
    if let Some(w) = work::WORK.as_ref() {
        w.busy.with_label_values(&[label]).inc();
    }
}

/// The metric families of [`stage`] and [`busy`].
#[must_use]
pub fn work_metrics() -> Vec<prometheus::proto::MetricFamily> {
    work::WORK
        .as_ref()
        .map(|w| w.registry.gather())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_times_and_busy_rejections_are_exported() {
        stage(Stage::Detect, std::time::Duration::from_millis(12));
        busy(Resource::Database);
        let names: Vec<String> = work_metrics().iter().map(|f| f.name().to_owned()).collect();
        assert!(
            names.contains(&"rollcall_vision_stage_seconds".to_owned()),
            "{names:?}"
        );
        assert!(
            names.contains(&"rollcall_busy_rejections_total".to_owned()),
            "{names:?}"
        );
    }
}
