//! `grl degrade`: the test pairs `grl eval` scores, written as PNG files, so that any other
//! restorer (a browser upscaler, a Python model) gets the same inputs and `grl compare` scores
//! its outputs as `grl eval` scores grl's.

use std::path::{Path, PathBuf};

use clap::Args;
use image::RgbImage;

use crate::atomic_write::write_atomically;
use crate::train::data::load_folder;
use crate::train::degrade::Degradation;
use crate::train::testset::pair;

#[derive(Args, Debug)]
pub struct DegradeArgs {
    /// Folder of clean images.
    dir: PathBuf,
    /// As for `grl train`: `bicubic:2`, `noise:25`, `jpeg:20`, ...
    #[arg(long)]
    degradation: String,
    /// Keep the centre square of this side (rounded down to a multiple of the scale) of each
    /// image; by default the whole image less the rows and columns past a multiple of the scale.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=65_535))]
    crop: Option<u32>,
    /// Image i is degraded with seed + i (as `grl eval` does).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Folder that receives `clean/`, `degraded/` and `baseline/` (the degraded input, or its
    /// bicubic upscaling), one `NAME.png` per image in each.
    #[arg(short, long)]
    output: PathBuf,
}

pub fn degrade(args: DegradeArgs) -> Result<(), String> {
    let degradation = Degradation::parse(&args.degradation)?;
    let images = load_folder(&args.dir)?;
    let folders = ["clean", "degraded", "baseline"].map(|sub| args.output.join(sub));
    for folder in &folders {
        std::fs::create_dir_all(folder).map_err(|e| format!("cannot create {}: {e}", folder.display()))?;
    }
    for (i, (name, image)) in images.iter().enumerate() {
        let (clean, degraded) = pair(name, image, &degradation, args.crop, args.seed + i as u64)?;
        let file = format!("{}.png", Path::new(name).file_stem().unwrap_or_default().to_string_lossy());
        let baseline = degradation.baseline(&degraded).to_rgb8();
        for (folder, image) in folders.iter().zip([&clean, &degraded.to_rgb8(), &baseline]) {
            write_png(&folder.join(&file), image)?;
        }
    }
    println!(
        "{} images from {} ({}): {}/{{clean,degraded,baseline}}/NAME.png",
        images.len(),
        args.dir.display(),
        args.degradation,
        args.output.display()
    );
    Ok(())
}

fn write_png(path: &Path, image: &RgbImage) -> Result<(), String> {
    let mut bytes = std::io::Cursor::new(Vec::new());
    image.write_to(&mut bytes, image::ImageFormat::Png).map_err(|e| format!("cannot encode {}: {e}", path.display()))?;
    write_atomically(path, bytes.get_ref())
}
