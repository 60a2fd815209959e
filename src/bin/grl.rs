//! `grl`: convert GRL checkpoints to the web format, inspect them, and restore images.
//! Native only; a thin layer over the library (errors are one line and a non-zero exit).

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    // Rust ignores SIGPIPE, so printing to a closed pipe (`grl presets | head -3`) panics in
    // println!; like other command-line tools, end quietly instead.
    #[cfg(unix)]
    // SAFETY: called first, before any other thread exists; SIG_DFL is a valid disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    match grl_wasm::cli::run(std::env::args_os()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("grl: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
