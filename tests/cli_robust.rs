//! Hostile input to the `grl` command line (issue 16): a configuration that does not match its
//! tensors or holds absurd sizes, names with escape codes, wrapping tile options, images too
//! small to score, absurd training settings, non-finite weights. Each is one line on stderr,
//! exit 1, and nothing written.
#![cfg(not(target_arch = "wasm32"))]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn grl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_grl")).args(args).output().expect("run grl")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `grl`, expects exit 1 with one `grl: ` line on stderr containing every `expected`.
fn refused(args: &[&str], expected: &[&str]) -> String {
    let run = grl(args);
    let stderr = text(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{args:?}: {stderr}");
    assert!(stderr.starts_with("grl: ") && stderr.ends_with('\n'), "{args:?}: {stderr:?}");
    assert_eq!(stderr.lines().count(), 1, "{args:?}: one line: {stderr:?}");
    assert!(!stderr.trim_end().chars().any(char::is_control), "{args:?}: printable: {stderr:?}");
    for e in expected {
        assert!(stderr.contains(e), "{args:?}: {stderr:?} lacks {e:?}");
    }
    stderr
}

/// The bundled denoiser's file with its metadata edited (same tensors).
fn denoiser_with(dir: &Path, name: &str, edit: impl Fn(&mut HashMap<String, String>)) -> PathBuf {
    let bytes = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("models/denoise.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let mut metadata = header.metadata().clone().unwrap();
    edit(&mut metadata);
    let path = dir.join(name);
    std::fs::write(&path, safetensors::serialize(st.tensors(), Some(metadata)).unwrap()).unwrap();
    path
}

/// Sets `key` of the configuration JSON in the metadata.
fn set_config(key: &'static str, value: serde_json::Value) -> impl Fn(&mut HashMap<String, String>) {
    move |m| {
        let mut config: serde_json::Value = serde_json::from_str(&m["config"]).unwrap();
        config[key] = value.clone();
        m.insert("config".into(), config.to_string());
    }
}

fn png(dir: &Path, name: &str, width: u32, height: u32) -> PathBuf {
    let path = dir.join(name);
    image::RgbImage::from_fn(width, height, |x, y| image::Rgb([(x * 9) as u8, (y * 7) as u8, ((x + y) * 3) as u8])).save(&path).unwrap();
    path
}

#[test]
fn models_whose_configuration_does_not_match_or_is_absurd_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let input = png(dir.path(), "in.png", 20, 20);
    let out = dir.path().join("out.png");
    let wider = denoiser_with(dir.path(), "wider.safetensors", set_config("embed_dim", serde_json::json!(48)));
    let groups = denoiser_with(dir.path(), "groups.safetensors", set_config("stripe_groups", serde_json::json!([1u64 << 40, null])));
    let deep = denoiser_with(dir.path(), "deep.safetensors", set_config("depths", serde_json::json!(vec![2; 1_000_000])));
    let mismatch = ["conv_first.weight has shape [32, 3, 3, 3] in the checkpoint but [48, 3, 3, 3] in the configuration (set by in_channels, embed_dim)"];
    for (model, expected) in [
        (&wider, &mismatch[..]),
        (&groups, &["stripe_groups[0] is 1099511627776: expected at most 64"][..]),
        (&deep, &["the number of stages (depths) is 1000000: expected at most 16"][..]),
    ] {
        let model = model.to_str().unwrap();
        refused(&["restore", "--model", model, input.to_str().unwrap(), "-o", out.to_str().unwrap(), "--backend", "cpu"], expected);
        refused(&["eval", "--model", model, dir.path().to_str().unwrap(), "--backend", "cpu"], expected);
    }
    assert!(!out.exists(), "nothing written");
    // grl info prints what the file says, then fails on the mismatch.
    let info = grl(&["info", wider.to_str().unwrap()]);
    assert_eq!(info.status.code(), Some(1));
    assert!(text(&info.stdout).contains("\"embed_dim\":48"), "{}", text(&info.stdout));
    assert!(text(&info.stderr).contains(mismatch[0]), "{}", text(&info.stderr));
    refused(&["info", groups.to_str().unwrap()], &["stripe_groups[0] is 1099511627776"]);
}

#[test]
fn names_and_values_from_files_are_printed_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let named = denoiser_with(dir.path(), "named.safetensors", |m| {
        let mut p: serde_json::Value = serde_json::from_str(&m["provenance"]).unwrap();
        p["name"] = "evil\u{1b}[2K\rname: fake\nline".into();
        m.insert("provenance".into(), p.to_string());
    });
    let info = grl(&["info", named.to_str().unwrap()]);
    assert!(info.status.success(), "{}", text(&info.stderr));
    let stdout = text(&info.stdout);
    assert!(stdout.contains(r"name:        evil\u{1b}[2K\rname: fake\nline"), "{stdout}");
    assert!(!stdout.contains(['\u{1b}', '\r']) && stdout.matches("name:").count() == 2, "{stdout}");
    // An unknown value that serde quotes in its error.
    let tail = denoiser_with(dir.path(), "tail.safetensors", set_config("upsampler", "\u{1b}[31mred".into()));
    refused(&["info", tail.to_str().unwrap()], &[r"unknown variant `\u{1b}[31mred`"]);
}

#[test]
fn tile_overlap_and_batch_are_bounded_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let input = png(dir.path(), "in.png", 20, 20);
    let out = dir.path().join("out.png");
    let (i, o) = (input.to_str().unwrap(), out.to_str().unwrap());
    refused(&["restore", i, "-o", o, "--overlap", "9223372036854775808"], &["'9223372036854775808'", "--overlap", "0 to 32767"]);
    refused(&["restore", i, "-o", o, "--tile", "100000"], &["'100000'", "--tile", "1 to 65536"]);
    refused(&["restore", i, "-o", o, "--tile", "0"], &["'0'", "--tile", "1 to 65536"]);
    refused(&["restore", i, "-o", o, "--batch", "18446744073709551615"], &["not a batch size", "1 to 64"]);
    refused(&["eval", dir.path().to_str().unwrap(), "--tile", "99999999999"], &["'99999999999'", "1 to 65536"]);
    // Within the bounds, an overlap the tile cannot keep is still named.
    refused(&["restore", i, "-o", o, "--tile", "16", "--overlap", "8", "--backend", "cpu"], &["overlap 8 leaves no progress with tile 16"]);
    assert!(!out.exists(), "nothing written");
}

#[test]
fn eval_refuses_images_too_small_to_score_and_sigma_0_means_no_noise() {
    let dir = tempfile::tempdir().unwrap();
    png(dir.path(), "big.png", 24, 24);
    let folder = dir.path().to_str().unwrap();
    let sigma0 = grl(&["eval", folder, "--sigma", "0", "--backend", "cpu"]);
    assert!(sigma0.status.success(), "{}", text(&sigma0.stderr));
    let stdout = text(&sigma0.stdout);
    assert!(stdout.contains("Gaussian noise, sigma 0,") && stdout.contains("baseline_db=inf"), "{stdout}");
    png(dir.path(), "tiny.png", 10, 40);
    refused(&["eval", folder, "--backend", "cpu"], &["tiny.png is 10x40: too small to score, SSIM's 11x11 window needs images of at least 11x11 pixels"]);
    refused(&["eval", "--model", "sr-x2", folder, "--backend", "cpu"], &["tiny.png is 10x40", "at least 16x16 pixels at x2 (2 pixels shaved at each border)"]);
    refused(&["eval", folder, "--sigma", "nan"], &["--sigma is NaN: expected a noise level in 0-255"]);
}

#[test]
fn absurd_training_settings_are_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let (run, out) = (dir.path().join("run"), dir.path().join("out.safetensors"));
    let base = ["train", "--config", "dn_grl_tiny_c3s25", "--degradation", "noise:25", "--run", run.to_str().unwrap(), "-o", out.to_str().unwrap(), "--name", "n"];
    let cases: [(&[&str], &str); 8] = [
        (&["--val-crop", "0"], "val_crop is 0: expected 16 to 2048"),
        (&["--val-crop", "100000"], "val_crop is 100000: expected 16 to 2048"),
        (&["--patch", "0"], "patch is 0: expected 1 to 2048"),
        (&["--batch", "1000000"], "batch is 1000000: expected 1 to 256"),
        (&["--lr", "nan"], "lr is NaN: expected a learning rate above 0 and at most 1"),
        (&["--lr", "inf"], "lr is inf"),
        (&["--lr", "0"], "lr is 0"),
        (&["--lr=-0.001"], "lr is -0.001"),
    ];
    for (extra, expected) in cases {
        let args: Vec<&str> = base.iter().chain(extra).copied().collect();
        refused(&args, &[expected]);
    }
    assert!(!run.exists() && !out.exists(), "nothing written");
}

#[test]
fn convert_refuses_to_write_non_finite_weights() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = std::env::var_os("GRL_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/grl"));
    let config = fixtures.join("sr3_psd/config.json");
    let mut bytes = std::fs::read(fixtures.join("sr3_psd/model.safetensors")).unwrap();
    let header = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let first = 8 + header; // the first value of the first tensor (f32)
    let out = dir.path().join("out.safetensors");
    let (c, o) = (config.to_str().unwrap(), out.to_str().unwrap());
    for (value, dtype, expected) in [
        (f32::NAN, "f32", "holds NaN or infinite values"),
        (1e6, "f16", "--dtype f32 keeps larger ones"),
    ] {
        bytes[first..first + 4].copy_from_slice(&value.to_le_bytes());
        let checkpoint = dir.path().join(format!("bad_{dtype}.safetensors"));
        std::fs::write(&checkpoint, &bytes).unwrap();
        refused(&["convert", checkpoint.to_str().unwrap(), "--config", c, "--dtype", dtype, "-o", o], &["refusing to write a model that could not be loaded: tensor ", expected]);
        assert!(!out.exists(), "nothing written");
    }
    // 1e6 fits f32 storage.
    let run = grl(&["convert", dir.path().join("bad_f16.safetensors").to_str().unwrap(), "--config", c, "--dtype", "f32", "-o", o]);
    assert!(run.status.success() && out.exists(), "{}", text(&run.stderr));
}
