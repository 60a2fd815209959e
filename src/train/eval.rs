//! Evaluation of a model on a folder of clean images: the task's synthetic degradation,
//! PSNR and SSIM of the model and of the trivial baseline (the noisy input; bicubic
//! upscaling).

use std::path::Path;

use burn::tensor::Device;
use super::data::{Planar, load_folder};
use super::degrade::{Degradation, Quality, Sigma};
use super::metrics::{MIN_SSIM_SIDE, psnr, ssim};
use super::testset::pair;
use crate::Size;
use crate::model::{Grl, Task};
use crate::pixels::{rgb_planes_to_rgba, rgba_to_rgb_planes};
use crate::restore::{RestoreOptions, restore_rgba};
use crate::tiling::memory::MemoryLimits;
use crate::tiling::run::NoHooks;
use crate::web_format::{WebModelInfo, printable};

/// Scores of one image.
#[derive(Debug, Clone, PartialEq)]
pub struct Scores {
    pub name: String,
    pub psnr: f64,
    pub ssim: f64,
    pub baseline_psnr: f64,
    pub baseline_ssim: f64,
}

/// The noise level a blind denoiser (noise level 0 in its metadata) is scored at by default.
const BLIND_SIGMA: f32 = 25.0;

/// The degradation a model undoes, from its metadata: its scale for SR, its noise level for a
/// denoiser, its JPEG quality for artifact removal. `sigma` overrides the noise level, 0 meaning
/// no noise (the model scored on clean images, the baseline then perfect); without it a blind
/// denoiser is scored at [`BLIND_SIGMA`]. `quality` overrides the JPEG quality, and is required
/// for a blind JPEG model (quality 0 in its metadata).
pub fn degradation_of(info: &WebModelInfo, sigma: Option<f32>, quality: Option<u8>) -> Result<Degradation, String> {
    let scale = info.config.upscale;
    match info.provenance.task {
        Task::Dn => {
            let default = match info.provenance.noise_level {
                0 => BLIND_SIGMA,
                level => level as f32,
            };
            Ok(Degradation::Noise(Sigma::Fixed(sigma.unwrap_or(default))))
        }
        Task::Sr if scale >= 2 => Ok(Degradation::Bicubic { scale }),
        Task::Jpeg if scale == 1 => {
            let stored = u8::try_from(info.provenance.jpeg_quality).ok().filter(|q| (1..=100).contains(q));
            match quality.or(stored) {
                Some(q) => Ok(Degradation::Jpeg(Quality::Fixed(q))),
                None => Err(format!(
                    "this JPEG model was trained over several qualities (jpeg_quality {} in its metadata): give one with --quality 1-100",
                    info.provenance.jpeg_quality
                )),
            }
        }
        task => Err(format!(
            "grl eval knows denoising (task dn), bicubic super-resolution (task sr) and JPEG artifact removal (task jpeg); this model's task is {:?}",
            task.as_str()
        )),
    }
}

/// Scores `grl` on every image of `dir`. Image `i` is degraded with seed `seed + i`; SR crops
/// each image to a multiple of the scale and shaves `scale` pixels at the borders.
pub fn evaluate(
    grl: &Grl,
    device: &Device,
    limits: MemoryLimits,
    degradation: &Degradation,
    dir: &Path,
    seed: u64,
    options: RestoreOptions,
) -> Result<Vec<Scores>, String> {
    let scale = degradation.scale();
    let shave = if scale > 1 { scale as u32 } else { 0 };
    let images = load_folder(dir)?;
    check_sizes(&images, scale as u32, shave)?;
    let mut rows = Vec::new();
    for (i, (name, image)) in images.into_iter().enumerate() {
        let (clean, degraded) = pair(&name, &image, degradation, None, seed + i as u64)?;
        let baseline = degradation.baseline(&degraded).to_rgb8();
        let restored = restore_planar(grl, device, limits, &degraded, options)?;
        rows.push(Scores {
            name: printable(&name),
            psnr: psnr(&restored, &clean, shave)?,
            ssim: ssim(&restored, &clean, shave)?,
            baseline_psnr: psnr(&baseline, &clean, shave)?,
            baseline_ssim: ssim(&baseline, &clean, shave)?,
        });
    }
    Ok(rows)
}

/// Refuses, before any restore, an image too small to score: cropped to a multiple of the
/// scale and shaved, it must still hold SSIM's window. Evaluation tools refuse such images
/// too (MATLAB's `ssim_index`, scikit-image's `structural_similarity`) rather than score them
/// with a smaller window, which would not compare with published figures.
fn check_sizes(images: &[(String, image::RgbImage)], scale: u32, shave: u32) -> Result<(), String> {
    let min = (MIN_SSIM_SIDE as u32 + 2 * shave).next_multiple_of(scale);
    match images.iter().find(|(_, im)| im.width() < min || im.height() < min) {
        Some((name, im)) => Err(format!(
            "{} is {}x{}: too small to score, SSIM's {MIN_SSIM_SIDE}x{MIN_SSIM_SIDE} window needs images of at least {min}x{min} pixels{}",
            printable(name),
            im.width(),
            im.height(),
            if shave > 0 { format!(" at x{scale} ({shave} pixels shaved at each border)") } else { String::new() }
        )),
        None => Ok(()),
    }
}

/// The model's 8-bit output for a planar RGB input, through the tiled restore users get.
fn restore_planar(grl: &Grl, device: &Device, limits: MemoryLimits, input: &Planar, options: RestoreOptions) -> Result<image::RgbImage, String> {
    let opaque = vec![1.0; input.width * input.height];
    let rgba = rgb_planes_to_rgba(&input.planes, &opaque);
    let size = Size { height: input.height, width: input.width };
    let restored = pollster::block_on(restore_rgba(grl, device, limits, &rgba, size, options, &mut NoHooks))
        .map_err(|e| e.to_string())?;
    let planes = rgba_to_rgb_planes(&restored.rgba);
    Ok(Planar { width: restored.size.width, height: restored.size.height, planes }.to_rgb8())
}

/// The table `grl eval` prints, ending with `psnr_db=<model> baseline_db=<baseline>` (means).
pub fn table(rows: &[Scores], baseline_name: &str) -> String {
    let mean = |f: fn(&Scores) -> f64| rows.iter().map(f).sum::<f64>() / rows.len() as f64;
    let mut out = format!("{:<24} {:>10} {:>8} {:>14} {:>14}\n", "image", "PSNR dB", "SSIM", format!("{baseline_name} dB"), format!("{baseline_name} SSIM"));
    for r in rows {
        out += &format!("{:<24} {:>10.2} {:>8.4} {:>14.2} {:>14.4}\n", r.name, r.psnr, r.ssim, r.baseline_psnr, r.baseline_ssim);
    }
    let (p, s, bp, bs) = (mean(|r| r.psnr), mean(|r| r.ssim), mean(|r| r.baseline_psnr), mean(|r| r.baseline_ssim));
    out += &format!("{:<24} {p:>10.2} {s:>8.4} {bp:>14.2} {bs:>14.4}\n", "mean");
    out += &format!("psnr_db={p:.2} baseline_db={bp:.2}");
    out
}
