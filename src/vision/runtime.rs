//! ONNX Runtime: the one environment per process (created once, with the allocator setting of
//! [`super::malloc`]) and a pool of sessions, since `Session::run` needs `&mut self`.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use anyhow::{Context, ensure};
use ort::environment::Environment;
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;

static ENV: OnceLock<Environment> = OnceLock::new();
static INIT: Mutex<()> = Mutex::new(());

/// Load the shared library at `lib` (an absolute path) and create the environment, once.
/// Later calls return the existing environment whatever path they name.
pub fn init(lib: &Path) -> anyhow::Result<&'static Environment> {
    if let Some(env) = ENV.get() {
        return Ok(env);
    }
    // ort allows one environment per process and panics if any call precedes init_from;
    // serialise the first initialisation.
    let _guard = INIT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(env) = ENV.get() {
        return Ok(env);
    }
    // Whoever loads the models analyses photos: their large buffers must go back when freed.
    super::malloc::return_large_buffers();
    ensure!(
        lib.is_absolute(),
        "ONNX Runtime library path must be absolute: {}",
        lib.display()
    );
    ensure!(
        lib.is_file(),
        "{} is missing: run scripts/setup",
        lib.display()
    );
    let env = ort::init_from(lib)
        .map_err(|e| anyhow::anyhow!("loading {}: {e}", lib.display()))?
        .with_name("rollcall")
        .build()
        .map_err(|e| anyhow::anyhow!("creating the ONNX Runtime environment: {e}"))?;
    Ok(ENV.get_or_init(|| env))
}

fn environment() -> anyhow::Result<&'static Environment> {
    ENV.get().context("ONNX Runtime is not initialised")
}

/// Sessions of one model; a caller takes whichever is free.
pub struct SessionPool {
    slots: Vec<Mutex<Session>>,
    next: AtomicUsize,
}

impl SessionPool {
    /// `sessions` copies of `model`, each with `intra_threads` threads. With more than one
    /// thread the pool's threads do not spin while idle: on two shared cores a spinning pool
    /// steals the core the other request needs (runtime notes).
    pub fn new(model: &Path, sessions: usize, intra_threads: usize) -> anyhow::Result<Self> {
        Self::build(sessions, intra_threads, true, |mut b| {
            b.commit_from_file(model)
        })
        .map_err(|e| anyhow::anyhow!("loading {}: {e}", model.display()))
    }

    /// As [`SessionPool::new`], from a model held in memory (converted at start-up), for
    /// inputs whose size changes with every call (the detector): no memory arena and no memory
    /// pattern, so the hundreds of megabytes a large photo needs go back to the system after
    /// the run instead of staying reserved by the session.
    pub fn from_memory(onnx: &[u8], sessions: usize, intra_threads: usize) -> anyhow::Result<Self> {
        Self::build(sessions, intra_threads, false, |mut b| {
            b.commit_from_memory(onnx)
        })
        .map_err(|e| anyhow::anyhow!("loading a converted model: {e}"))
    }

    fn build(
        sessions: usize,
        intra_threads: usize,
        arena: bool,
        commit: impl Fn(ort::session::builder::SessionBuilder) -> ort::Result<Session>,
    ) -> anyhow::Result<Self> {
        let env = environment()?;
        let build = || -> ort::Result<Session> {
            let mut builder = Session::builder(env)?
                .with_optimization_level(GraphOptimizationLevel::Level3)?
                .with_intra_threads(intra_threads.max(1))?;
            if intra_threads > 1 {
                builder = builder.with_intra_op_spinning(false)?;
            }
            if !arena {
                builder = builder
                    .with_execution_providers([ort::ep::CPU::default()
                        .with_arena_allocator(false)
                        .build()])?
                    .with_memory_pattern(false)?;
            }
            commit(builder)
        };
        let slots = (0..sessions.max(1))
            .map(|_| build().map(Mutex::new))
            .collect::<ort::Result<Vec<_>>>()
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(Self {
            slots,
            next: AtomicUsize::new(0),
        })
    }

    /// Run `f` with a free session, or wait for one.
    pub fn with<R>(&self, f: impl FnOnce(&mut Session) -> R) -> R {
        let n = self.slots.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
        for i in 0..n {
            if let Ok(mut s) = self.slots[(start + i) % n].try_lock() {
                return f(&mut s);
            }
        }
        f(&mut self.slots[start]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner))
    }
}
