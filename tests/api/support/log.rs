//! The server's log in a test's output. The API tests run the server in the test process, where
//! it logs through `tracing`; [`init`] installs the one subscriber of the process (nextest runs
//! each test in a process of its own). The `rollcall serve` children of [`super::binary`] have
//! their stderr read in through [`forward`].
//!
//! With `TEST_LOG=1` every line is printed to the test's output as it is written. Without it the
//! last [`KEEP`] lines are kept, and a [`Guard`] (each `TestApp` and `binary::Server` holds one)
//! dropped while the test panics prints them after the failure. `RUST_LOG` picks the level, as
//! for the server (default `info`).

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::sync::{Mutex, Once, OnceLock, PoisonError};

use tracing_subscriber::EnvFilter;

/// How many of the newest lines a failing test prints.
pub const KEEP: usize = 200;

static KEPT: Mutex<VecDeque<String>> = Mutex::new(VecDeque::new());

/// `TEST_LOG` is set to something other than empty or `0`.
fn live() -> bool {
    static LIVE: OnceLock<bool> = OnceLock::new();
    *LIVE.get_or_init(|| std::env::var("TEST_LOG").is_ok_and(|v| !v.is_empty() && v != "0"))
}

/// One log line: printed now (`TEST_LOG`), or kept among the last [`KEEP`].
pub fn line(text: &str) {
    if live() {
        println!("{text}");
        return;
    }
    let mut kept = KEPT.lock().unwrap_or_else(PoisonError::into_inner);
    if kept.len() == KEEP {
        kept.pop_front();
    }
    kept.push_back(text.to_owned());
}

/// The subscriber's writer: each event arrives as one write of whole lines.
struct Lines;

impl Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        for l in String::from_utf8_lossy(buf).lines() {
            line(l);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Send this process's `tracing` events (the in-process server's log) through [`line`]. Once per
/// process; later calls do nothing.
pub fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
        // Fails only if something else installed a subscriber first; then that one logs.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(false)
            .with_writer(|| Lines)
            .try_init();
    });
}

/// Read a child's output line by line into [`line`], each line prefixed with `who`, until it
/// closes (the child exits or is killed).
pub fn forward(who: String, from: impl Read + Send + 'static) {
    std::thread::spawn(move || {
        for l in BufReader::new(from).lines().map_while(Result::ok) {
            line(&format!("{who}: {l}"));
        }
    });
}

/// Prints the kept lines if it is dropped while its thread panics (a failing test unwinding).
#[derive(Debug, Default)]
pub struct Guard;

impl Drop for Guard {
    fn drop(&mut self) {
        if !std::thread::panicking() || live() {
            return;
        }
        // Taken, not copied: a second guard of the same test has nothing more to print.
        let kept: Vec<String> = KEPT
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
            .collect();
        if kept.is_empty() {
            return;
        }
        // eprintln, not io::stderr: libtest's capture (plain `cargo test`) sees only the macros.
        eprintln!(
            "---- the server's last {} log lines (TEST_LOG=1 prints them all as they come) ----",
            kept.len()
        );
        for l in &kept {
            eprintln!("{l}");
        }
        eprintln!("---- end of the server's log ----");
    }
}
