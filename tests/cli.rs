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
    for (output, tile, batch) in [("out.png", "24", "1"), ("out.webp", "64", "1"), ("batched.png", "16", "auto")] {
        let output = dir.path().join(output);
        let run = grl(&["restore", "--model", model.to_str().unwrap(), input.to_str().unwrap(), "-o", output.to_str().unwrap(), "--tile", tile, "--overlap", "4", "--batch", batch, "--backend", "cpu"]);
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
fn a_wrong_configuration_names_the_key_and_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let text_config = std::fs::read_to_string(fixture("sr3_psd/config.json")).unwrap();
    let mut config: serde_json::Value = serde_json::from_str(&text_config).unwrap();
    config["model_kwargs"]["num_heads_window"] = serde_json::json!([4]);
    let wrong = dir.path().join("wrong.json");
    std::fs::write(&wrong, config.to_string()).unwrap();
    let checkpoint = fixture("sr3_psd/model.pth");
    let out = dir.path().join("x.safetensors");
    let run = grl(&["convert", checkpoint.to_str().unwrap(), "--config", wrong.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    let stderr = text(&run.stderr);
    assert!(!run.status.success() && !out.exists());
    assert!(
        stderr.contains("layers.0.blocks.0.attn.window_attn.attn_transform.logit_scale has shape [2, 1, 1] in the checkpoint but [4, 1, 1] in the model (set by num_heads_window)"),
        "{stderr}"
    );
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
        // The model is read first, and a junk one is refused on its first 8 bytes.
        (vec!["restore", "--model", junk.to_str().unwrap(), "/nonexistent.png", "-o", "x.png"], "header length"),
        (vec!["restore", "--model", "no-such-model", "in.png", "-o", "x.png"], "bundled models: denoise, sr-x2"),
        (vec!["restore", "in.png", "-o", "x.png"], "cannot read in.png"),
        (vec!["eval", "--model", "sr-x2", "/nonexistent-folder"], "cannot read the folder /nonexistent-folder"),
        (vec!["eval", "--sigma", "300", "/tmp"], "expected a noise level in 0-255"),
        (vec!["train", "--config", "no_such_preset", "--degradation", "noise:25", "--run", "r", "-o", "x", "--name", "n"], "unknown preset"),
        (vec!["train", "--config", "dn_grl_tiny_c3s25", "--degradation", "blur:3", "--run", "r", "-o", "x", "--name", "n"], "degradation \"blur:3\" is unknown"),
        (vec!["restore", "--batch", "0", "in.png", "-o", "x.png"], "not a batch size"),
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

/// A smooth synthetic photo-like RGB image: gradients and soft discs.
fn smooth_image(width: u32, height: u32) -> image::RgbImage {
    image::RgbImage::from_fn(width, height, |x, y| {
        let (fx, fy) = (x as f32 / width as f32, y as f32 / height as f32);
        let disc = |cx: f32, cy: f32, r: f32| (1.0 - ((fx - cx).hypot(fy - cy) / r).min(1.0)).powf(0.5);
        let r = 40.0 + 150.0 * fx + 60.0 * disc(0.3, 0.4, 0.25);
        let g = 60.0 + 120.0 * fy + 70.0 * disc(0.7, 0.6, 0.3);
        let b = 180.0 - 100.0 * fx * fy + 50.0 * disc(0.5, 0.2, 0.2);
        image::Rgb([r.min(255.0) as u8, g.min(255.0) as u8, b.min(255.0) as u8])
    })
}

fn noisy(clean: &image::RgbImage, sigma: f32, seed: u64) -> image::RgbImage {
    use grl_wasm::train::data::Planar;
    use rand::SeedableRng;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    grl_wasm::train::degrade::add_noise(&Planar::from_rgb8(clean), sigma, &mut rng).to_rgb8()
}

#[test]
fn bundled_models_restore_without_any_file() {
    use grl_wasm::train::metrics::psnr;
    let dir = tempfile::tempdir().unwrap();
    let clean = smooth_image(64, 48);
    let input = dir.path().join("noisy.png");
    let noisy_image = noisy(&clean, 25.0, 3);
    noisy_image.save(&input).unwrap();
    let output = dir.path().join("denoised.png");
    let run = grl(&["restore", input.to_str().unwrap(), "-o", output.to_str().unwrap(), "--backend", "cpu"]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let denoised = image::open(&output).unwrap().to_rgb8();
    let (before, after) = (psnr(&noisy_image, &clean, 0).unwrap(), psnr(&denoised, &clean, 0).unwrap());
    println!("bundled denoiser on a synthetic image, sigma 25: {before:.2} dB -> {after:.2} dB");
    assert!(after > before + 6.0, "the default model denoises: {before:.2} dB -> {after:.2} dB");

    let output = dir.path().join("x2.png");
    let run = grl(&["restore", "--model", "sr-x2", input.to_str().unwrap(), "-o", output.to_str().unwrap(), "--backend", "cpu"]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let restored = image::open(&output).unwrap();
    assert_eq!((restored.width(), restored.height()), (128, 96));

    let presets = text(&grl(&["presets"]).stdout);
    assert!(presets.contains("sr_grl_tiny_c3x4") && presets.contains("denoise") && presets.contains("sr-x2"), "{presets}");
    let info = text(&grl(&["info", "sr-x2"]).stdout);
    assert!(info.contains("task:        sr") && info.contains("scale:       x2"), "{info}");
    // The automatic tile under WebGPU's default limits, on the fused kernels: this small model
    // (32 channels, 8x8 windows) fits tiles of a few hundred pixels, larger than on plain ops.
    let line = info.lines().find(|l| l.starts_with("auto tile:")).unwrap_or_else(|| panic!("no auto tile:\n{info}"));
    let sides: Vec<usize> = line.split(|c: char| !c.is_ascii_digit()).filter_map(|t| t.parse().ok()).collect();
    let (fused, plain) = (sides[0], *sides.last().unwrap());
    assert!(line.contains("WebGPU's default limits") && fused >= 256 && fused % 16 == 0 && fused >= plain, "{line}");
}

/// The last line of `grl eval`: (model dB, baseline dB).
fn eval_summary(stdout: &str) -> (f64, f64) {
    let last = stdout.trim_end().lines().last().unwrap_or_default();
    let value = |key: &str| -> f64 {
        let field = last.split_whitespace().find_map(|f| f.strip_prefix(key)).unwrap_or_else(|| panic!("no {key} in {last:?}"));
        field.parse().unwrap()
    };
    (value("psnr_db="), value("baseline_db="))
}

#[test]
fn eval_scores_the_bundled_models_against_their_baselines() {
    let dir = tempfile::tempdir().unwrap();
    smooth_image(96, 80).save(dir.path().join("a.png")).unwrap();
    smooth_image(80, 64).save(dir.path().join("b.png")).unwrap();
    // Denoising: far above the noisy input. SR: on images this smooth bicubic is nearly exact
    // (above 50 dB) and hard to beat; a working model still reconstructs them closely, a broken
    // one (wrong weights, misaligned output) falls to 10-25 dB.
    for (model, margin) in [("denoise", 6.0), ("sr-x2", -8.0)] {
        let run = grl(&["eval", "--model", model, dir.path().to_str().unwrap(), "--backend", "cpu"]);
        assert!(run.status.success(), "{}", text(&run.stderr));
        let stdout = text(&run.stdout);
        println!("{stdout}");
        assert!(stdout.contains("a.png") && stdout.contains("b.png") && stdout.contains("SSIM"), "{stdout}");
        let (model_db, baseline_db) = eval_summary(&stdout);
        assert!(model_db > baseline_db + margin && model_db > 30.0, "{model}: {model_db} dB vs baseline {baseline_db} dB");
    }
}

#[test]
fn training_resumes_exactly_where_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let (train, val) = (dir.path().join("train"), dir.path().join("val"));
    std::fs::create_dir_all(&train).unwrap();
    std::fs::create_dir_all(&val).unwrap();
    smooth_image(64, 64).save(train.join("a.png")).unwrap();
    smooth_image(48, 80).save(train.join("b.png")).unwrap();
    smooth_image(40, 40).save(val.join("c.png")).unwrap();
    let config = dir.path().join("tiny.json");
    std::fs::write(&config, r#"{"embed_dim": 8, "upscale": 1, "depths": [1], "num_heads_window": [1], "num_heads_stripe": [1], "mlp_ratio": 1.0}"#).unwrap();
    let run = |name: &str, extra: &[&str]| {
        let (run_dir, out) = (dir.path().join(name), dir.path().join(format!("{name}.safetensors")));
        let mut args = vec!["train", "--config", config.to_str().unwrap(), "--degradation", "noise:0-50", "--data", train.to_str().unwrap(), "--val", val.to_str().unwrap()];
        args.extend(["--run", run_dir.to_str().unwrap(), "-o", out.to_str().unwrap(), "--name", "tiny", "--steps", "4", "--batch", "2", "--patch", "16", "--val-every", "3", "--val-crop", "32"]);
        args.extend(extra);
        let result = grl(&args);
        assert!(result.status.success(), "{}", text(&result.stderr));
        (text(&result.stdout), out)
    };
    let (_, straight) = run("straight", &[]);
    let (first, interrupted) = run("resumed", &["--stop-after", "2"]);
    assert!(first.contains("stopped at step 2 of 4") && !interrupted.exists(), "{first}");
    let (second, resumed) = run("resumed", &[]);
    assert!(second.contains("resuming") && second.contains("after 4 steps"), "{second}");
    // Compare tensors, not bytes: the metadata's key order is not fixed.
    let (a, b) = (std::fs::read(straight).unwrap(), std::fs::read(resumed).unwrap());
    let (a, b) = (safetensors::SafeTensors::deserialize(&a).unwrap(), safetensors::SafeTensors::deserialize(&b).unwrap());
    let mut names = a.names();
    names.sort();
    assert!(names.len() > 10);
    for name in names {
        assert_eq!(a.tensor(name).unwrap().data(), b.tensor(name).unwrap().data(), "{name}: a resumed run gives the same weights");
    }
    // Fine-tuning starts from a model's weights; another architecture is refused.
    let (_, tuned) = run("tuned", &["--init", dir.path().join("straight.safetensors").to_str().unwrap()]);
    let info = text(&grl(&["info", tuned.to_str().unwrap()]).stdout);
    assert!(info.contains("--init"), "{info}");
    let other = grl(&["train", "--config", "dn_grl_tiny_c3s25", "--degradation", "noise:25", "--data", train.to_str().unwrap(), "--val", val.to_str().unwrap(), "--run", dir.path().join("other").to_str().unwrap(), "-o", "x", "--name", "n", "--val-crop", "32", "--init", tuned.to_str().unwrap()]);
    assert!(text(&other.stderr).contains("another configuration"), "{}", text(&other.stderr));
    // A model with a stage appended starts from one without it.
    let deeper = dir.path().join("deeper.json");
    std::fs::write(&deeper, r#"{"embed_dim": 8, "upscale": 1, "depths": [1, 1], "num_heads_window": [1, 1], "num_heads_stripe": [1, 1], "mlp_ratio": 1.0}"#).unwrap();
    let grown = dir.path().join("grown.safetensors");
    let (d, t, v) = (deeper.to_str().unwrap(), train.to_str().unwrap(), val.to_str().unwrap());
    let run_dir = dir.path().join("grown");
    let result = grl(&["train", "--config", d, "--degradation", "noise:0-50", "--data", t, "--val", v, "--run", run_dir.to_str().unwrap(), "-o", grown.to_str().unwrap(), "--name", "n", "--steps", "1", "--batch", "2", "--patch", "16", "--val-crop", "32", "--init", tuned.to_str().unwrap()]);
    assert!(result.status.success(), "{}", text(&result.stderr));
    let bytes = std::fs::read(&grown).unwrap();
    let names = safetensors::SafeTensors::deserialize(&bytes).unwrap().names().into_iter().map(String::from).collect::<Vec<_>>();
    assert!(names.iter().any(|n| n.starts_with("layers.1.")) && !names.iter().any(|n| n.starts_with("layers.2.")), "{names:?}");
    let log = std::fs::read_to_string(dir.path().join("resumed/log.csv")).unwrap();
    assert_eq!(log.lines().map(|l| l.split(',').next().unwrap()).collect::<Vec<_>>(), ["3", "4"], "{log}");
}

#[test]
fn bench_prints_a_table_and_json_lines() {
    let run = grl(&["bench", "--model", "denoise", "--size", "16,32", "--runs", "2", "--threads", "1", "--json"]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let lines: Vec<serde_json::Value> = text(&run.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2, "one JSON object per size");
    for (line, size) in lines.iter().zip([16, 32]) {
        assert_eq!((line["model"].as_str(), line["size"].as_u64(), line["threads"].as_u64()), (Some("denoise"), Some(size), Some(1)));
        let (min, median, max) = (line["min_s"].as_f64().unwrap(), line["median_s"].as_f64().unwrap(), line["max_s"].as_f64().unwrap());
        assert!(0.0 < min && min <= median && median <= max, "{line}");
        assert!(line["gflops"].as_f64().unwrap() > 0.0 && line["peak_bytes"].as_u64().is_some(), "{line}");
        // What the process held before the case: its weights, code and heap (more than a MB).
        assert!(line["base_bytes"].as_u64().unwrap() > 1 << 20, "{line}");
    }
    assert!(text(&run.stderr).contains("run 2/2"), "progress goes to stderr");
    // A preset gets seeded random weights; the table names what was measured.
    let table = grl(&["bench", "--model", "sr_grl_tiny_c3x4", "--size", "8", "--runs", "1"]);
    let stdout = text(&table.stdout);
    assert!(table.status.success() && stdout.contains("random weights") && stdout.contains("8x8") && stdout.contains("GFLOP/s"), "{stdout}");
    for (args, expected) in [
        (vec!["bench", "--size", "0"], "\"0\" is not an input side"),
        (vec!["bench", "--runs", "0"], "--runs"),
        (vec!["bench", "--model", "nonexistent"], "preset name"),
        (vec!["bench", "--threads", "0"], "--threads"),
    ] {
        let run = grl(&args);
        let stderr = text(&run.stderr);
        assert!(!run.status.success() && stderr.contains(expected) && stderr.lines().count() == 1, "{args:?}: {stderr}");
    }
}

#[test]
fn bad_outputs_and_devices_are_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.png");
    smooth_image(40, 24).save(&input).unwrap();
    let missing = dir.path().join("no/such/folder/out.png");
    // Refused before the model loads or the image is read: even with a model that does not exist.
    for (output, expected) in [(missing.to_str().unwrap(), "the folder"), ("out.xyz", "unknown output format")] {
        let run = grl(&["restore", "--model", "/no/such/model", input.to_str().unwrap(), "-o", output]);
        let stderr = text(&run.stderr);
        assert!(!run.status.success() && stderr.contains(expected) && stderr.lines().count() == 1, "{stderr}");
    }
    assert!(!missing.exists());
    // clap's multi-line error keeps the argument it names.
    let run = grl(&["restore", input.to_str().unwrap()]);
    let stderr = text(&run.stderr);
    assert!(stderr.contains("not provided: --output") && stderr.lines().count() == 1, "{stderr}");
    // A device that never ends is refused on its first 8 bytes.
    if Path::new("/dev/zero").exists() {
        let run = grl(&["info", "/dev/zero"]);
        assert!(text(&run.stderr).contains("header length is 0"), "{}", text(&run.stderr));
    }
}

// ---- grl restore on folders (issue 18, section 3) and sizes checked before decoding (issue 16, item 2)

/// CRC-32 (PNG's), bit by bit.
fn crc32(bytes: &[u8]) -> u32 {
    !bytes.iter().fold(!0u32, |crc, &b| (0..8).fold(crc ^ b as u32, |c, _| if c & 1 == 1 { (c >> 1) ^ 0xEDB8_8320 } else { c >> 1 }))
}

/// A PNG whose header claims `width x height` RGB pixels, with no pixel data: a decompression
/// bomb as a decoder sees it before inflating anything (nothing is ever allocated for it).
fn claimed_png(width: u32, height: u32) -> Vec<u8> {
    let chunk = |kind: &[u8], data: &[u8]| {
        let body = [kind, data].concat();
        [&(data.len() as u32).to_be_bytes()[..], &body, &crc32(&body).to_be_bytes()].concat()
    };
    let ihdr = [&width.to_be_bytes()[..], &height.to_be_bytes(), &[8, 2, 0, 0, 0]].concat();
    let idat = [0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]; // an empty zlib stream
    [&b"\x89PNG\r\n\x1a\n"[..], &chunk(b"IHDR", &ihdr), &chunk(b"IDAT", &idat), &chunk(b"IEND", &[])].concat()
}

/// Sorted file names in `dir`.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

/// The last line of stdout: the folder run's summary.
fn summary(run: &Output) -> String {
    text(&run.stdout).trim_end().lines().last().unwrap_or_default().to_string()
}

#[test]
fn restore_a_folder_into_a_folder() {
    let dir = tempfile::tempdir().unwrap();
    let (input, out) = (dir.path().join("photos"), dir.path().join("restored"));
    std::fs::create_dir_all(input.join("sub")).unwrap();
    smooth_image(24, 16).save(input.join("a.png")).unwrap();
    smooth_image(20, 20).save(input.join("b.JPG")).unwrap();
    smooth_image(16, 24).save(input.join("c.webp")).unwrap();
    smooth_image(8, 8).save(input.join("sub/d.png")).unwrap(); // not searched: folders are flat
    std::fs::write(input.join("notes.txt"), "not an image").unwrap();
    let restore = |extra: &[&str]| {
        let mut args = vec!["restore", input.to_str().unwrap(), "-o", out.to_str().unwrap(), "--backend", "cpu"];
        args.extend(extra);
        let run = grl(&args);
        assert!(run.status.success(), "{args:?}: {}", text(&run.stderr));
        run
    };
    let first = restore(&[]);
    assert!(summary(&first).starts_with("restored 3, skipped 0, failed 0, "), "{}", text(&first.stdout));
    assert_eq!(names(&out), ["a.png", "b.png", "c.png"]);
    for (name, size) in [("a.png", (24, 16)), ("b.png", (20, 20)), ("c.png", (16, 24))] {
        let restored = image::open(out.join(name)).unwrap();
        assert_eq!((restored.width(), restored.height()), size, "{name}");
    }
    // Existing outputs are kept unless --overwrite.
    std::fs::write(out.join("a.png"), b"kept").unwrap();
    let again = restore(&[]);
    assert!(summary(&again).starts_with("restored 0, skipped 3 (their outputs exist; --overwrite replaces them), failed 0"), "{}", summary(&again));
    assert_eq!(std::fs::read(out.join("a.png")).unwrap(), b"kept");
    let replaced = restore(&["--overwrite"]);
    assert!(summary(&replaced).starts_with("restored 3, skipped 0, failed 0"), "{}", summary(&replaced));
    assert_eq!(image::open(out.join("a.png")).unwrap().width(), 24);
    // Names and format: files and folders mixed, the output folder created.
    let named = dir.path().join("named");
    let a = input.join("a.png");
    let refused = grl(&["restore", a.to_str().unwrap(), input.to_str().unwrap(), "-o", named.to_str().unwrap()]);
    assert!(text(&refused.stderr).contains("would both be written to"), "a.png twice: {}", text(&refused.stderr));
    let run = grl(&["restore", input.join("sub").to_str().unwrap(), a.to_str().unwrap(), "-o", named.to_str().unwrap(), "--suffix", "_dn", "--format", "jpg", "--backend", "cpu"]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert_eq!(names(&named), ["a_dn.jpg", "d_dn.jpg"]);
    assert_eq!(image::ImageReader::open(named.join("a_dn.jpg")).unwrap().with_guessed_format().unwrap().format(), Some(image::ImageFormat::Jpeg));
    // The output folder is an input folder: outputs of a first run are not read as inputs.
    for _ in 0..2 {
        let run = grl(&["restore", input.to_str().unwrap(), "-o", input.to_str().unwrap(), "--suffix", "_x", "--backend", "cpu"]);
        assert!(run.status.success(), "{}", text(&run.stderr));
    }
    assert_eq!(names(&input), ["a.png", "a_x.png", "b.JPG", "b_x.png", "c.webp", "c_x.png", "notes.txt", "sub"]);
}

#[test]
fn a_bad_image_among_good_ones_fails_alone() {
    let dir = tempfile::tempdir().unwrap();
    let (input, out) = (dir.path().join("in"), dir.path().join("out"));
    std::fs::create_dir_all(&input).unwrap();
    smooth_image(24, 16).save(input.join("a.png")).unwrap();
    std::fs::write(input.join("b.png"), b"\x89PNG but corrupt").unwrap();
    smooth_image(16, 16).save(input.join("c.png")).unwrap();
    // A header claiming 60000x60000 (within the sides a decoder reads): 250 GB to restore.
    std::fs::write(input.join("d.png"), claimed_png(60_000, 60_000)).unwrap();
    let run = grl(&["restore", input.to_str().unwrap(), "-o", out.to_str().unwrap(), "--backend", "cpu"]);
    let stderr = text(&run.stderr);
    assert!(!run.status.success(), "{stderr}");
    assert_eq!(summary(&run).split(", ").take(3).collect::<Vec<_>>(), ["restored 2", "skipped 0", "failed 2"], "{}", text(&run.stdout));
    assert_eq!(names(&out), ["a.png", "c.png"]);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 3, "one line per failed image and the status: {stderr}");
    assert!(lines[0].starts_with("grl: cannot read ") && lines[0].contains("b.png"), "{stderr}");
    // 2 x 3.6e9 pixels x 36 bytes and a 4 GiB forward, in MiB.
    assert!(lines[1].contains("d.png is 60000x60000: restoring it to 60000x60000 needs about 251288 MiB of memory, over the "), "{stderr}");
    assert_eq!(lines[2], "grl: 2 of 4 images failed (see above)");
}

#[test]
fn collisions_sizes_and_tiles_are_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let (input, out) = (dir.path().join("in"), dir.path().join("out"));
    std::fs::create_dir_all(&input).unwrap();
    smooth_image(24, 16).save(input.join("a.png")).unwrap();
    smooth_image(24, 16).save(input.join("a.jpg")).unwrap();
    let huge = dir.path().join("huge.png");
    std::fs::write(&huge, claimed_png(60_000, 60_000)).unwrap();
    let wide = dir.path().join("wide.png");
    std::fs::write(&wide, claimed_png(70_000, 8)).unwrap();
    // Over the CPU's 4 GiB forward budget as one tile (the denoiser's tiles stop at 1744).
    let flat = dir.path().join("flat.png");
    image::RgbImage::from_pixel(2000, 2000, image::Rgb([90, 120, 150])).save(&flat).unwrap();
    let (i, o, a) = (input.to_str().unwrap(), out.to_str().unwrap(), input.join("a.png"));
    let x = dir.path().join("x.png");
    let x = x.to_str().unwrap();
    let cases: Vec<(Vec<&str>, String)> = vec![
        (vec![i, "-o", o], format!("{} and {} would both be written to {}", input.join("a.jpg").display(), a.display(), out.join("a.png").display())),
        (vec![i, "-o", i], format!("{} would be written over the input {}", a.display(), a.display())),
        (vec![i, "-o", x], format!("-o {x} names a file: several images need an output folder")),
        (vec![a.to_str().unwrap(), "-o", x, "--suffix", "_2"], "--suffix and --format name the images written into an output folder".into()),
        (vec![i, "-o", o, "--suffix", "/../x"], "--suffix \"/../x\" holds a path separator".into()),
        (vec![huge.to_str().unwrap(), "-o", x], "huge.png is 60000x60000: restoring it to 60000x60000 needs about 251288 MiB of memory".into()),
        (vec!["--model", "sr-x2", huge.to_str().unwrap(), "-o", x], "restoring it to 120000x120000 needs about 622076 MiB".into()),
        (vec![wide.to_str().unwrap(), "-o", x], "wide.png is 70000x8: expected sides of 1 to 65535 pixels".into()),
        (vec![flat.to_str().unwrap(), "-o", x, "--tile", "8192"], "flat.png: tile 8192 needs 6103 MiB for a forward, over the 4096 MiB budget: expected a tile from 16 to 1632".into()),
    ];
    for (args, expected) in cases {
        let run = grl(&[&["restore", "--backend", "cpu"][..], &args].concat());
        let stderr = text(&run.stderr);
        assert!(!run.status.success() && stderr.contains(&expected), "{args:?}: {stderr:?} lacks {expected:?}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: one line: {stderr:?}");
    }
    assert!(!out.exists() && !Path::new(x).exists(), "nothing written");
    assert_eq!(names(&input), ["a.jpg", "a.png"]);
}

/// `grl compare --json`'s mean PSNR.
fn compare_db(reference: &Path, restored: &Path, shave: &str) -> f64 {
    let run = grl(&["compare", "--reference", reference.to_str().unwrap(), restored.to_str().unwrap(), "--shave", shave, "--json"]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let json: serde_json::Value = serde_json::from_str(&text(&run.stdout)).unwrap();
    assert_eq!(json["images"], 2, "{json}");
    json["psnr_db"].as_f64().unwrap()
}

#[test]
fn degrade_and_compare_score_as_eval_does() {
    let dir = tempfile::tempdir().unwrap();
    let (photos, pairs, restored) = (dir.path().join("photos"), dir.path().join("pairs"), dir.path().join("restored"));
    std::fs::create_dir_all(&photos).unwrap();
    std::fs::create_dir_all(&restored).unwrap();
    smooth_image(96, 80).save(photos.join("a.png")).unwrap();
    smooth_image(81, 64).save(photos.join("b.jpg")).unwrap();
    // SR x2: the pairs of grl eval, another restorer's outputs (here grl restore's) scored alike.
    let run = grl(&["degrade", photos.to_str().unwrap(), "--degradation", "bicubic:2", "-o", pairs.to_str().unwrap()]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let size = |sub: &str, name: &str| image::image_dimensions(pairs.join(sub).join(name)).unwrap();
    assert_eq!([size("clean", "b.png"), size("degraded", "b.png"), size("baseline", "b.png")], [(80, 64), (40, 32), (80, 64)]);
    for name in ["a.png", "b.png"] {
        let (input, output) = (pairs.join("degraded").join(name), restored.join(name));
        let run = grl(&["restore", "--model", "sr-x2", input.to_str().unwrap(), "-o", output.to_str().unwrap(), "--backend", "cpu"]);
        assert!(run.status.success(), "{}", text(&run.stderr));
    }
    let eval = grl(&["eval", "--model", "sr-x2", photos.to_str().unwrap(), "--backend", "cpu"]);
    assert!(eval.status.success(), "{}", text(&eval.stderr));
    let (model_db, bicubic_db) = eval_summary(&text(&eval.stdout));
    let clean = pairs.join("clean");
    assert!((compare_db(&clean, &pairs.join("baseline"), "2") - bicubic_db).abs() < 0.006, "bicubic {bicubic_db} dB");
    assert!((compare_db(&clean, &restored, "2") - model_db).abs() < 0.006, "model {model_db} dB");
    // A centre crop; a restored image of another size, or none, is refused by name.
    let run = grl(&["degrade", photos.to_str().unwrap(), "--degradation", "jpeg:20", "--crop", "41", "-o", pairs.to_str().unwrap()]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert_eq!([size("clean", "a.png"), size("degraded", "a.png")], [(41, 41), (41, 41)]);
    let jpeg_db = compare_db(&clean, &pairs.join("degraded"), "0");
    assert!((20.0..45.0).contains(&jpeg_db), "JPEG at quality 20: {jpeg_db} dB");
    let refused = grl(&["compare", "--reference", clean.to_str().unwrap(), restored.to_str().unwrap()]);
    assert!(text(&refused.stderr).contains("a.png: the restored image is 96x80, the reference 41x41"), "{}", text(&refused.stderr));
    let other = dir.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::copy(clean.join("b.png"), other.join("b.png")).unwrap();
    let refused = grl(&["compare", "--reference", clean.to_str().unwrap(), other.to_str().unwrap()]);
    assert!(text(&refused.stderr).contains("has no image named a.*"), "{}", text(&refused.stderr));
}

#[test]
fn a_blind_jpeg_model_trains_and_is_evaluated_at_a_given_quality() {
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    smooth_image(64, 64).save(photos.join("a.png")).unwrap();
    let config = dir.path().join("tiny.json");
    std::fs::write(&config, r#"{"embed_dim": 8, "upscale": 1, "depths": [1], "num_heads_window": [1], "num_heads_stripe": [1], "mlp_ratio": 1.0}"#).unwrap();
    let model = dir.path().join("jpeg.safetensors");
    let (p, c, m) = (photos.to_str().unwrap(), config.to_str().unwrap(), model.to_str().unwrap());
    let run_dir = dir.path().join("run");
    let train = grl(&["train", "--config", c, "--degradation", "jpeg:10-50", "--data", p, "--val", p, "--run", run_dir.to_str().unwrap(), "-o", m, "--name", "tiny jpeg", "--steps", "2", "--batch", "2", "--patch", "16", "--val-crop", "32"]);
    assert!(train.status.success(), "{}", text(&train.stderr));
    let info = text(&grl(&["info", m]).stdout);
    assert!(info.contains("task:        jpeg"), "{info}");
    let blind = grl(&["eval", "--model", m, p, "--backend", "cpu"]);
    assert!(text(&blind.stderr).contains("--quality"), "{}", text(&blind.stderr));
    let eval = grl(&["eval", "--model", m, p, "--backend", "cpu", "--quality", "20"]);
    assert!(eval.status.success(), "{}", text(&eval.stderr));
    let stdout = text(&eval.stdout);
    assert!(stdout.contains("JPEG, quality 20") && stdout.contains("jpeg dB"), "{stdout}");
    let (_, input_db) = eval_summary(&stdout);
    assert!((20.0..45.0).contains(&input_db), "JPEG input at quality 20: {input_db} dB");
}
