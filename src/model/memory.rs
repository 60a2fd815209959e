//! An estimate of one GRL forward's GPU memory for a tile shape, which the tiling scheduler
//! uses (through [`TileMemory`]) to choose the largest tile that fits a device.
//!
//! The estimate counts f32 values of the tensors alive at the widest point of a block: the
//! token stream and its copies (input, normalised, residual), qkv, the MLP hidden layer, and
//! what attention holds, which depends on its path ([`AttentionPath`]):
//! - the plain ops hold the index tables of the tile shape (i32, `N x N` per window and per
//!   stripe direction, shared by every block), a gathered bias and three maps per window and
//!   head (logits, logits + bias + mask, softmax), `tokens x heads x N` floats, which grow with
//!   the tile;
//! - the fused WGSL kernel computes each relative-position entry from the token positions and
//!   reads the per-entry bias table: no index table, nothing `N x N` per call;
//! - the fused CPU route reads the per-entry bias through the index tables (on the host) and
//!   holds a branch's q, k and v gathered into window layout beside the projection (`1.5 C`
//!   floats per token).
//!
//! After the body, the tail holds the stream and its high-resolution maps, one band of rows at
//! a time ([`super::tail`]); the peak is the wider of the two points.
//!
//! It is an upper-side estimate meant for choosing tiles, not an allocator trace; the tests
//! hold it against peak device memory measured on wgpu.

use burn::tensor::Device;

use super::config::GrlConfig;
use super::gpu_attention::MAX_HEAD_DIM;
use super::kernels;
use super::tables::stripe_geometry;
use crate::Size;
use crate::tiling::memory::{MemoryEstimate, TileMemory};

const F32: u64 = 4;

/// How attention runs in a forward, which decides what it holds besides the token stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttentionPath {
    /// The fused CPU route (`cpu_mixed_attention`, on flex): reads the per-entry bias through
    /// the index tables and holds nothing else N x N; each branch's q, k and v are gathered out
    /// of the projection into window layout beside it.
    FusedCpu,
    /// The fused WGSL kernel (`gpu_attention`, on wgpu and WebGPU): reads q, k and v in place out
    /// of the projection (no window-layout copies), computes the relative-position entries and
    /// reads the per-entry bias table; nothing N x N, no index table.
    FusedGpu,
    /// Burn's attention op (autodiff, `--plain`, heads past the WGSL kernel's width): a
    /// gathered bias per call and three maps per window and head.
    Plain,
}

impl AttentionPath {
    /// The path a forward of `config` takes on `device`.
    pub fn of(config: &GrlConfig, device: &Device) -> Self {
        if kernels::fused_cpu(device) {
            AttentionPath::FusedCpu
        } else if kernels::fused_gpu(device) && config.max_head_dim() <= MAX_HEAD_DIM {
            AttentionPath::FusedGpu
        } else {
            AttentionPath::Plain
        }
    }
}

/// A configuration with the attention path its forwards take: what the tile choice asks.
#[derive(Debug, Clone, Copy)]
pub struct GrlMemory<'a> {
    pub config: &'a GrlConfig,
    pub attention: AttentionPath,
}

impl GrlConfig {
    /// The widest head of either branch: `embed_dim / 2 / heads` (each branch takes half the
    /// channels).
    pub fn max_head_dim(&self) -> usize {
        let fewest = self.num_heads_window.iter().chain(&self.num_heads_stripe).copied().min().unwrap_or(1);
        (self.embed_dim / 2).div_ceil(fewest.max(1))
    }

    /// This configuration's forwards on `attention`, for choosing tiles.
    pub fn memory(&self, attention: AttentionPath) -> GrlMemory<'_> {
        GrlMemory { config: self, attention }
    }

    /// Estimate for a batch of `batch` tiles of `tile` pixels (multiples of the pad size).
    pub fn memory_estimate(&self, batch: usize, tile: Size, attention: AttentionPath) -> MemoryEstimate {
        let tokens = (batch * tile.area()) as u64;
        let c = self.embed_dim as u64;
        let ws2 = (self.window_size * self.window_size) as u64;
        let stripe = stripe_geometry(self.stripe_size, self.stripe_groups, tile).size;
        let stripe_area = (stripe[0] * stripe[1]) as u64;
        let df2 = (self.anchor_window_down_factor * self.anchor_window_down_factor).max(1) as u64;
        let heads_w = self.num_heads_window.iter().copied().max().unwrap_or(0) as u64;
        let heads_s = self.num_heads_stripe.iter().copied().max().unwrap_or(0) as u64;

        // The index tables of the tile shape, i32, shared by every block: the window's
        // [N * N], and per stripe orientation the a2w and w2a ones [stripe * anchors]. The
        // WGSL kernel computes the entries instead and holds none.
        let window_index = ws2 * ws2;
        let stripe_index = stripe_area * stripe_area / df2;
        let holds_index = attention != AttentionPath::FusedGpu;
        let tables = if holds_index { window_index + 4 * stripe_index } else { 0 };
        // One gathered bias per call: [heads, N, N] for windows, [heads, stripe, anchors].
        let bias = (heads_w * window_index).max(heads_s * stripe_index);
        // One map per window token holds ws² logits per head; per stripe token an anchor map
        // holds stripe_area / df² logits per head (both the a2w and w2a maps).
        let map = (tokens * heads_w * ws2).max(tokens * heads_s * stripe_area / df2);
        let (attention, attention_buffer) = match attention {
            AttentionPath::Plain => (bias + 3 * map, bias.max(map)),
            // A branch's q, k and v gathered into window layout (C / 2 channels each); the
            // output map is the stream's attention output.
            AttentionPath::FusedCpu => (tokens * c * 3 / 2, tokens * c / 2),
            AttentionPath::FusedGpu => (0, 0),
        };
        let stream = tokens * c * 6; // x, norm, residual, attention out, two conv/CAB temporaries
        let qkv = tokens * c * 3;
        let mlp = tokens * self.mlp_hidden_dim() as u64;
        // The tail's upsampled features and the convolution after them, one band of rows
        // (with its halos) at a time.
        let span = self.tail_band_span(batch, tile.height, tile.width) as u64;
        let tail = span * self.tail_bytes_per_row(batch, tile.width) / F32;
        let index_buffer = if holds_index { window_index.max(stripe_index) } else { 0 };
        let largest = [attention_buffer, index_buffer, qkv, mlp, tail / 2].into_iter().max().unwrap();
        MemoryEstimate {
            peak_bytes: F32 * (tables + (stream + qkv + mlp + attention).max(stream + tail)),
            largest_buffer_bytes: F32 * largest,
        }
    }
}

impl TileMemory for GrlMemory<'_> {
    fn pad_size(&self) -> usize {
        self.config.pad_size()
    }
    fn memory(&self, batch: usize, tile: Size) -> MemoryEstimate {
        self.config.memory_estimate(batch, tile, self.attention)
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::model::presets::preset_names;
    use crate::tiling::memory::{MemoryLimits, WEBGPU_BUDGET, WEBGPU_DEFAULT_BINDING, choose_batch, choose_tile};
    use AttentionPath::{FusedCpu, FusedGpu, Plain};

    const MIB: u64 = 1 << 20;
    /// WebGPU's default limits (128 MiB binding, 256 MiB buffer) and the package's budget.
    const WEBGPU_DEFAULT: MemoryLimits = MemoryLimits { max_buffer_bytes: WEBGPU_DEFAULT_BINDING, budget_bytes: WEBGPU_BUDGET };

    #[test]
    fn estimate_grows_with_the_tile_area() {
        let config = GrlConfig::preset("sr_grl_tiny_c3x4").unwrap();
        let small = config.memory_estimate(1, Size::square(64), Plain);
        let large = config.memory_estimate(1, Size::square(128), Plain);
        // Index tables (the window's 1024², four stripe ones of 4096 x 256) and one gathered
        // bias (2 heads x 1024²) do not grow; the rest is linear in the tile area.
        let fixed = 4 * (1024 * 1024 + 4 * 4096 * 256 + 2 * 1024 * 1024);
        assert_eq!(large.peak_bytes - fixed, 4 * (small.peak_bytes - fixed));
        // GRL-T x4, 64x64: 4096 tokens x 2 heads x 32² window logits = 8M floats = 32 MiB map.
        assert_eq!(small.largest_buffer_bytes, 4096 * 2 * 1024 * 4);
    }

    #[test]
    fn the_fused_paths_hold_no_map_that_grows_with_the_tile() {
        // GRL-T denoising: 16x16 windows, 64x128 stripes with anchors at a quarter (512 keys).
        let config = GrlConfig::preset("dn_grl_tiny_c3s25").unwrap();
        // What does not grow with the tile: 4 * estimate(128) - estimate(256) = 3 x that.
        let fixed = |path| {
            let [small, large] = [128, 256].map(|side| config.memory_estimate(1, Size::square(side), path).peak_bytes);
            (4 * small - large) / 3
        };
        // Index tables: the window's 256², four stripe ones of 8192 x 512; the WGSL kernel
        // computes the entries and holds none.
        let tables = 4 * (256 * 256 + 4 * 8192 * 512);
        assert_eq!(fixed(FusedGpu), 0);
        assert_eq!(fixed(FusedCpu), tables);
        let [plain, cpu, gpu] = [Plain, FusedCpu, FusedGpu].map(|p| config.memory_estimate(1, Size::square(256), p).peak_bytes);
        assert!(plain > 3 * cpu && cpu > gpu, "plain {plain}, fused CPU {cpu}, fused GPU {gpu}");
        assert_eq!(config.max_head_dim(), 16, "64 channels, 32 a branch, 2 heads");
    }

    #[test]
    fn the_path_follows_the_device_and_the_plain_switch() {
        let config = GrlConfig::preset("sr_grl_tiny_c3x4").unwrap();
        let cpu = Device::flex();
        assert_eq!(AttentionPath::of(&config, &cpu), FusedCpu);
        assert_eq!(kernels::with_plain_ops(|| AttentionPath::of(&config, &cpu)), Plain);
        assert_eq!(AttentionPath::of(&config, &cpu.clone().autodiff()), Plain, "training runs the plain ops");
    }

    /// The tile `tileSize: "auto"` gets for every released configuration under WebGPU's
    /// default limits and a 512 MiB budget: at least 128 for GRL-T and GRL-S on the fused
    /// path, at least the pad size for GRL-B.
    #[test]
    fn every_release_gets_a_tile_under_webgpu_defaults() {
        for name in preset_names() {
            let config = GrlConfig::preset(&name).unwrap();
            let pad = config.pad_size();
            let fused = choose_tile(&config.memory(FusedGpu), 1, WEBGPU_DEFAULT, 4096);
            let plain = choose_tile(&config.memory(Plain), 1, WEBGPU_DEFAULT, 4096);
            println!("{name}: pad {pad}, fused tile {fused:?}, plain tile {plain:?}");
            let side = fused.unwrap_or_else(|| panic!("{name}: no tile on the fused path"));
            let want = if name.contains("_base") { pad } else { 128 };
            assert!(side >= want, "{name}: tile {side}, wanted {want}");
            assert!(plain.unwrap_or(0) <= side, "{name}: the fused path never gets a smaller tile");
        }
    }

    #[test]
    fn chosen_tiles_fit_the_limits() {
        // On the plain path, GRL-B SR x4 (32x32 windows, 3 heads, C = 180) needs about 160 MiB
        // for one 64x64 tile; GRL-S denoising pads to 128 (stripes 64x128).
        let base = GrlConfig::preset("sr_grl_base_c3x4").unwrap();
        let tight = MemoryLimits { max_buffer_bytes: 128 * MIB, budget_bytes: 128 * MIB };
        assert_eq!(choose_tile(&base.memory(Plain), 1, tight, 1024), None);
        for name in ["sr_grl_tiny_c3x4", "dn_grl_small_c3s25", "sr_grl_base_c3x4"] {
            let config = GrlConfig::preset(name).unwrap();
            for (path, budget) in [Plain, FusedCpu, FusedGpu].into_iter().flat_map(|p| [(p, 128 * MIB), (p, 1024 * MIB)]) {
                let limits = MemoryLimits { max_buffer_bytes: 128 * MIB, budget_bytes: budget };
                let Some(side) = choose_tile(&config.memory(path), 1, limits, 1024) else {
                    assert!(budget == 128 * MIB && (path == Plain || !name.contains("tiny")), "{name} on {path:?}: nothing fits {budget}");
                    continue;
                };
                assert_eq!(side % config.pad_size(), 0);
                let e = config.memory_estimate(1, Size::square(side), path);
                assert!(e.peak_bytes <= budget && e.largest_buffer_bytes <= 128 * MIB);
                let next = config.memory_estimate(1, Size::square(side + config.pad_size()), path);
                assert!(side == 1024 || next.peak_bytes > budget || next.largest_buffer_bytes > 128 * MIB);
            }
        }
    }

    #[test]
    fn batches_fill_the_budget_and_no_more() {
        let config = GrlConfig::preset("sr_grl_tiny_c3x4").unwrap();
        let tile = Size::square(64);
        let one = config.memory_estimate(1, tile, Plain);
        let limits = MemoryLimits { max_buffer_bytes: 10 * one.largest_buffer_bytes, budget_bytes: 3 * one.peak_bytes + 1 };
        assert_eq!(choose_batch(&config.memory(Plain), tile, limits, 8), 3);
        assert_eq!(choose_batch(&config.memory(Plain), tile, limits, 2), 2, "capped");
        let tight = MemoryLimits { max_buffer_bytes: 1, budget_bytes: 1 };
        assert_eq!(choose_batch(&config.memory(Plain), tile, tight, 8), 1);
    }

    #[test]
    fn a_6000x4000_photo_under_a_256_mib_buffer_limit_stays_within_it() {
        use crate::tiling::geometry::plan_tiles;
        let config = GrlConfig::preset("sr_grl_small_c3x4").unwrap();
        let limits = MemoryLimits { max_buffer_bytes: 256 * MIB, budget_bytes: 2048 * MIB };
        for path in [Plain, FusedCpu, FusedGpu] {
            let side = choose_tile(&config.memory(path), 1, limits, 4096).unwrap();
            let plan = plan_tiles(Size { height: 4000, width: 6000 }, side, 32, config.pad_size()).unwrap();
            let e = config.memory_estimate(1, plan.tile, path);
            assert!(e.largest_buffer_bytes <= 256 * MIB && e.peak_bytes <= 2048 * MIB, "{e:?}");
        }
    }
}
