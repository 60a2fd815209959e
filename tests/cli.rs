//! The `grl` command line as a user runs it: convert, info, presets, restore of a real PNG,
//! and readable one-line errors for bad paths and bad files.
#![cfg(not(target_arch = "wasm32"))]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn grl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_grl")).args(args).output().expect("run grl")
}

fn fixture(name: &str) -> PathBuf {
    let dir = std::env::var_os("GRL_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/grl"));
    dir.join(name)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Converts the sr3_psd fixture (SR x3) into the web format in `dir`.
fn convert(dir: &Path, dtype: &str) -> PathBuf {
    let out = dir.join(format!("sr3.{dtype}.safetensors"));
    let checkpoint = fixture("sr3_psd/model.pth");
    let config = fixture("sr3_psd/config.json");
    let run = grl(&["convert", checkpoint.to_str().unwrap(), "--config", config.to_str().unwrap(), "--dtype", dtype, "-o", out.to_str().unwrap()]);
    assert!(run.status.success(), "convert failed: {}", text(&run.stderr));
    assert!(text(&run.stdout).contains("wrote"), "{}", text(&run.stdout));
    out
}

#[test]
fn convert_then_info() {
    let dir = tempfile::tempdir().unwrap();
    let f32_file = convert(dir.path(), "f32");
    let f16_file = convert(dir.path(), "f16");
    let (f32_len, f16_len) = (std::fs::metadata(&f32_file).unwrap().len(), std::fs::metadata(&f16_file).unwrap().len());
    println!("sr3_psd web format: f32 {f32_len} bytes, f16 {f16_len} bytes");
    assert!(f16_len * 10 < f32_len * 6, "f16 about half of f32");
    let info = grl(&["info", f16_file.to_str().unwrap()]);
    assert!(info.status.success(), "{}", text(&info.stderr));
    let out = text(&info.stdout);
    for expected in ["name:        sr3_psd", "scale:       x3", "parameters:  ", "F16", "\"window_size\":8"] {
        assert!(out.contains(expected), "info lacks {expected:?}:\n{out}");
    }
}

#[test]
fn restore_a_png_to_scale_times_its_size() {
    let dir = tempfile::tempdir().unwrap();
    let model = convert(dir.path(), "f16");
    let input = dir.path().join("in.png");
    let image = image::RgbaImage::from_fn(41, 27, |x, y| image::Rgba([(x * 6) as u8, (y * 9) as u8, ((x + y) * 3) as u8, 255]));
    image.save(&input).unwrap();
    for (output, tile) in [("out.png", "24"), ("out.webp", "64")] {
        let output = dir.path().join(output);
        let run = grl(&["restore", "--model", model.to_str().unwrap(), input.to_str().unwrap(), "-o", output.to_str().unwrap(), "--tile", tile, "--overlap", "4", "--backend", "cpu"]);
        assert!(run.status.success(), "restore failed: {}", text(&run.stderr));
        let restored = image::open(&output).unwrap();
        assert_eq!((restored.width(), restored.height()), (41 * 3, 27 * 3));
        println!("{}", text(&run.stdout).trim());
    }
}

#[test]
fn sixteen_bit_png_stays_sixteen_bit() {
    let dir = tempfile::tempdir().unwrap();
    let model = convert(dir.path(), "f32");
    let input = dir.path().join("deep.png");
    let image = image::ImageBuffer::<image::Rgba<u16>, _>::from_fn(16, 16, |x, y| image::Rgba([x as u16 * 4000, y as u16 * 4000, 30000, 65535]));
    image.save(&input).unwrap();
    let output = dir.path().join("deep_x3.png");
    let run = grl(&["restore", "--model", model.to_str().unwrap(), input.to_str().unwrap(), "-o", output.to_str().unwrap(), "--backend", "cpu"]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let restored = image::open(&output).unwrap();
    assert_eq!(restored.color(), image::ColorType::Rgba16);
    assert_eq!((restored.width(), restored.height()), (48, 48));
}

#[test]
fn bad_paths_and_files_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.safetensors");
    std::fs::write(&junk, b"not a model at all").unwrap();
    let existing = dir.path().join("keep.png");
    std::fs::write(&existing, b"old contents").unwrap();
    let model = convert(dir.path(), "f16");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["info", "/nonexistent/model.safetensors"], "cannot read /nonexistent/model.safetensors"),
        (vec!["info", junk.to_str().unwrap()], "header length"),
        (vec!["convert", "/nonexistent/sr_grl_small_c3x4.pth", "-o", "x.safetensors"], "no such file"),
        (vec!["convert", junk.to_str().unwrap(), "-o", "x.safetensors"], "cannot tell the configuration"),
        (vec!["convert", junk.to_str().unwrap(), "--config", "no_such_preset", "-o", "x.safetensors"], "unknown preset"),
        (vec!["restore", "--model", model.to_str().unwrap(), "/nonexistent.png", "-o", existing.to_str().unwrap()], "cannot read /nonexistent.png"),
        (vec!["restore", "--model", junk.to_str().unwrap(), "/nonexistent.png", "-o", "x.png"], "cannot read"),
        (vec!["restore", "in.png", "-o", "x.png"], "no default model"),
        (vec!["frobnicate"], "unrecognized subcommand"),
    ];
    for (args, expected) in cases {
        let run = grl(&args);
        let stderr = text(&run.stderr);
        assert!(!run.status.success(), "{args:?} succeeded");
        assert!(stderr.starts_with("grl: ") && stderr.contains(expected), "{args:?}: {stderr:?} lacks {expected:?}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: one line: {stderr:?}");
    }
    assert_eq!(std::fs::read(&existing).unwrap(), b"old contents", "a failed restore leaves the output alone");
}
