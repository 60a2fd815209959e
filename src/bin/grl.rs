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
    keep_freed_memory();
    match grl_wasm::cli::run(std::env::args_os()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("grl: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Has glibc's malloc keep freed memory for the next allocations. By default it maps every
/// block from 128 KiB up (a threshold that adapts, to at most 32 MiB) and hands freed memory back
/// to the system, so each of a forward's thousands of tensor buffers is mapped, page-faulted and
/// zeroed again: with blocks up to 32 MiB served from the heap and the heap never trimmed, a
/// GRL-T x4 forward at 64x64 took 1.2 s instead of 2.1 (`docs/performance.md`). The peak
/// resident memory stays the same: the heap reuses what it keeps.
#[cfg(not(target_arch = "wasm32"))]
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
}

