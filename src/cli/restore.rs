//! `grl restore`: image files in, restored image files out: one file into `-o FILE`, or many
//! (files and folders, see [`super::batch`]) into `-o FOLDER`, with the model loaded once, one
//! progress bar over files and tiles, and a summary. In a folder run an image that fails is
//! reported on one line and the others go on; the exit status says whether any failed.

use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

use super::Backend;
use super::backend::{Chosen, choose};
use super::batch::{Job, Naming, plan};
use super::bundled;
use super::host_memory::{available_bytes, check_fits};
use super::image_io::{check_output_folder, image_size, read_image, write_image};
use crate::model::Grl;
use crate::restore::{RestoreOptions, restore_rgba};
use crate::tiling::run::{TileHooks, TileProgress};
use crate::web_format::{self, WebModelInfo};

/// What `grl restore` was asked.
pub struct Run<'a> {
    pub model: &'a Path,
    pub inputs: &'a [PathBuf],
    pub output: &'a Path,
    pub options: RestoreOptions,
    pub backend: Backend,
    pub naming: Naming,
    pub overwrite: bool,
}

/// Positions per image on the progress bar (its tiles share them).
const STEPS_PER_IMAGE: u64 = 1000;

/// The progress bar over every image to restore and the tiles of the current one.
struct Bar {
    bar: ProgressBar,
    /// Images started so far (1 for the first), images in all, and the current one's name.
    image: u64,
    images: u64,
    name: String,
}

impl Bar {
    /// A bar on stderr, drawn only when it is a terminal.
    fn new(images: usize) -> Self {
        let bar = ProgressBar::new(images as u64 * STEPS_PER_IMAGE).with_style(
            ProgressStyle::with_template("{spinner} [{bar:30}] {msg}, ETA {eta}").expect("valid template").progress_chars("=> "),
        );
        Bar { bar, image: 0, images: images as u64, name: String::new() }
    }

    fn start(&mut self, input: &Path) {
        self.image += 1;
        self.name = input.file_name().unwrap_or(input.as_os_str()).to_string_lossy().into_owned();
        self.bar.set_position((self.image - 1) * STEPS_PER_IMAGE);
        self.bar.set_message(format!("image {}/{} {}", self.image, self.images, self.name));
    }

    /// Prints a line above the bar (also when the bar is hidden).
    fn println(&self, line: String, to_stderr: bool) {
        self.bar.suspend(|| if to_stderr { eprintln!("{line}") } else { println!("{line}") });
    }
}

impl TileHooks for Bar {
    fn progress(&mut self, p: TileProgress) {
        let within = STEPS_PER_IMAGE * p.done as u64 / p.total.max(1) as u64;
        self.bar.set_position((self.image - 1) * STEPS_PER_IMAGE + within);
        let (i, n, name, tile) = (self.image, self.images, &self.name, p.tile);
        self.bar.set_message(format!("image {i}/{n} {name}, tile {}/{} ({tile})", p.done, p.total));
    }
}

/// The model on its device, loaded once for every image.
struct Session {
    grl: Grl,
    info: WebModelInfo,
    chosen: Chosen,
    options: RestoreOptions,
}

pub fn restore(run: Run) -> Result<(), String> {
    let plan = plan(run.inputs, run.output, &run.naming, run.overwrite)?;
    if plan.into_folder {
        check_output_folder(run.output)?;
    }
    let started = Instant::now();
    let todo: Vec<&Job> = plan.jobs.iter().filter(|job| !job.skip).collect();
    let skipped = plan.jobs.len() - todo.len();
    if plan.left_out > 0 {
        eprintln!("grl: {} images in the input folders are outputs of this run's images: left out", plan.left_out);
    }
    let mut failed = 0;
    if !todo.is_empty() {
        let session = load(run.model, run.backend, run.options)?;
        let mut bar = Bar::new(todo.len());
        for job in &todo {
            bar.start(&job.input);
            match restore_one(&session, job, &mut bar) {
                Ok(line) => bar.println(line, false),
                // One file, as before: its error is the command's.
                Err(e) if !plan.into_folder => return Err(e),
                Err(e) => {
                    failed += 1;
                    bar.println(format!("grl: {e}"), true);
                }
            }
        }
        bar.bar.finish_and_clear();
    }
    if !plan.into_folder {
        return Ok(());
    }
    let restored = todo.len() - failed;
    let skipped_text = match skipped {
        0 => "skipped 0".to_string(),
        n => format!("skipped {n} (their outputs exist; --overwrite replaces them)"),
    };
    let seconds = started.elapsed().as_secs_f64();
    println!("restored {restored}, {skipped_text}, failed {failed}, {seconds:.2} s");
    match failed {
        0 => Ok(()),
        n => Err(format!("{n} of {} images failed (see above)", plan.jobs.len())),
    }
}

/// Reads the model and loads it on the chosen device.
fn load(model: &Path, backend: Backend, options: RestoreOptions) -> Result<Session, String> {
    let bytes = bundled::read_model(model)?;
    let chosen = choose(backend)?;
    let (grl, info) = web_format::load(bytes, &chosen.device).map_err(|e| format!("{}: {e}", model.display()))?;
    Ok(Session { grl, info, chosen, options })
}

/// Restores one image: its size from the header checked against the memory available, then
/// decoded, restored and written whole. Returns the line that reports it.
fn restore_one(session: &Session, job: &Job, bar: &mut Bar) -> Result<String, String> {
    let (input, output) = (&job.input, &job.output);
    let size = image_size(input)?;
    let scale = session.info.config.upscale;
    check_fits(input, size, scale, session.chosen.limits.budget_bytes, available_bytes())?;
    let image = read_image(input)?;
    let started = Instant::now();
    let restored = pollster::block_on(restore_rgba(
        &session.grl,
        &session.chosen.device,
        session.chosen.limits,
        &image.rgba,
        image.size,
        session.options,
        bar,
    ))
    .map_err(|e| format!("{}: {e}", input.display()))?;
    drop(image.rgba);
    write_image(output, restored.size, &restored.rgba, image.sixteen_bit)?;
    Ok(format!(
        "{} ({}) -> {} ({}) with {} on {}, tile {}, {:.2} s",
        input.display(),
        image.size,
        output.display(),
        restored.size,
        session.info.provenance.name,
        session.chosen.name,
        restored.tile,
        started.elapsed().as_secs_f64()
    ))
}
