//! `grl convert` and `grl info`.

use std::path::Path;

use burn::tensor::Device;

use crate::atomic_write::write_atomically;
use crate::model::memory::AttentionPath;
use crate::model::{Grl, GrlConfig};
use crate::tiling::memory::{MemoryLimits, WEBGPU_BUDGET, WEBGPU_DEFAULT_BINDING, choose_tile};
use crate::web_format::{self, Provenance, StorageDType};

/// The configuration: a preset name, a JSON file (bare GRL arguments or a fixture's
/// `config.json` with `model_kwargs`), or else the checkpoint's file name.
pub(super) fn resolve_config(checkpoint: &Path, config: Option<&str>) -> Result<(GrlConfig, String), String> {
    match config {
        Some(json) if json.ends_with(".json") => {
            let text = std::fs::read_to_string(json).map_err(|e| format!("cannot read {json}: {e}"))?;
            let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("{json} is not JSON: {e}"))?;
            let args = value.get("model_kwargs").cloned().unwrap_or_else(|| value.clone());
            let config: GrlConfig = serde_json::from_value(args).map_err(|e| format!("{json}: {e}"))?;
            config.validate().map_err(|e| format!("{json}: {e}"))?;
            let name = match value.get("name").and_then(|n| n.as_str()) {
                Some(name) => name.to_string(),
                None => Path::new(json).file_stem().unwrap_or_default().to_string_lossy().into_owned(),
            };
            Ok((config, name))
        }
        Some(preset) => Ok((GrlConfig::preset(preset)?, preset.to_string())),
        None => {
            let stem = checkpoint.file_stem().unwrap_or_default().to_string_lossy().into_owned();
            let config = GrlConfig::preset(&stem).map_err(|_| {
                format!(
                    "cannot tell the configuration of {}: its name is not a released model's; \
                     pass --config PRESET (see `grl presets`) or --config FILE.json",
                    checkpoint.display()
                )
            })?;
            Ok((config, stem))
        }
    }
}

/// Loads a checkpoint of any supported layout into a model for `config`.
pub fn load_checkpoint(checkpoint: &Path, config: &GrlConfig, device: &Device) -> Result<Grl, String> {
    if !checkpoint.is_file() {
        return Err(format!("{}: no such file", checkpoint.display()));
    }
    let loaded = match checkpoint.extension().and_then(|e| e.to_str()) {
        Some("safetensors") => {
            let bytes = std::fs::read(checkpoint).map_err(|e| format!("cannot read {}: {e}", checkpoint.display()))?;
            Grl::load_safetensors_bytes(bytes, config, device)
        }
        _ => Grl::load_pytorch(checkpoint, config, device),
    };
    loaded.map(|(grl, _)| grl).map_err(|e| {
        format!(
            "{}: {e} (shapes follow embed_dim, depths, num_heads_*, mlp_ratio, local_connection, \
             upsampler, upscale and the channel counts: check --config)",
            checkpoint.display()
        )
    })
}

pub fn convert(checkpoint: &Path, config: Option<&str>, dtype: StorageDType, output: &Path) -> Result<(), String> {
    let (config, name) = resolve_config(checkpoint, config)?;
    let device = Device::flex();
    let grl = load_checkpoint(checkpoint, &config, &device)?;
    let source = checkpoint.file_name().unwrap_or_default().to_string_lossy();
    let provenance = Provenance::from_release_name(&name, &source);
    let bytes = web_format::save(&grl, &provenance, dtype)?;
    write_atomically(output, &bytes)?;
    println!("wrote {} ({} bytes, {dtype:?})", output.display(), bytes.len());
    Ok(())
}

/// Prints what a web-format file says; a configuration that does not match the file's tensors
/// is printed too, then reported as the error (exit 1): the file cannot be loaded.
pub fn info(file: &Path) -> Result<(), String> {
    let bytes = super::bundled::read_model(file)?;
    let (info, shapes) = web_format::inspect(&bytes).map_err(|e| format!("{}: {e}", file.display()))?;
    let p = &info.provenance;
    println!("file:        {} ({} bytes, {:?}, format version {})", file.display(), bytes.len(), info.dtype, info.format_version);
    println!("name:        {}", p.name);
    println!("task:        {}", p.task);
    println!("scale:       x{}", info.config.upscale);
    if p.noise_level > 0 {
        println!("noise level: {}", p.noise_level);
    }
    if p.jpeg_quality > 0 {
        println!("jpeg quality: {}", p.jpeg_quality);
    }
    println!("parameters:  {}", info.params);
    println!("channels:    {} -> {}", info.config.in_channels, info.config.out_channels());
    println!("source:      {}", p.source);
    println!("licence:     {}", p.license);
    println!("config:      {}", serde_json::to_string(&info.config).map_err(|e| e.to_string())?);
    shapes.map_err(|e| format!("{}: {e}", file.display()))?;
    print_auto_tiles(&info.config);
    Ok(())
}

/// The limits `grl info` shows the automatic tile under: WebGPU's defaults with the package's
/// budget, and a desktop GPU's binding with `grl restore`'s budget.
const TILE_LIMITS: [(&str, MemoryLimits); 2] = [
    ("WebGPU's default limits (128 MiB binding, 512 MiB budget: the package's)", MemoryLimits {
        max_buffer_bytes: WEBGPU_DEFAULT_BINDING,
        budget_bytes: WEBGPU_BUDGET,
    }),
    ("a desktop GPU's (2 GiB binding, 1 GiB budget: grl restore's)", MemoryLimits {
        max_buffer_bytes: 2 << 30,
        budget_bytes: super::backend::GPU_BUDGET,
    }),
];

/// The largest tile side shown: an image of 4096 pixels a side fits in one.
const MAX_SHOWN_TILE: usize = 4096;

/// The tile side `tileSize: "auto"` (and `grl restore` without `--tile`) chooses for a large
/// image under [`TILE_LIMITS`], on the fused kernels and on the plain ops.
fn print_auto_tiles(config: &GrlConfig) {
    for (i, (limits_text, limits)) in TILE_LIMITS.iter().enumerate() {
        let side = |path| match choose_tile(&config.memory(path), 1, *limits, MAX_SHOWN_TILE) {
            Some(side) => side.to_string(),
            None => "none".into(),
        };
        let label = if i == 0 { "auto tile:" } else { "" };
        println!("{label:<12} {} under {limits_text} (plain ops: {})", side(AttentionPath::FusedGpu), side(AttentionPath::Plain));
    }
}
