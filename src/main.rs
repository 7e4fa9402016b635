//! rollcall binary: parse the command line and run it.

fn main() -> std::process::ExitCode {
    match rollcall::cli::run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // The reader of our output went away (`rollcall eval … | head`): nothing to say.
        Err(e) if e.is::<rollcall::cli::StdoutClosed>() => std::process::ExitCode::from(141),
        Err(e) => {
            eprintln!("rollcall: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
