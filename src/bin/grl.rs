//! `grl`: convert GRL checkpoints to the web format, inspect them, and restore images.
//! Native only; a thin layer over the library (errors are one line and a non-zero exit).

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    match grl_wasm::cli::run(std::env::args_os()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("grl: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
