//! The property test over configurations, natively: random web-format files (valid small
//! configurations, then zero, huge, odd and mismatched values, and tensors missing, extra or
//! mis-shaped; see tests/support/config_cases.rs) either load and restore a tiny image through
//! the package's path (`web_format::load`, then `restore_rgba8` under memory limits), or are
//! refused with an error. A panic is a failure that prints the case; so is a file refused
//! while its configuration is valid and matches its tensors.
#![cfg(not(target_arch = "wasm32"))]

#[path = "support/config_cases.rs"]
mod config_cases;

use std::panic::{AssertUnwindSafe, catch_unwind};

use burn::tensor::Device;
use grl_wasm::Size;
use grl_wasm::restore::{RestoreOptions, restore_rgba8};
use grl_wasm::tiling::memory::MemoryLimits;
use grl_wasm::tiling::run::NoHooks;
use grl_wasm::web_format;

const CASES: usize = 300;
const SEED: u64 = 16;

/// What happened to a file.
#[derive(Debug)]
enum Outcome {
    /// Refused when read or loaded, with this error.
    Refused(String),
    /// Loaded, and the restore returned this (an error only for memory or channel counts).
    Restored(Result<(), String>),
}

fn run(case: &config_cases::Case, device: &Device) -> Outcome {
    let (grl, info) = match web_format::load(case.bytes.clone(), device) {
        Ok(loaded) => loaded,
        Err(e) => return Outcome::Refused(e),
    };
    assert!(!info.provenance.name.contains(['\u{1b}', '\n']), "the name is printable: {:?}", info.provenance.name);
    let (width, height) = case.image;
    let size = Size { height: height as usize, width: width as usize };
    let rgba: Vec<u8> = (0..width * height * 4).map(|i| if i % 4 == 3 { 128 + (i % 7) as u8 } else { (i * 37 % 251) as u8 }).collect();
    let limits = MemoryLimits { max_buffer_bytes: 128 << 20, budget_bytes: 256 << 20 };
    let restored = pollster::block_on(restore_rgba8(&grl, device, limits, &rgba, size, RestoreOptions::default(), &mut NoHooks));
    Outcome::Restored(restored.map_err(|e| e.to_string()).map(|out| {
        let scale = grl.config.upscale;
        assert_eq!(out.size, size.scaled(scale), "{}", case.label);
        assert_eq!(out.rgba.len(), size.scaled(scale).area() * 4, "{}", case.label);
    }))
}

#[test]
fn every_configuration_loads_and_restores_or_is_refused_with_an_error() {
    let device = Device::flex();
    let (mut restored, mut refused, mut not_run) = (0, 0, 0);
    let mut tails = std::collections::BTreeSet::new();
    let mut failures = Vec::new();
    for index in 0..CASES {
        let case = config_cases::case(SEED, index);
        let should_load = case.should_load();
        match catch_unwind(AssertUnwindSafe(|| run(&case, &device))) {
            Err(panic) => {
                let message = panic.downcast_ref::<String>().cloned().or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()));
                failures.push(format!("{} PANICKED: {message:?}; config {}", case.label, case.config_json));
            }
            Ok(Outcome::Refused(e)) => {
                refused += 1;
                if should_load {
                    failures.push(format!("{} was refused but should load: {e}", case.label));
                }
                if e.is_empty() || e.len() > 2000 || e.chars().any(char::is_control) {
                    failures.push(format!("{}: not one short printable line: {e:?}", case.label));
                }
            }
            Ok(Outcome::Restored(result)) => {
                if !should_load {
                    failures.push(format!("{} loaded but its configuration is invalid or does not match", case.label));
                }
                match result {
                    Ok(()) => {
                        restored += 1;
                        tails.insert(format!("{:?}", config_cases::tail(&case.config_json)));
                    }
                    // Models of other channel counts cannot restore RGBA; no tile of a large
                    // geometry fits the limits: both are errors, before any allocation.
                    Err(e) if e.contains("RGBA images need a 1- or 3-channel model") || e.contains("fits the memory limits") => {
                        not_run += 1
                    }
                    Err(e) => failures.push(format!("{}: the restore failed: {e}", case.label)),
                }
            }
        }
    }
    let peak = peak_resident_bytes();
    println!(
        "{CASES} configurations: {restored} restored, {not_run} loaded but not restorable, {refused} refused; tails {tails:?}; peak resident memory {} MiB",
        peak >> 20
    );
    // Nothing allocated past the bounds: the forwards fit a 256 MiB budget, and no absurd
    // size got as far as an allocation (terabytes aborted the process before the bounds).
    assert!(peak < 1 << 30, "peak resident memory {} MiB", peak >> 20);
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
    // The stream covers both outcomes and every tail.
    assert!(restored >= CASES / 5 && refused >= CASES / 5, "{restored} restored, {refused} refused");
    assert_eq!(tails.len(), 4, "{tails:?}");
}

/// The process's peak resident memory (VmHWM), in bytes.
fn peak_resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("Linux /proc (the native suite runs on Linux)");
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).expect("a VmHWM line");
    let kib: u64 = line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).expect("VmHWM in kB");
    kib << 10
}
