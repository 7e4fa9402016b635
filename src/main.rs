//! rollcall binary: parse the command line and run it.

fn main() -> std::process::ExitCode {
    match rollcall::cli::run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rollcall: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
