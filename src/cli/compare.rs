//! `grl compare`: PSNR and SSIM of restored images against their clean references, by the
//! definitions `grl eval` uses (8-bit RGB, `shave` border pixels dropped), so that the outputs
//! of any restorer are scored as grl's are.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::Args;

use crate::train::data::load_folder;
use crate::train::metrics::{psnr, ssim};
use crate::web_format::printable;

#[derive(Args, Debug)]
pub struct CompareArgs {
    /// Folder of clean images (e.g. `clean/` of `grl degrade`).
    #[arg(long)]
    reference: PathBuf,
    /// Folder of restored images: one per reference image, of the same name up to the
    /// extension and of the same size.
    restored: PathBuf,
    /// Border pixels left out (`grl eval` shaves the scale for super-resolution).
    #[arg(long, default_value_t = 0)]
    shave: u32,
    /// One JSON line (`images`, `psnr_db`, `ssim`, `per_image`) instead of the table.
    #[arg(long)]
    json: bool,
}

/// One restored image's scores.
struct Row {
    name: String,
    psnr: f64,
    ssim: f64,
}

pub fn compare(args: CompareArgs) -> Result<(), String> {
    let mut restored: BTreeMap<String, image::RgbImage> =
        load_folder(&args.restored)?.into_iter().map(|(name, image)| (stem(&name), image)).collect();
    let mut rows = Vec::new();
    for (name, reference) in load_folder(&args.reference)? {
        let output = restored.remove(&stem(&name)).ok_or_else(|| {
            format!("{} has no image named {}.* for {}", args.restored.display(), stem(&name), args.reference.join(&name).display())
        })?;
        check_sizes(&name, &reference, &output, args.shave)?;
        let (psnr, ssim) = (psnr(&output, &reference, args.shave)?, ssim(&output, &reference, args.shave)?);
        rows.push(Row { psnr, ssim, name: printable(&name) });
    }
    let mean = |f: fn(&Row) -> f64| rows.iter().map(f).sum::<f64>() / rows.len() as f64;
    let (p, s) = (mean(|r| r.psnr), mean(|r| r.ssim));
    if args.json {
        let per_image: Vec<_> = rows.iter().map(|r| serde_json::json!({"name": r.name, "psnr_db": r.psnr, "ssim": r.ssim})).collect();
        let line = serde_json::json!({"restored": args.restored, "images": rows.len(), "psnr_db": p, "ssim": s, "per_image": per_image});
        println!("{line}");
    } else {
        println!("{:<24} {:>10} {:>8}", "image", "PSNR dB", "SSIM");
        rows.iter().for_each(|r| println!("{:<24} {:>10.2} {:>8.4}", r.name, r.psnr, r.ssim));
        println!("{:<24} {p:>10.2} {s:>8.4}\npsnr_db={p:.2} ssim={s:.4}", "mean");
    }
    Ok(())
}

/// The file name without its extension.
fn stem(name: &str) -> String {
    Path::new(name).file_stem().unwrap_or_default().to_string_lossy().into_owned()
}

/// Both images of one size, with at least SSIM's 11x11 window left after shaving.
fn check_sizes(name: &str, reference: &image::RgbImage, output: &image::RgbImage, shave: u32) -> Result<(), String> {
    let ((w, h), (ow, oh)) = (reference.dimensions(), output.dimensions());
    if (w, h) != (ow, oh) {
        return Err(format!("{name}: the restored image is {ow}x{oh}, the reference {w}x{h}: expected the same size"));
    }
    let least = 2 * u64::from(shave) + 11;
    if u64::from(w.min(h)) < least {
        return Err(format!("{name} is {w}x{h}: too small to score with --shave {shave} (at least {least} pixels a side)"));
    }
    Ok(())
}
