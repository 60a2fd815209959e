//! `grl bench`: the time of one GRL forward on this machine, per input size, as a table or as
//! JSON lines. The README's speed figures come from it.
//!
//! Each case builds the tables for its size once (as a restore does per tile shape), runs one
//! warm-up forward (kernel compilation, autotune, allocator pools), then `runs` timed forwards,
//! each ended by `device.sync()` so the clock sees the work done. Peak memory is the process's
//! peak resident-set growth over the case on the CPU (Linux: `VmHWM`, reset through
//! `/proc/self/clear_refs`), and the growth of the device allocator's reserved bytes on wgpu;
//! beside it, the estimate the tiling scheduler chooses tiles by, so that the two can be
//! compared.

use std::path::Path;
use std::time::Instant;

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Device, Distribution, Tensor};

use super::Backend;
use super::backend::choose;
use super::bundled;
use crate::Size;
use crate::model::{Grl, GrlConfig};
use crate::tiling::memory::TileMemory;
use crate::web_format;

/// The largest input side accepted: past it one forward takes hours and tens of GiB.
pub const MAX_SIDE: usize = 4096;

/// What to measure.
pub struct BenchArgs<'a> {
    /// A preset name (random weights), a web-format file or a bundled model's name.
    pub model: &'a str,
    pub sizes: &'a [usize],
    pub backend: Backend,
    pub runs: usize,
    pub seed: u64,
    pub json: bool,
    /// The plain-ops twins instead of the fused kernels.
    pub plain: bool,
}

/// One measured case.
struct Case {
    size: usize,
    times: Vec<f64>,
    flops: u64,
    peak_bytes: Option<u64>,
    /// What was held before the case, the weights among it (resident bytes on the CPU, the
    /// device allocator's reserved bytes on wgpu): `base_bytes + peak_bytes` is the peak of the
    /// whole process or device.
    base_bytes: Option<u64>,
    /// The tiling scheduler's estimate of the peak ([`crate::model::memory`]), on this path.
    estimated_bytes: u64,
}

impl Case {
    /// The middle time (the mean of the two middle ones for an even count); times are sorted.
    fn median(&self) -> f64 {
        let n = self.times.len();
        if n % 2 == 1 { self.times[n / 2] } else { (self.times[n / 2 - 1] + self.times[n / 2]) / 2.0 }
    }
    fn min(&self) -> f64 {
        self.times[0]
    }
    fn max(&self) -> f64 {
        self.times[self.times.len() - 1]
    }
    fn megapixels_per_s(&self) -> f64 {
        (self.size * self.size) as f64 / 1e6 / self.median()
    }
    fn gflops_per_s(&self) -> f64 {
        self.flops as f64 / 1e9 / self.median()
    }
}

/// The model to time, and how it was made: a preset with seeded random weights, else a file
/// or a bundled model.
fn load_model(model: &str, seed: u64, device: &Device) -> Result<(Grl, String), String> {
    if let Ok(config) = GrlConfig::preset(model) {
        device.seed(seed);
        let grl = config.init(device);
        // Burn draws a module's random weights lazily, at their first use: drawn here, they are
        // on the device before the first case, as a loaded model's are, not in its peak.
        grl.visit(&mut DrawWeights);
        return Ok((grl, format!("{model}, random weights (seed {seed})")));
    }
    let bytes = bundled::read_model(Path::new(model))
        .map_err(|e| format!("{e}; or a preset name (see grl presets) for random weights"))?;
    let (grl, info) = web_format::load(bytes, device).map_err(|e| format!("{model}: {e}"))?;
    Ok((grl, format!("{model} ({})", info.provenance.name)))
}

/// Draws each lazily initialised parameter it visits.
struct DrawWeights;

impl ModuleVisitor for DrawWeights {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let _ = param.val();
    }
}

/// Runs every case and prints them.
pub fn bench(args: BenchArgs<'_>) -> Result<(), String> {
    if args.runs == 0 {
        return Err("--runs is 0: expected at least 1".into());
    }
    if let Some(&side) = args.sizes.iter().find(|&&s| s == 0 || s > MAX_SIDE) {
        return Err(format!("--size {side} is out of range: expected 1 to {MAX_SIDE} pixels"));
    }
    crate::model::kernels::use_plain_ops(args.plain);
    let chosen = choose(args.backend)?;
    let (grl, described) = load_model(args.model, args.seed, &chosen.device)?;
    let threads = rayon::current_num_threads();
    let backend = if args.backend == Backend::Cpu { "cpu" } else { "wgpu" };
    let kernels = if args.plain { "plain ops" } else { "fused kernels" };
    if !args.json {
        let params = burn::module::Module::num_params(&grl) as f64 / 1e6;
        println!("{described}: {params:.2} M parameters, on {}, {threads} CPU threads, {kernels}, median of {} runs after a warm-up", chosen.name, args.runs);
        println!("{:>9}  {:>9}  {:>9}  {:>9}  {:>8}  {:>8}  {:>8}  {:>9}  {:>9}", "input", "median s", "min s", "max s", "MP/s", "GFLOP", "GFLOP/s", "peak MiB", "est. MiB");
    }
    for &size in args.sizes {
        let case = run_case(&grl, &chosen.device, size, args.runs, args.backend == Backend::Cpu)?;
        if args.json {
            println!("{}", json_line(args.model, backend, threads, args.plain, &case));
        } else {
            let mib = |b: u64| format!("{:.1}", b as f64 / (1u64 << 20) as f64);
            let peak = case.peak_bytes.map_or("-".into(), mib);
            println!(
                "{:>9}  {:>9.3}  {:>9.3}  {:>9.3}  {:>8.4}  {:>8.1}  {:>8.2}  {:>9}  {:>9}",
                format!("{size}x{size}"),
                case.median(),
                case.min(),
                case.max(),
                case.megapixels_per_s(),
                case.flops as f64 / 1e9,
                case.gflops_per_s(),
                peak,
                mib(case.estimated_bytes)
            );
        }
    }
    Ok(())
}

/// One JSON object for `--json`.
fn json_line(model: &str, backend: &str, threads: usize, plain: bool, case: &Case) -> String {
    serde_json::json!({
        "model": model,
        "kernels": if plain { "plain" } else { "fused" },
        "size": case.size,
        "backend": backend,
        "threads": threads,
        "runs": case.times.len(),
        "median_s": case.median(),
        "min_s": case.min(),
        "max_s": case.max(),
        "megapixels_per_s": case.megapixels_per_s(),
        "gflop": case.flops as f64 / 1e9,
        "gflops": case.gflops_per_s(),
        "peak_bytes": case.peak_bytes,
        "base_bytes": case.base_bytes,
        "estimated_bytes": case.estimated_bytes,
    })
    .to_string()
}

/// Times `runs` forwards of a `size x size` input after a warm-up.
fn run_case(grl: &Grl, device: &Device, size: usize, runs: usize, cpu: bool) -> Result<Case, String> {
    let sync = |device: &Device| device.sync().map_err(|e| format!("the device failed: {e:?}"));
    let shape = [1, grl.config.in_channels, size, size];
    let x = Tensor::<4>::random(shape, Distribution::Uniform(0.0, 1.0), device);
    let memory = PeakMemory::start(device, cpu);
    eprintln!("grl bench: {size}x{size}: tables and a warm-up forward");
    let tables = grl.tables(Size::square(size), device);
    let forward = || grl.forward_with_tables(x.clone(), &tables);
    let out = forward();
    sync(device)?;
    drop(out);
    let mut times = Vec::with_capacity(runs);
    for run in 1..=runs {
        let started = Instant::now();
        let out = forward();
        sync(device)?;
        times.push(started.elapsed().as_secs_f64());
        drop(out);
        eprintln!("grl bench: {size}x{size}: run {run}/{runs}: {:.3} s", times[run - 1]);
    }
    times.sort_by(f64::total_cmp);
    let estimated_bytes = grl.memory().memory(1, grl.config.padded_size(Size::square(size))).peak_bytes;
    let (peak_bytes, base_bytes) = (memory.peak(device), memory.base());
    Ok(Case { size, times, flops: grl.config.flops(Size::square(size)), peak_bytes, base_bytes, estimated_bytes })
}

/// The memory baseline of a case.
enum PeakMemory {
    /// Resident bytes before the case (the high-water mark was reset to it).
    Process(Option<u64>),
    /// Bytes the device allocator held before the case.
    Device(Option<u64>),
}

impl PeakMemory {
    fn start(device: &Device, cpu: bool) -> PeakMemory {
        if cpu {
            // "5" resets the peak resident set size (VmHWM) to the current size (Linux >= 4.0).
            let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
            PeakMemory::Process(if reset { proc_status_bytes("VmRSS:") } else { None })
        } else {
            device.memory_cleanup();
            PeakMemory::Device(device.memory_pool_usage().map(|u| u.bytes_reserved))
        }
    }

    /// The baseline; `None` where the platform does not say.
    fn base(&self) -> Option<u64> {
        match *self {
            PeakMemory::Process(before) | PeakMemory::Device(before) => before,
        }
    }

    /// Growth over the baseline; `None` where the platform does not say.
    fn peak(&self, device: &Device) -> Option<u64> {
        match *self {
            PeakMemory::Process(before) => Some(proc_status_bytes("VmHWM:")?.saturating_sub(before?)),
            PeakMemory::Device(before) => Some(device.memory_pool_usage()?.bytes_reserved.saturating_sub(before?)),
        }
    }
}

/// A `kB` field of `/proc/self/status`, in bytes.
fn proc_status_bytes(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: u64 = line[field.len()..].trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kib * 1024)
}

/// `--size 64,128,256`: positive sides, comma-separated.
pub fn parse_sizes(text: &str) -> Result<Vec<usize>, String> {
    text.split(',')
        .map(|s| match s.trim().parse::<usize>() {
            Ok(n) if (1..=MAX_SIDE).contains(&n) => Ok(n),
            _ => Err(format!("{s:?} is not an input side: expected whole numbers from 1 to {MAX_SIDE}, comma-separated")),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_and_bad_ones_are_named() {
        assert_eq!(parse_sizes("64,128, 256").unwrap(), vec![64, 128, 256]);
        assert!(parse_sizes("64,0").unwrap_err().contains("\"0\""));
        assert!(parse_sizes("64,x").unwrap_err().contains("\"x\""));
        assert!(parse_sizes("5000").unwrap_err().contains("4096"));
    }

    #[test]
    fn proc_status_reads_this_process() {
        if cfg!(target_os = "linux") {
            let rss = proc_status_bytes("VmRSS:").unwrap();
            assert!(rss > 1 << 20, "{rss}");
        }
    }

    #[test]
    fn a_case_reports_its_figures() {
        let case = Case { size: 100, times: vec![0.5, 1.0, 2.0], flops: 4_000_000_000, peak_bytes: Some(1 << 20), base_bytes: Some(1 << 24), estimated_bytes: 3 << 20 };
        assert_eq!((case.median(), case.min(), case.max()), (1.0, 0.5, 2.0));
        let even = Case { times: vec![1.0, 2.0, 4.0, 8.0], ..case };
        assert_eq!(even.median(), 3.0);
        assert!((case.megapixels_per_s() - 0.01).abs() < 1e-12);
        assert!((case.gflops_per_s() - 4.0).abs() < 1e-12);
        let json: serde_json::Value = serde_json::from_str(&json_line("m", "cpu", 2, false, &even)).unwrap();
        for key in ["model", "size", "backend", "threads", "median_s", "min_s", "max_s", "gflops", "peak_bytes", "estimated_bytes"] {
            assert!(json.get(key).is_some(), "{key} missing in {json}");
        }
        assert_eq!(json["median_s"], 3.0);
    }
}
