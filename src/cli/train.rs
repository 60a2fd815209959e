//! `grl train` (with a progress bar over steps) and `grl eval`.

use std::path::{Path, PathBuf};

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::Backend;
use super::backend::choose;
use super::convert::resolve_config;
use crate::model::Task;
use crate::restore::RestoreOptions;
use crate::train::degrade::{Degradation, Quality, Sigma};
use crate::train::eval::{degradation_of, evaluate, table};
use crate::train::trainer::{RunFiles, TrainHooks, TrainOutcome, TrainSettings, Validation};
use crate::web_format::{self, Provenance};

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// The architecture: a preset name or a JSON file of GRL arguments (`upscale` must match
    /// the degradation).
    #[arg(long)]
    config: String,
    /// What the model learns to undo: `noise:25` (sigma on 0-255), `noise:0-50` (blind),
    /// `bicubic:2`, `jpeg:20` (JPEG quality) or `jpeg:10-50` (blind).
    #[arg(long)]
    degradation: String,
    /// Folder of clean training photos.
    #[arg(long, default_value = "data/train")]
    data: PathBuf,
    /// Folder of clean validation photos (centre crops).
    #[arg(long, default_value = "data/val")]
    val: PathBuf,
    /// Folder for checkpoints, settings and `log.csv`; an existing run there is resumed.
    #[arg(long)]
    run: PathBuf,
    /// The finished model, in the web format.
    #[arg(short, long)]
    output: PathBuf,
    /// Name recorded in the model's provenance.
    #[arg(long)]
    name: String,
    #[arg(long, default_value_t = 2000)]
    steps: usize,
    #[arg(long, default_value_t = 8)]
    batch: usize,
    /// Side of the clean patches (the input's is patch / scale).
    #[arg(long, default_value_t = 48)]
    patch: usize,
    /// Peak learning rate, decaying along a cosine to --min-lr.
    #[arg(long, default_value_t = 2e-3)]
    lr: f64,
    #[arg(long, default_value_t = 1e-5)]
    min_lr: f64,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Steps between validations (and checkpoints).
    #[arg(long, default_value_t = 100)]
    val_every: usize,
    /// Side of the validation centre crops.
    #[arg(long, default_value_t = 192)]
    val_crop: usize,
    /// Storage precision of the written model.
    #[arg(long, value_enum, default_value_t = super::Dtype::F16)]
    dtype: super::Dtype,
    /// Start from this web-format model's weights (fine-tuning) instead of random ones.
    #[arg(long)]
    init: Option<PathBuf>,
    /// Stop after this many steps (with a checkpoint); the same command resumes.
    #[arg(long)]
    stop_after: Option<usize>,
    /// Licence of the written weights.
    #[arg(long, default_value = "MIT")]
    license: String,
}

pub fn train(args: TrainArgs) -> Result<(), String> {
    let (config, _) = resolve_config(Path::new(""), Some(&args.config))?;
    let degradation = Degradation::parse(&args.degradation)?;
    let settings = TrainSettings {
        config,
        degradation: args.degradation.clone(),
        train_dir: args.data.clone(),
        val_dir: args.val.clone(),
        steps: args.steps,
        batch: args.batch,
        patch: args.patch,
        lr: args.lr,
        min_lr: args.min_lr,
        seed: args.seed,
        val_every: args.val_every,
        val_crop: args.val_crop,
        init: args.init.clone(),
    };
    // A blind model (a range) records level 0.
    let (task, noise_level, jpeg_quality) = match degradation {
        Degradation::Noise(Sigma::Fixed(s)) => (Task::Dn, s.round() as u32, 0),
        Degradation::Noise(_) => (Task::Dn, 0, 0),
        Degradation::Bicubic { .. } => (Task::Sr, 0, 0),
        Degradation::Jpeg(Quality::Fixed(q)) => (Task::Jpeg, 0, q as u32),
        Degradation::Jpeg(_) => (Task::Jpeg, 0, 0),
    };
    let provenance = Provenance {
        name: args.name.clone(),
        task,
        noise_level,
        jpeg_quality,
        source: format!(
            "trained by grl-wasm: grl train --config {} --degradation {} --steps {} --batch {} --patch {} --lr {} --seed {}{} on {} (see data/SOURCES.md)",
            args.config,
            args.degradation,
            args.steps,
            args.batch,
            args.patch,
            args.lr,
            args.seed,
            args.init.as_ref().map_or(String::new(), |p| format!(" --init {}", p.display())),
            args.data.display()
        ),
        license: args.license.clone(),
    };
    let files = RunFiles { run_dir: args.run, output: args.output, provenance, dtype: args.dtype.into(), stop_after: args.stop_after };
    let mut hooks = StepBar { run_dir: files.run_dir.clone(), bar: ProgressBar::hidden() };
    let outcome = crate::train::trainer::train(&settings, &files, &mut hooks)?;
    hooks.bar.finish();
    match outcome {
        TrainOutcome::Stopped { step, steps } => {
            println!("stopped at step {step} of {steps}: run the same command again to resume")
        }
        TrainOutcome::Finished { steps, bytes, val_psnr } => println!(
            "{} written: {bytes} bytes, validation {:.2} dB after {steps} steps",
            files.output.display(),
            val_psnr.unwrap_or(f64::NAN)
        ),
    }
    Ok(())
}

/// Training progress on the terminal: a bar over the steps and a line per validation.
struct StepBar {
    run_dir: PathBuf,
    /// Hidden until training starts.
    bar: ProgressBar,
}

impl TrainHooks for StepBar {
    fn started(&mut self, step: usize, steps: usize, resumed: bool) {
        if resumed {
            println!("resuming {} at step {step}", self.run_dir.display());
        }
        self.bar = ProgressBar::new(steps as u64).with_style(
            ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} {msg} ETA {eta}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        self.bar.set_position(step as u64);
    }

    fn step(&mut self, step: usize) {
        self.bar.set_position(step as u64);
    }

    fn validated(&mut self, v: &Validation) {
        self.bar.set_message(format!("loss {:.4} lr {:.1e} val {:.2} dB", v.loss, v.lr, v.psnr));
        let line = format!("step {}: loss {:.5}, lr {:.2e}, validation {:.2} dB", v.step, v.loss, v.lr, v.psnr);
        // A hidden bar (output not a terminal, e.g. a log file) drops println: print directly.
        if self.bar.is_hidden() { println!("{line}") } else { self.bar.println(line) }
    }
}

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// A web-format model file (task `dn`, `sr` or `jpeg`) or a bundled model (`denoise`, `sr-x2`, `sr-x4`, `jpeg`).
    #[arg(long, default_value = "denoise")]
    model: PathBuf,
    /// Folder of clean images.
    dir: PathBuf,
    /// Noise level for a denoiser (0-255 scale; 0 adds no noise, scoring the model on clean
    /// images); by default the model's, 25 for a blind one.
    #[arg(long)]
    sigma: Option<f32>,
    /// JPEG quality for an artifact-removal model (1-100); by default the model's, required
    /// for a blind one.
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=100))]
    quality: Option<u8>,
    /// Image i is degraded with seed + i.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Tile side in input pixels; by default the largest that fits.
    #[arg(long, value_parser = super::whole_number(1, crate::tiling::geometry::MAX_TILE))]
    tile: Option<usize>,
    #[arg(long, value_enum, default_value_t = Backend::Auto)]
    backend: Backend,
}

pub fn eval(args: EvalArgs) -> Result<(), String> {
    if let Some(sigma) = args.sigma.filter(|s| !(s.is_finite() && (0.0..=255.0).contains(s))) {
        return Err(format!("--sigma is {sigma}: expected a noise level in 0-255"));
    }
    let bytes = super::bundled::read_model(&args.model)?;
    let chosen = choose(args.backend)?;
    let (grl, info) = web_format::load(bytes, &chosen.device).map_err(|e| format!("{}: {e}", args.model.display()))?;
    let degradation = degradation_of(&info, args.sigma, args.quality)?;
    let options = RestoreOptions { tile: args.tile, ..RestoreOptions::default() };
    let rows = evaluate(&grl, &chosen.device, chosen.limits, &degradation, &args.dir, args.seed, options)?;
    let (baseline, what) = match degradation {
        Degradation::Noise(sigma) => ("noisy", format!("Gaussian noise, {sigma}")),
        Degradation::Bicubic { scale } => ("bicubic", format!("bicubic x{scale}")),
        Degradation::Jpeg(quality) => ("jpeg", format!("JPEG, {quality}")),
    };
    println!("{} on {} ({what}, seed {}, {})", info.provenance.name, args.dir.display(), args.seed, chosen.name);
    println!("{}", table(&rows, baseline));
    Ok(())
}
