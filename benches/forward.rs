//! Speed figures (not assertions): `cargo bench --bench forward [-- FILTER]`.
//!
//! - `forward`: one GRL forward on a 64x64 input, GRL-T and GRL-S SR x4, on the CPU (flex) and
//!   wgpu (lavapipe here: a software Vulkan, for correctness more than speed); median of runs,
//!   after a warm-up run that pays kernel compilation and autotune.
//! - `tiles`: a 384x256 restore with a GRL-T-sized denoiser at three tile sizes, and with the
//!   smallest tile batched automatically (megapixels per second, and the ratio to the smallest
//!   tile unbatched), and the tile sizes chosen under 128 MiB and 1 GiB limits.

use std::time::Instant;

use burn::tensor::{Device, DeviceKind, Distribution, Tensor};
use grl_wasm::Size;
use grl_wasm::model::GrlConfig;
use grl_wasm::restore::{RestoreOptions, restore_rgba};
use grl_wasm::tiling::memory::{MemoryLimits, choose_tile};
use grl_wasm::tiling::run::NoHooks;

/// Median of `runs` timings of `f`, in seconds, after one warm-up call.
fn median_seconds(runs: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[runs / 2]
}

fn forward(device: &Device, device_name: &str) {
    for preset in ["sr_grl_tiny_c3x4", "sr_grl_small_c3x4"] {
        let config = GrlConfig::preset(preset).unwrap();
        let grl = config.init(device);
        let tables = grl.tables(Size::square(64), device);
        let x = Tensor::<4>::random([1, 3, 64, 64], Distribution::Uniform(0.0, 1.0), device);
        let runs = if device_name == "cpu" { 5 } else { 1 };
        let seconds = median_seconds(runs, || {
            let out = grl.forward_with_tables(x.clone(), &tables);
            let _ = out.into_data();
        });
        println!("forward {preset} 64x64 on {device_name}: median {seconds:.3} s over {runs} runs");
    }
}

fn tiles() {
    let mib = 1u64 << 20;
    let config = GrlConfig::preset("dn_grl_tiny_c3s25").unwrap();
    for budget in [128 * mib, 1024 * mib] {
        let limits = MemoryLimits { max_buffer_bytes: budget, budget_bytes: budget };
        let side = choose_tile(&config, 1, limits, 4096);
        println!("tiles: GRL-T denoiser, tile chosen under {} MiB: {side:?}", budget / mib);
    }
    let device = Device::flex();
    let grl = config.init(&device);
    // Tile sides must be multiples of the pad size (128 for this model: stripes 64x128).
    let pad = config.pad_size();
    let (w, h) = (3 * pad, 2 * pad);
    let image = Size { height: h, width: w };
    let rgba: Vec<f32> = (0..w * h * 4).map(|i| ((i * 7919) % 251) as f32 / 250.0).collect();
    let limits = MemoryLimits { max_buffer_bytes: u64::MAX, budget_bytes: 4096 * mib };
    // One run each: the CPU backend has no kernel compilation to warm up, and a run is minutes.
    let mut baseline = None;
    for (tile, batch) in [(pad, Some(1)), (pad, None), (2 * pad, Some(1)), (3 * pad, Some(1))] {
        let options = RestoreOptions { tile: Some(tile), overlap: 16, batch };
        let start = Instant::now();
        pollster::block_on(restore_rgba(&grl, &device, limits, &rgba, image, options, &mut NoHooks)).unwrap();
        let seconds = start.elapsed().as_secs_f64();
        let mp_s = (w * h) as f64 / 1e6 / seconds;
        let ratio = mp_s / *baseline.get_or_insert(mp_s);
        let batch = batch.map_or("auto".to_string(), |b| b.to_string());
        println!("tiles: {w}x{h} on cpu, tile {tile}, batch {batch}: {seconds:.1} s, {mp_s:.6} MP/s ({ratio:.2}x tile {pad})");
    }
}

fn main() {
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-')).unwrap_or_default();
    if "forward".contains(&filter) || filter.is_empty() {
        forward(&Device::flex(), "cpu");
        forward(&Device::wgpu(DeviceKind::DefaultDevice), "wgpu (lavapipe)");
    }
    if "tiles".contains(&filter) || filter.is_empty() {
        tiles();
    }
}
