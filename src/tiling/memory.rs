//! Memory per forward, what a device allows, and the choice of the largest tile (and batch)
//! that fits: the scheduler asks the network for its estimate through [`TileMemory`].

use burn::tensor::wgpu::wgpu;

use crate::Size;

/// Memory a forward may use on WebGPU by default (the package's budget, which `grl info` shows
/// the automatic tile under); the device's buffer limits apply as well.
pub const WEBGPU_BUDGET: u64 = 512 << 20;

/// WebGPU's default `maxStorageBufferBindingSize`, what an adapter grants unless asked for more.
pub const WEBGPU_DEFAULT_BINDING: u64 = 128 << 20;

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

impl MemoryLimits {
    /// The limits of a wgpu device (native or WebGPU), with `budget_bytes` for a forward.
    pub fn from_wgpu(limits: &wgpu::Limits, budget_bytes: u64) -> Self {
        let max_buffer_bytes = (limits.max_storage_buffer_binding_size as u64).min(limits.max_buffer_size);
        MemoryLimits { max_buffer_bytes, budget_bytes }
    }

    /// Whether every buffer of a forward can be bound on the device.
    pub fn binds(&self, estimate: &MemoryEstimate) -> bool {
        estimate.largest_buffer_bytes <= self.max_buffer_bytes
    }

    /// Whether a forward fits: every buffer binds and the peak is within the budget.
    pub fn fits(&self, estimate: &MemoryEstimate) -> bool {
        self.binds(estimate) && estimate.peak_bytes <= self.budget_bytes
    }
}

/// What choosing a tile needs from a network.
pub trait TileMemory {
    /// Tile sides must be multiples of this.
    fn pad_size(&self) -> usize;
    /// The memory of one forward over `batch` tiles of `tile` pixels (sides multiples of
    /// [`TileMemory::pad_size`]).
    fn memory(&self, batch: usize, tile: Size) -> MemoryEstimate;
}

/// The largest square tile side (a multiple of the pad size, at most `max_side` rounded up to
/// one) whose forward fits `limits`, or `None` when not even one pad-size tile fits.
pub fn choose_tile(model: &impl TileMemory, batch: usize, limits: MemoryLimits, max_side: usize) -> Option<usize> {
    let pad = model.pad_size();
    let fits = |side: usize| limits.fits(&model.memory(batch, Size::square(side)));
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
pub fn choose_batch(model: &impl TileMemory, tile: Size, limits: MemoryLimits, max: usize) -> usize {
    (1..=max.max(1)).take_while(|&batch| limits.fits(&model.memory(batch, tile))).last().unwrap_or(1)
}

/// How many lanes (workers, each with its own copy of the model) to run at once: at most
/// `wanted`, as many as `budget_bytes` holds at `lane_bytes` each, and at least 1.
pub fn choose_lanes(wanted: usize, lane_bytes: u64, budget_bytes: u64) -> usize {
    let fit = budget_bytes / lane_bytes.max(1);
    wanted.min(usize::try_from(fit).unwrap_or(usize::MAX)).max(1)
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    /// Pad size 8; a forward holds 2 bytes a pixel at its peak, in buffers of 1 byte a pixel.
    struct Linear;

    impl TileMemory for Linear {
        fn pad_size(&self) -> usize {
            8
        }
        fn memory(&self, batch: usize, tile: Size) -> MemoryEstimate {
            let pixels = (batch * tile.area()) as u64;
            MemoryEstimate { peak_bytes: 2 * pixels, largest_buffer_bytes: pixels }
        }
    }

    #[test]
    fn the_largest_fitting_multiple_of_the_pad_size_is_chosen() {
        let limits = |buffer: u64, budget: u64| MemoryLimits { max_buffer_bytes: buffer, budget_bytes: budget };
        assert_eq!(choose_tile(&Linear, 1, limits(u64::MAX, 2 * 30 * 30), 1000), Some(24), "peak bound");
        assert_eq!(choose_tile(&Linear, 1, limits(17 * 17, u64::MAX), 1000), Some(16), "buffer bound");
        assert_eq!(choose_tile(&Linear, 4, limits(u64::MAX, 2 * 4 * 16 * 16), 1000), Some(16), "per batch");
        assert_eq!(choose_tile(&Linear, 1, limits(u64::MAX, u64::MAX), 10), Some(16), "the image's side, padded");
        assert_eq!(choose_tile(&Linear, 1, limits(63, u64::MAX), 1000), None, "not even 8x8");
    }

    #[test]
    fn batches_fill_the_limits_within_the_cap() {
        let tile = Size::square(8);
        let limits = MemoryLimits { max_buffer_bytes: u64::MAX, budget_bytes: 2 * 64 * 3 + 1 };
        assert_eq!(choose_batch(&Linear, tile, limits, 8), 3);
        assert_eq!(choose_batch(&Linear, tile, limits, 2), 2, "capped");
        let tight = MemoryLimits { max_buffer_bytes: 1, budget_bytes: 1 };
        assert_eq!(choose_batch(&Linear, tile, tight, 8), 1);
    }

    #[test]
    fn lanes_shrink_to_the_budget_but_never_below_one() {
        assert_eq!(choose_lanes(8, 100, 1_000), 8);
        assert_eq!(choose_lanes(8, 300, 1_000), 3);
        assert_eq!(choose_lanes(8, 2_000, 1_000), 1);
        assert_eq!(choose_lanes(2, 0, 1_000), 2);
    }

    #[test]
    fn wgpu_limits_take_the_smaller_buffer_limit() {
        let limits = wgpu::Limits { max_storage_buffer_binding_size: 128 << 20, max_buffer_size: 256 << 20, ..Default::default() };
        assert_eq!(MemoryLimits::from_wgpu(&limits, 7), MemoryLimits { max_buffer_bytes: 128 << 20, budget_bytes: 7 });
        let limits = wgpu::Limits { max_storage_buffer_binding_size: 128 << 20, max_buffer_size: 64 << 20, ..Default::default() };
        assert_eq!(MemoryLimits::from_wgpu(&limits, 7).max_buffer_bytes, 64 << 20);
    }
}
