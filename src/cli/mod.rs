//! The `grl` command line (native only): argument parsing and dispatch.

mod backend;
mod batch;
mod bench;
mod bundled;
mod compare;
mod convert;
mod degrade;
mod host_memory;
pub(crate) mod image_io;
mod restore;
mod train;

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::tiling::geometry::{MAX_OVERLAP, MAX_TILE};
use crate::web_format::{StorageDType, printable};

#[derive(Parser, Debug)]
#[command(name = "grl", version, about = "GRL image restoration: convert checkpoints, inspect models, restore images")]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// CPU threads for Burn's CPU backend (default: every core, or RAYON_NUM_THREADS when set).
    #[arg(long, global = true, value_parser = clap::value_parser!(u16).range(1..=1024))]
    threads: Option<u16>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Convert a GRL checkpoint (.pth, .ckpt, .safetensors) into the web format.
    Convert {
        /// The checkpoint: a flat state dict (`model.` keys) or a Lightning checkpoint.
        checkpoint: PathBuf,
        /// A preset name (see `grl presets`) or a JSON file of GRL arguments; by default the
        /// checkpoint's file name, as the releases are named (`sr_grl_small_c3x4.ckpt`).
        #[arg(long)]
        config: Option<String>,
        /// Storage precision of the tensors (computation stays f32).
        #[arg(long, value_enum, default_value_t = Dtype::F16)]
        dtype: Dtype,
        /// The web-format file to write.
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Print a web-format model's configuration, parameter count and provenance (a file or
    /// a bundled model's name). A configuration that does not match the file's tensors is
    /// printed, then reported as an error (exit 1).
    Info { file: PathBuf },
    /// List the presets (the released models' configurations) and the bundled models.
    Presets,
    /// Restore images (PNG, 8 or 16 bit; JPEG; WebP): one file into `-o FILE`, or files and
    /// the images directly inside folders into `-o FOLDER`.
    Restore {
        /// A web-format model file, or a bundled model: `denoise` (the default), `sr-x2`, `sr-x4`
        /// or `jpeg` (`grl presets` lists them).
        #[arg(long, default_value = "denoise")]
        model: PathBuf,
        #[arg(required = true)]
        input: Vec<PathBuf>,
        /// The output file (one input file), or folder (several inputs, a folder, or a path
        /// that is a folder or ends in `/`; created when missing).
        #[arg(short, long)]
        output: PathBuf,
        /// Tile side in input pixels; by default the largest that fits the memory limits.
        #[arg(long, value_parser = whole_number(1, MAX_TILE))]
        tile: Option<usize>,
        /// Pixels shared by neighbouring tiles (less than half the tile).
        #[arg(long, default_value_t = 16, value_parser = whole_number(0, MAX_OVERLAP))]
        overlap: usize,
        /// Tiles per forward: a number, or `auto` for as many as fit the memory limits.
        #[arg(long, default_value = "1", value_parser = parse_batch)]
        batch: BatchSize,
        #[arg(long, value_enum, default_value_t = Backend::Auto)]
        backend: Backend,
        /// Into a folder: appended to each output's name (`photo_x2.png`).
        #[arg(long)]
        suffix: Option<String>,
        /// Into a folder: the format written (default png).
        #[arg(long, value_enum)]
        format: Option<batch::OutputFormat>,
        /// Into a folder: replace outputs that exist (by default they are skipped).
        #[arg(long)]
        overwrite: bool,
    },
    /// Time one forward per input size (a preset with random weights, a web-format file or a
    /// bundled model): median, min and max seconds, MP/s, GFLOP/s and peak memory.
    Bench {
        /// A preset name (random weights, see `grl presets`), a web-format file or a bundled model.
        #[arg(long, default_value = "sr_grl_small_c3x4")]
        model: String,
        /// Input sides in pixels, comma-separated.
        #[arg(long, default_value = "64,128", value_parser = bench::parse_sizes)]
        size: Sizes,
        #[arg(long, value_enum, default_value_t = BenchBackend::Cpu)]
        backend: BenchBackend,
        /// Timed forwards per size, after one warm-up.
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=1000))]
        runs: u32,
        /// Seed of the random weights and input.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// One JSON object per size on its own line instead of the table.
        #[arg(long)]
        json: bool,
        /// Run the plain-ops twins instead of the fused kernels (to compare the two).
        #[arg(long)]
        plain: bool,
    },
    /// Train a model on a folder of clean photos (CPU), with checkpoints; run it again with
    /// the same arguments to resume.
    Train(train::TrainArgs),
    /// Score a model on a folder of clean images with its task's synthetic degradation,
    /// beside the trivial baseline (the noisy input; bicubic upscaling).
    Eval(train::EvalArgs),
    /// Write the test pairs `grl eval` scores (clean, degraded, baseline) as PNG files, for
    /// other restorers to run on.
    Degrade(degrade::DegradeArgs),
    /// PSNR and SSIM of restored images against clean ones, as `grl eval` scores.
    Compare(compare::CompareArgs),
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Dtype {
    F16,
    F32,
}

impl From<Dtype> for StorageDType {
    fn from(d: Dtype) -> Self {
        match d {
            Dtype::F16 => StorageDType::F16,
            Dtype::F32 => StorageDType::F32,
        }
    }
}

/// Where a restore runs.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// wgpu on a hardware GPU when there is one, else the CPU.
    Auto,
    /// wgpu (Vulkan, Metal, DX12), whatever the adapter.
    Wgpu,
    /// Burn's CPU backend (flex).
    Cpu,
}

/// Where `grl bench` runs: a choice, not `auto`, so that figures say what they measured.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum BenchBackend {
    /// Burn's CPU backend (flex).
    Cpu,
    /// wgpu (Vulkan, Metal, DX12), whatever the adapter.
    Wgpu,
}

/// `--size`: the parsed list (a type of its own, so clap takes the whole list as one value).
type Sizes = Vec<usize>;

/// `--batch`: a number of tiles, or `None` for `auto`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct BatchSize(Option<usize>);

/// The most tiles `--batch` takes per forward.
const MAX_BATCH: usize = 64;

/// `--batch`: a number from 1 to [`MAX_BATCH`], or `auto`.
fn parse_batch(text: &str) -> Result<BatchSize, String> {
    match text {
        "auto" => Ok(BatchSize(None)),
        _ => match text.parse::<usize>() {
            Ok(n @ 1..=MAX_BATCH) => Ok(BatchSize(Some(n))),
            _ => Err(format!("{text:?} is not a batch size: expected a whole number from 1 to {MAX_BATCH}, or auto")),
        },
    }
}

/// A parser of whole numbers from `min` to `max`: the range is named when a value is outside
/// it (clap's error names the value).
pub(crate) fn whole_number(min: usize, max: usize) -> impl Fn(&str) -> Result<usize, String> + Clone + Send + Sync + 'static {
    move |text| match text.parse::<usize>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!("expected a whole number from {min} to {max}")),
    }
}

/// clap's error on one line: its message with the lines that continue it (the missing
/// arguments, a tip), without the usage and help lines.
fn one_line(error: &str) -> String {
    error
        .lines()
        .map(str::trim)
        .take_while(|line| !line.starts_with("Usage:") && !line.starts_with("For more information"))
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
        .trim_start_matches("error: ")
        .to_string()
}

/// Runs the command line; the error is the one line `grl` prints.
pub fn run(args: impl IntoIterator<Item = OsString>) -> Result<(), String> {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            print!("{e}"); // --help, --version
            return Ok(());
        }
        Err(e) => return Err(format!("{} (see grl --help)", printable(&one_line(&e.to_string())))),
    };
    // Errors can quote what a file holds (serde names an unknown value as written): escaped,
    // so that they stay one line and cannot rewrite the terminal.
    run_command(cli).map_err(|e| printable(&e))
}

fn run_command(cli: Cli) -> Result<(), String> {
    if let Some(threads) = cli.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads as usize)
            .build_global()
            .map_err(|e| format!("cannot start {threads} CPU threads: {e}"))?;
    }
    match cli.command {
        Command::Convert { checkpoint, config, dtype, output } => {
            convert::convert(&checkpoint, config.as_deref(), dtype.into(), &output)
        }
        Command::Info { file } => convert::info(&file),
        Command::Presets => {
            println!("presets (the released checkpoints' configurations, for grl convert --config):");
            crate::model::preset_names().iter().for_each(|name| println!("  {name}"));
            println!("bundled models (grl restore --model NAME):");
            bundled::BUNDLED.iter().for_each(|b| println!("  {:<10} {}", b.name, b.description));
            Ok(())
        }
        Command::Restore { model, input, output, tile, overlap, batch, backend, suffix, format, overwrite } => {
            let options = crate::restore::RestoreOptions { tile, overlap, batch: batch.0 };
            let naming = batch::Naming { suffix, format };
            restore::restore(restore::Run { model: &model, inputs: &input, output: &output, options, backend, naming, overwrite })
        }
        Command::Bench { model, size, backend, runs, seed, json, plain } => bench::bench(bench::BenchArgs {
            model: &model,
            sizes: &size,
            backend: match backend {
                BenchBackend::Cpu => Backend::Cpu,
                BenchBackend::Wgpu => Backend::Wgpu,
            },
            runs: runs as usize,
            seed,
            json,
            plain,
        }),
        Command::Train(args) => train::train(args),
        Command::Eval(args) => train::eval(args),
        Command::Degrade(args) => degrade::degrade(args),
        Command::Compare(args) => compare::compare(args),
    }
}
