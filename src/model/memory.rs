//! An estimate of one GRL forward's GPU memory for a tile shape, which the tiling scheduler
//! uses (through [`TileMemory`]) to choose the largest tile that fits a device.
//!
//! The estimate counts f32 values of the tensors alive at the widest point of a block: the
//! token stream and its copies (input, normalised, residual), qkv, the MLP hidden layer, and
//! the attention maps of the two branches (logits, logits + bias + mask, softmax: three maps).
//! It is an upper-side estimate meant for choosing tiles, not an allocator trace.

use super::config::GrlConfig;
use super::tables::stripe_geometry;
use crate::Size;
use crate::tiling::memory::{MemoryEstimate, TileMemory};

const F32: u64 = 4;

impl GrlConfig {
    /// Estimate for a batch of `batch` tiles of `tile` pixels (multiples of the pad size).
    pub fn memory_estimate(&self, batch: usize, tile: Size) -> MemoryEstimate {
        let tokens = (batch * tile.area()) as u64;
        let c = self.embed_dim as u64;
        let ws2 = (self.window_size * self.window_size) as u64;
        let stripe = stripe_geometry(self.stripe_size, self.stripe_groups, tile).size;
        let stripe_area = (stripe[0] * stripe[1]) as u64;
        let df2 = (self.anchor_window_down_factor * self.anchor_window_down_factor) as u64;
        let heads_w = self.num_heads_window.iter().copied().max().unwrap_or(0) as u64;
        let heads_s = self.num_heads_stripe.iter().copied().max().unwrap_or(0) as u64;

        // One attention map per window token holds ws² logits per head; per stripe token an
        // anchor map holds stripe_area / df² logits per head (both the a2w and w2a maps).
        let window_map = tokens * heads_w * ws2;
        let stripe_map = tokens * heads_s * stripe_area / df2.max(1);
        let attention = 3 * window_map.max(stripe_map);
        let stream = tokens * c * 6; // x, norm, residual, attention out, two conv/CAB temporaries
        let qkv = tokens * c * 3;
        let mlp = tokens * self.mlp_hidden_dim() as u64;
        let scale2 = (self.upscale * self.upscale) as u64;
        let tail = tokens * scale2 * 64 * 2; // upsampled features and the conv after them
        let largest = [window_map, stripe_map, qkv, mlp, tail / 2].into_iter().max().unwrap();
        MemoryEstimate {
            peak_bytes: F32 * (stream + qkv + mlp + attention).max(stream + tail),
            largest_buffer_bytes: F32 * largest,
        }
    }
}

impl TileMemory for GrlConfig {
    fn pad_size(&self) -> usize {
        GrlConfig::pad_size(self)
    }
    fn memory(&self, batch: usize, tile: Size) -> MemoryEstimate {
        self.memory_estimate(batch, tile)
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::tiling::memory::{MemoryLimits, choose_batch, choose_tile};

    const MIB: u64 = 1 << 20;

    #[test]
    fn estimate_grows_with_the_tile_area() {
        let config = GrlConfig::preset("sr_grl_tiny_c3x4").unwrap();
        let small = config.memory_estimate(1, Size::square(64));
        let large = config.memory_estimate(1, Size::square(128));
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
        assert_eq!(choose_tile(&base, 1, tight, 1024), None, "{:?}", base.memory_estimate(1, Size::square(64)));
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
                let e = config.memory_estimate(1, Size::square(side));
                assert!(e.peak_bytes <= budget && e.largest_buffer_bytes <= 128 * MIB);
                let next = config.memory_estimate(1, Size::square(side + config.pad_size()));
                assert!(side == 1024 || next.peak_bytes > budget || next.largest_buffer_bytes > 128 * MIB);
                println!("{name}: tile {side} under a {} MiB budget", budget / MIB);
            }
        }
    }

    #[test]
    fn batches_fill_the_budget_and_no_more() {
        let config = GrlConfig::preset("sr_grl_tiny_c3x4").unwrap();
        let tile = Size::square(64);
        let one = config.memory_estimate(1, tile);
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
        let e = config.memory_estimate(1, plan.tile);
        assert!(e.largest_buffer_bytes <= 256 * MIB, "{e:?}");
        assert!(e.peak_bytes <= 2048 * MIB, "{e:?}");
        println!("6000x4000 GRL-S x4 under 256 MiB buffers: tile {side}, {} tiles", plan.tiles.len());
    }
}
