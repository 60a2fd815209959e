//! What a `grl restore` run will do, decided before any work: the images to read (files named,
//! and the images directly inside folders named), the file each is written to, and the
//! refusals found before the model loads (two images onto one output, an output over an input).
//!
//! Folders are not searched recursively, as Real-ESRGAN-ncnn-vulkan's `-i dir` is not: the
//! outputs are written flat into one folder, where two subfolders' `a.png` would collide, and
//! an output folder inside an input folder would be read back as input on the next run.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use clap::ValueEnum;

use super::image_io::check_output;

/// The extensions of the images read from a folder (case-insensitive).
pub const IMAGE_EXTENSIONS: [&str; 4] = ["png", "jpg", "jpeg", "webp"];

/// The format of the images written into an output folder.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    Png,
    Jpg,
    Webp,
}

impl OutputFormat {
    fn extension(self) -> &'static str {
        match self {
            OutputFormat::Png => "png",
            OutputFormat::Jpg => "jpg",
            OutputFormat::Webp => "webp",
        }
    }
}

/// How the outputs in a folder are named: `name{suffix}.{format}`.
#[derive(Debug, Clone, Default)]
pub struct Naming {
    pub suffix: Option<String>,
    pub format: Option<OutputFormat>,
}

/// One image to restore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub input: PathBuf,
    pub output: PathBuf,
    /// The output exists and is kept (a folder run without `--overwrite`).
    pub skip: bool,
}

/// The jobs of a run, in order: named files as given, each folder's images by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub jobs: Vec<Job>,
    /// `-o` is a folder (several images), rather than one output file.
    pub into_folder: bool,
    /// Images in an input folder that are outputs of other images of this run (an output
    /// folder that is also an input folder): left out, not restored again.
    pub left_out: usize,
}

/// An image found, and whether it was named (rather than found in a folder).
struct Found {
    path: PathBuf,
    named: bool,
}

/// Plans a run of `inputs` (files or folders) into `output`: one file when the only input is
/// a file and `output` is not a folder (an existing one, or a path ending in `/`), as before;
/// a folder (created when missing) otherwise. Reads only folder listings.
pub fn plan(inputs: &[PathBuf], output: &Path, naming: &Naming, overwrite: bool) -> Result<Plan, String> {
    let names_folder = output.is_dir() || output.as_os_str().to_string_lossy().ends_with(std::path::MAIN_SEPARATOR);
    if let [input] = inputs
        && !input.is_dir()
        && !names_folder
    {
        if naming.suffix.is_some() || naming.format.is_some() {
            return Err(format!(
                "--suffix and --format name the images written into an output folder: -o {} is a file, its extension gives the format",
                output.display()
            ));
        }
        check_output(output)?;
        let job = Job { input: input.clone(), output: output.to_path_buf(), skip: false };
        return Ok(Plan { jobs: vec![job], into_folder: false, left_out: 0 });
    }
    if let Some(suffix) = &naming.suffix
        && suffix.contains(['/', '\\'])
    {
        return Err(format!("--suffix {suffix:?} holds a path separator: expected a part of a file name"));
    }
    if output.exists() && !output.is_dir() || !output.exists() && is_image_name(output) {
        return Err(format!("-o {} names a file: several images need an output folder", output.display()));
    }
    let found = find_images(inputs)?;
    let outputs: Vec<PathBuf> = found.iter().map(|f| output.join(output_name(&f.path, naming))).collect();
    let (found, outputs, left_out) = leave_out_outputs(found, outputs);
    check_collisions(&found, &outputs)?;
    let jobs = found
        .into_iter()
        .zip(outputs)
        .map(|(f, output)| Job { skip: !overwrite && output.exists(), input: f.path, output })
        .collect();
    Ok(Plan { jobs, into_folder: true, left_out })
}

/// The images of `inputs`: a file as named, a folder's images (by [`IMAGE_EXTENSIONS`], not
/// hidden, not in subfolders) sorted by name. Refused when there are none at all.
fn find_images(inputs: &[PathBuf]) -> Result<Vec<Found>, String> {
    let mut found = Vec::new();
    for input in inputs {
        if !input.is_dir() {
            // A missing file is one failed image when its turn comes, like a corrupt one.
            found.push(Found { path: input.clone(), named: true });
            continue;
        }
        let entries = std::fs::read_dir(input).map_err(|e| format!("cannot read the folder {}: {e}", input.display()))?;
        let mut images: Vec<PathBuf> = entries
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| is_image_name(path) && path.is_file())
            .collect();
        images.sort();
        found.extend(images.into_iter().map(|path| Found { path, named: false }));
    }
    if found.is_empty() {
        let list: Vec<_> = inputs.iter().map(|p| p.display().to_string()).collect();
        return Err(format!("no images ({}) in {}", IMAGE_EXTENSIONS.join(", "), list.join(", ")));
    }
    Ok(found)
}

/// Whether a folder entry is read as an image: a known extension and not hidden (`.name`,
/// such as macOS's `._photo.jpg` resource forks).
fn is_image_name(path: &Path) -> bool {
    let hidden = path.file_name().is_some_and(|name| name.to_string_lossy().starts_with('.'));
    let extension = path.extension().and_then(OsStr::to_str).map(str::to_ascii_lowercase);
    !hidden && extension.is_some_and(|ext| IMAGE_EXTENSIONS.contains(&ext.as_str()))
}

/// `name{suffix}.{format}` for the image at `input` (PNG by default).
fn output_name(input: &Path, naming: &Naming) -> OsString {
    let mut name = input.file_stem().unwrap_or(input.as_os_str()).to_os_string();
    name.push(naming.suffix.as_deref().unwrap_or(""));
    name.push(".");
    name.push(naming.format.unwrap_or(OutputFormat::Png).extension());
    name
}

/// A path for comparing files: canonical when it exists (so `./a.png` and `dir/../a.png`
/// match), else its folder's canonical form joined with its name.
fn identity(path: &Path) -> PathBuf {
    if let Ok(canonical) = path.canonicalize() {
        return canonical;
    }
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    match (dir.canonicalize(), path.file_name()) {
        (Ok(dir), Some(name)) => dir.join(name),
        _ => path.to_path_buf(),
    }
}

/// Drops the images found in a folder that another image of the run writes (outputs of an
/// earlier run into the same folder); returns the rest, their outputs, and how many went.
fn leave_out_outputs(found: Vec<Found>, outputs: Vec<PathBuf>) -> (Vec<Found>, Vec<PathBuf>, usize) {
    let written: HashMap<PathBuf, usize> = outputs.iter().enumerate().map(|(i, o)| (identity(o), i)).collect();
    let before = found.len();
    let kept: (Vec<Found>, Vec<PathBuf>) = found
        .into_iter()
        .zip(outputs)
        .enumerate()
        .filter(|(i, (f, _))| f.named || written.get(&identity(&f.path)).is_none_or(|writer| writer == i))
        .map(|(_, pair)| pair)
        .unzip();
    let left_out = before - kept.0.len();
    (kept.0, kept.1, left_out)
}

/// Refuses, before any work, an output that is also an input (it would be overwritten) and
/// two images with one output.
fn check_collisions(found: &[Found], outputs: &[PathBuf]) -> Result<(), String> {
    let inputs: HashMap<PathBuf, &Path> = found.iter().map(|f| (identity(&f.path), f.path.as_path())).collect();
    let mut writers: HashMap<PathBuf, &Path> = HashMap::new();
    for (f, output) in found.iter().zip(outputs) {
        let id = identity(output);
        if let Some(input) = inputs.get(&id) {
            return Err(format!(
                "{} would be written over the input {}: choose another output folder or a --suffix",
                output.display(),
                input.display()
            ));
        }
        if let Some(other) = writers.insert(id, &f.path) {
            return Err(format!(
                "{} and {} would both be written to {}: restore one of them separately",
                other.display(),
                f.path.display(),
                output.display()
            ));
        }
    }
    Ok(())
}
