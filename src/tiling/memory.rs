//! An estimate of one GRL forward's GPU memory for a tile shape, and the choice of the largest
//! tile that fits a device's buffer limits and a memory budget.
//!
//! The estimate counts f32 values of the tensors alive at the widest point of a block: the
//! token stream and its copies (input, normalised, residual), qkv, the MLP hidden layer, and
//! the attention maps of the two branches (logits, logits + bias + mask, softmax: three maps).
//! It is an upper-side estimate meant for choosing tiles, not an allocator trace.

use crate::model::GrlConfig;
use crate::model::tables::stripe_geometry;

use crate::Size;

const F32: u64 = 4;

/// Bytes of the buffers of one forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryEstimate {
    /// Peak of the bytes alive at once.
    pub peak_bytes: u64,
    /// The largest single buffer (must fit the device's maxStorageBufferBindingSize).
    pub largest_buffer_bytes: u64,
}

/// What a device allows and what the caller grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryLimits {
    /// The device's largest buffer binding (WebGPU maxStorageBufferBindingSize, capped by
    /// maxBufferSize).
    pub max_buffer_bytes: u64,
    /// Bytes the whole forward may use.
    pub budget_bytes: u64,
}

/// Estimate for a batch of `batch` tiles of `tile` pixels (multiples of the pad size).
pub fn estimate(config: &GrlConfig, batch: usize, tile: Size) -> MemoryEstimate {
    let tokens = (batch * tile.area()) as u64;
    let c = config.embed_dim as u64;
    let ws2 = (config.window_size * config.window_size) as u64;
    let stripe = stripe_geometry(config.stripe_size, config.stripe_groups, tile).size;
    let stripe_area = (stripe[0] * stripe[1]) as u64;
    let df2 = (config.anchor_window_down_factor * config.anchor_window_down_factor) as u64;
    let heads_w = config.num_heads_window.iter().copied().max().unwrap_or(0) as u64;
    let heads_s = config.num_heads_stripe.iter().copied().max().unwrap_or(0) as u64;

    // One attention map per window token holds ws² logits per head; per stripe token an
    // anchor map holds stripe_area / df² logits per head (both the a2w and w2a maps).
    let window_map = tokens * heads_w * ws2;
    let stripe_map = tokens * heads_s * stripe_area / df2.max(1);
    let attention = 3 * window_map.max(stripe_map);
    let stream = tokens * c * 6; // x, norm, residual, attention out, two conv/CAB temporaries
    let qkv = tokens * c * 3;
    let mlp = tokens * config.mlp_hidden_dim() as u64;
    let scale2 = (config.upscale * config.upscale) as u64;
    let tail = tokens * scale2 * 64 * 2; // upsampled features and the conv after them
    let largest = [window_map, stripe_map, qkv, mlp, tail / 2].into_iter().max().unwrap();
    MemoryEstimate {
        peak_bytes: F32 * (stream + qkv + mlp + attention).max(stream + tail),
        largest_buffer_bytes: F32 * largest,
    }
}

/// The largest square tile side (a multiple of the pad size, at most `max_side`) whose forward
/// fits `limits`, or `None` when not even one pad-size tile fits.
pub fn choose_tile(config: &GrlConfig, batch: usize, limits: MemoryLimits, max_side: usize) -> Option<usize> {
    let pad = config.pad_size();
    let fits = |side: usize| {
        let e = estimate(config, batch, Size::square(side));
        e.peak_bytes <= limits.budget_bytes && e.largest_buffer_bytes <= limits.max_buffer_bytes
    };
    let mut best = None;
    let mut side = pad;
    while side <= max_side.next_multiple_of(pad).max(pad) && fits(side) {
        best = Some(side);
        side += pad;
    }
    best
}

/// The most tiles of `tile` pixels one forward can take within `limits`, from 1 to `max`
/// (1 even when a single tile does not fit: the caller's tile choice decides that).
pub fn choose_batch(config: &GrlConfig, tile: Size, limits: MemoryLimits, max: usize) -> usize {
    (1..=max.max(1))
        .take_while(|&batch| {
            let e = estimate(config, batch, tile);
            e.peak_bytes <= limits.budget_bytes && e.largest_buffer_bytes <= limits.max_buffer_bytes
        })
        .last()
        .unwrap_or(1)
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn estimate_grows_with_the_tile_area() {
        let config = GrlConfig::preset("sr_grl_tiny_c3x4").unwrap();
        let small = estimate(&config, 1, Size::square(64));
        let large = estimate(&config, 1, Size::square(128));
        assert_eq!(large.peak_bytes, 4 * small.peak_bytes, "linear in the tile area");
        // GRL-T x4, 64x64: 4096 tokens x 2 heads x 32² window logits = 8M floats = 32 MiB map.
        assert_eq!(small.largest_buffer_bytes, 4096 * 2 * 1024 * 4);
    }

    #[test]
    fn chosen_tiles_fit_the_limits() {
        // GRL-B SR x4 (32x32 windows, 3 heads, C = 180) needs about 160 MiB for one 64x64 tile;
        // GRL-S denoising pads to 128 (stripes 64x128) and needs about 200 MiB for one tile.
        let base = GrlConfig::preset("sr_grl_base_c3x4").unwrap();
        let tight = MemoryLimits { max_buffer_bytes: 128 * MIB, budget_bytes: 128 * MIB };
        assert_eq!(choose_tile(&base, 1, tight, 1024), None, "{:?}", estimate(&base, 1, Size::square(64)));
        for name in ["sr_grl_tiny_c3x4", "dn_grl_small_c3s25", "sr_grl_base_c3x4"] {
            let config = GrlConfig::preset(name).unwrap();
            for budget in [128 * MIB, 1024 * MIB] {
                let limits = MemoryLimits { max_buffer_bytes: 128 * MIB, budget_bytes: budget };
                let Some(side) = choose_tile(&config, 1, limits, 1024) else {
                    assert!(!name.contains("tiny") && budget == 128 * MIB, "{name}: nothing fits {budget}");
                    println!("{name}: no tile under a {} MiB budget", budget / MIB);
                    continue;
                };
                assert_eq!(side % config.pad_size(), 0);
                let e = estimate(&config, 1, Size::square(side));
                assert!(e.peak_bytes <= budget && e.largest_buffer_bytes <= 128 * MIB);
                let next = estimate(&config, 1, Size::square(side + config.pad_size()));
                assert!(side == 1024 || next.peak_bytes > budget || next.largest_buffer_bytes > 128 * MIB);
                println!("{name}: tile {side} under a {} MiB budget", budget / MIB);
            }
        }
    }

    #[test]
    fn batches_fill_the_budget_and_no_more() {
        let config = GrlConfig::preset("sr_grl_tiny_c3x4").unwrap();
        let tile = Size::square(64);
        let one = estimate(&config, 1, tile);
        let limits = MemoryLimits { max_buffer_bytes: 10 * one.largest_buffer_bytes, budget_bytes: 3 * one.peak_bytes + 1 };
        assert_eq!(choose_batch(&config, tile, limits, 8), 3);
        assert_eq!(choose_batch(&config, tile, limits, 2), 2, "capped");
        let tight = MemoryLimits { max_buffer_bytes: 1, budget_bytes: 1 };
        assert_eq!(choose_batch(&config, tile, tight, 8), 1);
    }

    #[test]
    fn a_6000x4000_photo_under_a_256_mib_buffer_limit_stays_within_it() {
        use crate::tiling::geometry::plan_tiles;
        let config = GrlConfig::preset("sr_grl_small_c3x4").unwrap();
        let limits = MemoryLimits { max_buffer_bytes: 256 * MIB, budget_bytes: 2048 * MIB };
        let side = choose_tile(&config, 1, limits, 4096).unwrap();
        let plan = plan_tiles(Size { height: 4000, width: 6000 }, side, 32, config.pad_size()).unwrap();
        let e = estimate(&config, 1, plan.tile);
        assert!(e.largest_buffer_bytes <= 256 * MIB, "{e:?}");
        assert!(e.peak_bytes <= 2048 * MIB, "{e:?}");
        println!("6000x4000 GRL-S x4 under 256 MiB buffers: tile {side}, {} tiles", plan.tiles.len());
    }
}
