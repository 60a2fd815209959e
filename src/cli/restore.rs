//! `grl restore`: an image file in, a restored image file out, with a progress bar.

use std::path::Path;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

use super::Backend;
use super::bundled;
use super::backend::choose;
use super::image_io::{check_output, read_image, write_image};
use crate::restore::{RestoreOptions, restore_rgba};
use crate::tiling::run::{TileHooks, TileProgress};
use crate::web_format;

/// Progress bar over tiles.
struct Bar(ProgressBar);

impl TileHooks for Bar {
    fn progress(&mut self, p: TileProgress) {
        self.0.set_length(p.total as u64);
        self.0.set_position(p.done as u64);
        self.0.set_message(format!("tile {}", p.tile));
    }
}

pub fn restore(model: &Path, input: &Path, output: &Path, options: RestoreOptions, backend: Backend) -> Result<(), String> {
    check_output(output)?;
    let bytes = bundled::read_model(model)?;
    let image = read_image(input)?;
    let chosen = choose(backend)?;
    let (grl, info) = web_format::load(bytes, &chosen.device).map_err(|e| format!("{}: {e}", model.display()))?;

    let bar = ProgressBar::new(1).with_style(
        ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} tiles, {msg}, ETA {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let started = Instant::now();
    let mut hooks = Bar(bar);
    let restored = pollster::block_on(restore_rgba(
        &grl,
        &chosen.device,
        chosen.limits,
        &image.rgba,
        image.size,
        options,
        &mut hooks,
    ))
    .map_err(|e| e.to_string())?;
    hooks.0.finish_and_clear();
    write_image(output, restored.size, &restored.rgba, image.sixteen_bit)?;
    println!(
        "{} ({}) -> {} ({}) with {} on {}, tile {}, {:.2} s",
        input.display(),
        image.size,
        output.display(),
        restored.size,
        info.provenance.name,
        chosen.name,
        restored.tile,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
