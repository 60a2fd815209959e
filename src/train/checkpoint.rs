//! Training checkpoints: the model and the optimizer in Burn's burnpack format (which keeps
//! the parameter ids that tie the optimizer's moments to the weights) and the step, in a
//! folder per checkpoint; a `latest` file names the newest complete one, so an interruption
//! at any moment leaves a usable checkpoint behind.

use std::path::{Path, PathBuf};

use burn::optim::ModuleOptimizer;
use burn::store::{BurnpackStore, ModuleSnapshot};
use serde::{Deserialize, Serialize};

use crate::atomic_write::write_atomically;
use crate::model::Grl;

/// What a checkpoint records beside the tensors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// Optimizer steps done.
    pub step: usize,
    /// The last validation PSNR in dB, if any.
    pub val_psnr: Option<f64>,
}

/// Writes a checkpoint of `model` and `optim` after `progress.step` steps into `run_dir`, then
/// points `latest` at it and removes older checkpoints.
pub fn save(run_dir: &Path, model: &Grl, optim: &ModuleOptimizer, progress: &Progress) -> Result<(), String> {
    let name = format!("step-{:07}", progress.step);
    let dir = run_dir.join(&name);
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let mut store = BurnpackStore::from_file(dir.join("model.bpk")).overwrite(true);
    model.save_into(&mut store).map_err(|e| format!("cannot write the model checkpoint: {e}"))?;
    optim.save(dir.join("optim.bpk")).map_err(|e| format!("cannot write the optimizer checkpoint: {e:?}"))?;
    let json = serde_json::to_string_pretty(progress).map_err(|e| e.to_string())?;
    write_atomically(&dir.join("progress.json"), json.as_bytes())?;
    write_atomically(&run_dir.join("latest"), name.as_bytes())?;
    for entry in std::fs::read_dir(run_dir).map_err(|e| e.to_string())?.flatten() {
        let other = entry.file_name().to_string_lossy().into_owned();
        if other.starts_with("step-") && other != name {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    Ok(())
}

/// The newest complete checkpoint of `run_dir`, if any.
pub fn latest(run_dir: &Path) -> Result<Option<PathBuf>, String> {
    match std::fs::read_to_string(run_dir.join("latest")) {
        Ok(name) => Ok(Some(run_dir.join(name.trim()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {}: {e}", run_dir.join("latest").display())),
    }
}

/// Loads the checkpoint in `dir` into `model` and `optim` (built for the run's settings).
pub fn load(dir: &Path, mut model: Grl, optim: ModuleOptimizer) -> Result<(Grl, ModuleOptimizer, Progress), String> {
    let mut store = BurnpackStore::from_file(dir.join("model.bpk"));
    model.load_from(&mut store).map_err(|e| format!("cannot read the checkpoint {}: {e}", dir.display()))?;
    let optim = optim.load(dir.join("optim.bpk")).map_err(|e| format!("cannot read the optimizer checkpoint in {}: {e:?}", dir.display()))?;
    let json = std::fs::read_to_string(dir.join("progress.json")).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let progress = serde_json::from_str(&json).map_err(|e| format!("{}: {e}", dir.join("progress.json").display()))?;
    Ok((model, optim, progress))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::GrlConfig;
    use burn::optim::{AdamConfig, GradientsParams};
    use burn::tensor::{Device, Distribution, Tensor};

    fn tiny() -> GrlConfig {
        GrlConfig { embed_dim: 8, upscale: 1, depths: vec![1], num_heads_window: vec![1], num_heads_stripe: vec![1], mlp_ratio: 1.0, ..GrlConfig::default() }
    }

    /// One Adam step on a random batch.
    fn step(model: Grl, optim: &mut ModuleOptimizer, device: &Device) -> Grl {
        let x = Tensor::<4>::random([1, 3, 16, 16], Distribution::Uniform(0.0, 1.0), device);
        let loss = (model.forward(x.clone()) - x).abs().mean();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        optim.step(1e-3, model, grads)
    }

    #[test]
    fn a_checkpoint_restores_weights_ids_and_optimizer_state() {
        let device = Device::flex().autodiff();
        let dir = tempfile::tempdir().unwrap();
        let mut optim = AdamConfig::new().init();
        let model = step(tiny().init(&device), &mut optim, &device);
        save(dir.path(), &model, &optim, &Progress { step: 1, val_psnr: Some(20.0) }).unwrap();
        let latest = latest(dir.path()).unwrap().unwrap();
        let (loaded, mut loaded_optim, progress) = load(&latest, tiny().init(&device), AdamConfig::new().init()).unwrap();
        assert_eq!(progress, Progress { step: 1, val_psnr: Some(20.0) });
        assert_eq!(loaded.conv_first.weight.id, model.conv_first.weight.id, "parameter ids survive");
        let weights = |m: &Grl| m.conv_first.weight.val().into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(weights(&loaded), weights(&model));
        device.seed(5);
        let a = step(model, &mut optim, &device);
        device.seed(5);
        let b = step(loaded, &mut loaded_optim, &device);
        assert_eq!(weights(&a), weights(&b), "the next step is the same as without the checkpoint");
    }
}
