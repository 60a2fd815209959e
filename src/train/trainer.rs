//! The training loop: seeded patches and degradations, L1 loss, Adam with a cosine learning
//! rate, periodic validation PSNR, checkpoints and resume; progress goes to [`TrainHooks`].

use std::io::Write;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::{AdamConfig, ModuleOptimizer};
use burn::tensor::Device;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use super::checkpoint::{self, Progress};
use super::data::{PatchSampler, Planar, load_folder};
use super::degrade::Degradation;
use super::metrics::psnr;
use super::split_batch::{batch_tensor, loss_and_grads};
use crate::atomic_write::write_atomically;
use crate::model::{Grl, GrlConfig};
use crate::web_format::{self, Provenance, StorageDType};

/// Everything that defines a training run. Stored in the run folder: resuming with other
/// settings is refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainSettings {
    pub config: GrlConfig,
    /// `"noise:25"`, `"noise:0-50"`, `"bicubic:2"`, `"jpeg:20"` or `"jpeg:10-50"`: see
    /// [`Degradation`].
    pub degradation: String,
    pub train_dir: PathBuf,
    pub val_dir: PathBuf,
    pub steps: usize,
    pub batch: usize,
    /// Side of the clean (target) patches; the input's is `patch / scale`.
    pub patch: usize,
    /// Peak learning rate (the first step's), decaying along a cosine to `min_lr`.
    pub lr: f64,
    pub min_lr: f64,
    pub seed: u64,
    /// Steps between validations and checkpoints.
    pub val_every: usize,
    /// Side of the centre crop of each validation image (clean size).
    pub val_crop: usize,
    /// A web-format model to start from (fine-tuning) instead of random weights; its
    /// configuration must be `config`.
    #[serde(default)]
    pub init: Option<PathBuf>,
}

/// Where the run's files go and what the finished model is called.
pub struct RunFiles {
    /// Checkpoints, the settings and `log.csv` (step, loss, learning rate, validation PSNR).
    pub run_dir: PathBuf,
    /// The finished model, in the web format.
    pub output: PathBuf,
    pub provenance: Provenance,
    pub dtype: StorageDType,
    /// Stop (with a checkpoint) after this many steps of this invocation: training in
    /// instalments. The next call resumes.
    pub stop_after: Option<usize>,
}

/// What the training loop reports as it runs (the CLI draws a progress bar from it); every
/// method does nothing by default.
pub trait TrainHooks {
    /// Called once, before the first step of this invocation: it starts after `step` of
    /// `steps` steps, from the run's latest checkpoint when `resumed`.
    fn started(&mut self, _step: usize, _steps: usize, _resumed: bool) {}
    /// Called after each optimizer step, with the number of steps done.
    fn step(&mut self, _step: usize) {}
    /// Called after each validation (a checkpoint follows).
    fn validated(&mut self, _validation: &Validation) {}
}

/// One validation: the state of the run after `step` steps.
#[derive(Debug, Clone, PartialEq)]
pub struct Validation {
    pub step: usize,
    /// Mean L1 loss of the steps since the previous validation.
    pub loss: f64,
    /// Learning rate of the last step.
    pub lr: f64,
    /// Mean validation PSNR, dB.
    pub psnr: f64,
}

/// How a call of [`train`] ended.
#[derive(Debug, Clone, PartialEq)]
pub enum TrainOutcome {
    /// `stop_after` was reached after `step` of `steps` steps; a checkpoint holds the run.
    Stopped { step: usize, steps: usize },
    /// All `steps` are done and the model, `bytes` long, is written to the output.
    Finished { steps: usize, bytes: usize, val_psnr: Option<f64> },
}

/// The schedule: a linear warm-up over the first 2% of the steps (attention layers diverge
/// easily at full rate from random weights), then a cosine from `lr` down to `min_lr` at `steps`.
pub fn learning_rate(settings: &TrainSettings, step: usize) -> f64 {
    let warmup = settings.steps / 50;
    if step < warmup {
        return settings.lr * (step + 1) as f64 / warmup as f64;
    }
    let t = step as f64 / settings.steps.max(1) as f64;
    settings.min_lr + 0.5 * (settings.lr - settings.min_lr) * (1.0 + (std::f64::consts::PI * t).cos())
}

/// The random stream of one step: a function of the seed and the step only, so a resumed run
/// draws exactly the patches the uninterrupted one would have.
fn step_rng(seed: u64, step: usize) -> StdRng {
    StdRng::seed_from_u64(seed ^ (step as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// Validation pairs: the centre crop of each image and its degradation (seed 0).
fn validation_pairs(settings: &TrainSettings, degradation: &Degradation) -> Result<Vec<(Planar, image::RgbImage)>, String> {
    let scale = degradation.scale();
    let side = settings.val_crop / scale * scale;
    let mut rng = StdRng::seed_from_u64(0);
    load_folder(&settings.val_dir)?
        .into_iter()
        .map(|(name, image)| {
            let clean = Planar::from_rgb8(&image);
            if clean.width < side || clean.height < side {
                return Err(format!("validation image {name} is smaller than the {side}-pixel crop"));
            }
            let crop = clean.patch((clean.width - side) / 2, (clean.height - side) / 2, side, 0);
            Ok((degradation.apply(&crop, &mut rng)?, crop.to_rgb8()))
        })
        .collect()
}

/// Mean PSNR of `model` on the validation pairs (8-bit, shave = scale).
fn validate(model: &Grl, pairs: &[(Planar, image::RgbImage)], scale: usize) -> Result<f64, String> {
    let device = Device::flex();
    let model = model.valid();
    let mut total = 0.0;
    for (input, target) in pairs {
        let out = model.forward(batch_tensor(std::slice::from_ref(input), &device));
        let [_, _, h, w] = out.dims();
        let planes = out.into_data().try_to_vec::<f32>().map_err(|e| format!("{e:?}"))?;
        total += psnr(&Planar { width: w, height: h, planes }.to_rgb8(), target, scale as u32)?;
    }
    Ok(total / pairs.len() as f64)
}

/// Trains (or resumes) the run in `files.run_dir`, then writes the model to `files.output`;
/// `hooks` hear of each step and validation.
pub fn train(settings: &TrainSettings, files: &RunFiles, hooks: &mut impl TrainHooks) -> Result<TrainOutcome, String> {
    let degradation = Degradation::parse(&settings.degradation)?;
    check_settings(settings, &degradation)?;
    check_run_dir(&files.run_dir, settings)?;
    let device = Device::flex().autodiff();
    device.seed(settings.seed);
    let images = load_folder(&settings.train_dir)?.iter().map(|(_, im)| Planar::from_rgb8(im)).collect();
    let sampler = PatchSampler::new(images, settings.patch)?;
    let val = validation_pairs(settings, &degradation)?;

    let (mut model, mut optim, mut progress, resumed) = start(settings, &files.run_dir, &device)?;
    hooks.started(progress.step, settings.steps, resumed);
    let mut log = std::fs::OpenOptions::new().create(true).append(true).open(files.run_dir.join("log.csv"))
        .map_err(|e| format!("cannot write the log: {e}"))?;
    let mut loss_sum = 0.0;
    let mut loss_count = 0;
    // One part of the batch per CPU thread (`--threads`), each on its own fork of the model; at
    // least two, which on one thread is faster too (0.39 against 0.44 s per step of the bundled
    // denoiser's command: a part's maps stay in cache).
    let parts = rayon::current_num_threads().max(2);
    let stop_at = files.stop_after.map_or(settings.steps, |n| (progress.step + n).min(settings.steps));
    while progress.step < stop_at {
        let mut rng = step_rng(settings.seed, progress.step);
        let targets: Vec<Planar> = (0..settings.batch).map(|_| sampler.sample(settings.patch, &mut rng)).collect();
        let inputs: Vec<Planar> = targets.iter().map(|t| degradation.apply(t, &mut rng)).collect::<Result<_, _>>()?;
        let (loss, grads) = loss_and_grads(&model, &inputs, &targets, &device, parts);
        let lr = learning_rate(settings, progress.step);
        model = optim.step(lr, model, grads);
        loss_sum += finite_loss(loss as f64, progress.step + 1, settings.lr)?;
        loss_count += 1;
        progress.step += 1;
        hooks.step(progress.step);

        if progress.step % settings.val_every == 0 || progress.step == settings.steps {
            let val_psnr = validate(&model, &val, degradation.scale())?;
            let mean_loss = loss_sum / loss_count as f64;
            progress.val_psnr = Some(val_psnr);
            writeln!(log, "{},{mean_loss:.6},{lr:.3e},{val_psnr:.3}", progress.step).map_err(|e| e.to_string())?;
            hooks.validated(&Validation { step: progress.step, loss: mean_loss, lr, psnr: val_psnr });
            (loss_sum, loss_count) = (0.0, 0);
            checkpoint::save(&files.run_dir, &model, &optim, &progress)?;
        }
    }
    if progress.step < settings.steps {
        checkpoint::save(&files.run_dir, &model, &optim, &progress)?;
        return Ok(TrainOutcome::Stopped { step: progress.step, steps: settings.steps });
    }
    let bytes = web_format::save(&model.valid(), &files.provenance, files.dtype)?;
    write_atomically(&files.output, &bytes)?;
    Ok(TrainOutcome::Finished { steps: progress.step, bytes: bytes.len(), val_psnr: progress.val_psnr })
}

/// The loss of step `step`, or the error that stops a diverged run: once the loss is NaN or
/// infinite the weights are too, so nothing more is saved (the run's checkpoints are kept).
fn finite_loss(loss: f64, step: usize, lr: f64) -> Result<f64, String> {
    if loss.is_finite() {
        return Ok(loss);
    }
    Err(format!("training diverged at step {step}: the loss is {loss} (try a lower --lr than {lr}); the run's checkpoints are kept"))
}

/// A fresh model and optimizer, or the run's latest checkpoint (then `true`).
fn start(
    settings: &TrainSettings,
    run_dir: &Path,
    device: &Device,
) -> Result<(Grl, ModuleOptimizer, Progress, bool), String> {
    let model = settings.config.init(device);
    let optim = AdamConfig::new().init();
    match checkpoint::latest(run_dir)? {
        Some(dir) => {
            let (model, optim, progress) = checkpoint::load(&dir, model, optim)?;
            Ok((model, optim, progress, true))
        }
        None => {
            let model = match &settings.init {
                Some(path) => initial_weights(path, &settings.config, device)?,
                None => model,
            };
            Ok((model, optim, Progress { step: 0, val_psnr: None }, false))
        }
    }
}

/// The weights of the web-format model at `path` for `config`: its own configuration, one
/// that differs in the scale only (an x4 upscaler from an x2 one), whose body is kept and
/// whose tail starts from random weights, or one with fewer stages, whose stages are kept and
/// followed by new ones that start as the identity.
fn initial_weights(path: &Path, config: &GrlConfig, device: &Device) -> Result<Grl, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let (model, info) = web_format::load(bytes, device).map_err(|e| format!("{}: {e}", path.display()))?;
    if &info.config == config {
        return Ok(model);
    }
    let upscalers = info.config.upscale > 1 && config.upscale > 1 && info.config.upsampler == config.upsampler;
    if upscalers && config.same_body(&info.config) {
        return Ok(model.with_tail_of(config.init(device)));
    }
    if config.extends_body(&info.config) {
        return Ok(model.with_stages_of(config.init(device)));
    }
    Err(format!(
        "{} has another configuration than --config: fine-tuning keeps the architecture (an upscaler may start from one of another scale: its body is kept, its tail starts anew; a model with stages appended starts from one without them, its new stages as the identity)",
        path.display()
    ))
}

fn check_settings(settings: &TrainSettings, degradation: &Degradation) -> Result<(), String> {
    settings.config.validate()?;
    let scale = degradation.scale();
    if settings.config.upscale != scale && !(scale == 1 && settings.config.upscale == 1) {
        return Err(format!(
            "the degradation {:?} needs a model with upscale {scale}, but the configuration has upscale {}",
            settings.degradation, settings.config.upscale
        ));
    }
    if settings.config.in_channels != 3 || settings.config.out_channels() != 3 {
        return Err("training works on RGB: in_channels and out_channels must be 3".into());
    }
    if settings.patch % scale != 0 {
        return Err(format!("patch is {}: expected a multiple of the scale {scale}", settings.patch));
    }
    // The validation crop is scored with `scale` pixels shaved at each border.
    let min_crop = (4 * scale).max(16);
    for (name, value, min, max) in [
        ("steps", settings.steps, 1, MAX_STEPS),
        ("batch", settings.batch, 1, MAX_BATCH),
        ("patch", settings.patch, scale, MAX_SIDE),
        ("val_every", settings.val_every, 1, MAX_STEPS),
        ("val_crop", settings.val_crop, min_crop, MAX_SIDE),
    ] {
        if !(min..=max).contains(&value) {
            return Err(format!("{name} is {value}: expected {min} to {max}"));
        }
    }
    let (lr, min_lr) = (settings.lr, settings.min_lr);
    if !(lr.is_finite() && lr > 0.0 && lr <= 1.0) {
        return Err(format!("lr is {lr}: expected a learning rate above 0 and at most 1"));
    }
    if !(min_lr.is_finite() && (0.0..=lr).contains(&min_lr)) {
        return Err(format!("min_lr is {min_lr}: expected 0 to lr ({lr})"));
    }
    Ok(())
}

/// Upper bounds of the training settings: past them a run is a typo, or exhausts memory
/// (a batch of patches, a validation crop) before its first step.
const MAX_STEPS: usize = 10_000_000;
const MAX_BATCH: usize = 256;
const MAX_SIDE: usize = 2048;

/// Creates the run folder with its settings, or checks that a resumed run has the same.
fn check_run_dir(run_dir: &Path, settings: &TrainSettings) -> Result<(), String> {
    std::fs::create_dir_all(run_dir).map_err(|e| format!("cannot create {}: {e}", run_dir.display()))?;
    let path = run_dir.join("settings.json");
    match std::fs::read_to_string(&path) {
        Ok(json) => {
            let stored: TrainSettings = serde_json::from_str(&json).map_err(|e| format!("{}: {e}", path.display()))?;
            if &stored != settings {
                return Err(format!(
                    "{} holds a run with other settings ({}): use another --run folder or the same settings",
                    run_dir.display(),
                    path.display()
                ));
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let json = serde_json::to_string_pretty(settings).map_err(|e| e.to_string())?;
            write_atomically(&path, json.as_bytes())
        }
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

#[cfg(test)]
mod tests;
