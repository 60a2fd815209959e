//! Restoring an RGBA8 image with a GRL model, tile by tile: the one path shared by the command
//! line and the browser package.
//!
//! Colour models see RGB and single-channel models see luma; the planes the model does not
//! restore (chroma for a luma model, alpha) ride along in the same tiles and are resampled
//! bicubically for super-resolution, so they are blended and cropped exactly like the
//! restored planes. A fully opaque image skips the alpha plane.

use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use burn::tensor::{Device, Tensor};

use crate::Size;
use crate::model::memory::AttentionPath;
use crate::model::{Grl, GrlConfig, TableIndexMask};
use crate::pixels::{
    check_rgba_len, rgb_planes_to_rgba, rgba_alpha_plane, rgba_to_rgb_planes, rgba_to_ycbcr_planes,
    u8_to_unit, unit_to_u8, ycbcr_planes_to_rgba,
};
use crate::tiling::geometry::{even_tile, plan_tiles, tile_shape};
use crate::tiling::lanes::{Here, TileLanes};
use crate::tiling::memory::{MemoryEstimate, MemoryLimits, TileMemory, choose_batch, choose_lanes, choose_tile};
use crate::tiling::run::{TileError, TileHooks, TileModel, TileOptions, run_tiled_on};

/// How to tile a restore.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestoreOptions {
    /// Tile side in input pixels (rounded down to a multiple of the model's pad size, and
    /// raised to the pad size when smaller); `None` picks the largest that fits the memory
    /// limits.
    pub tile: Option<usize>,
    /// Pixels shared by neighbouring tiles.
    pub overlap: usize,
    /// Tiles per forward: `Some(n)`, or `None` for as many as fit the memory limits (up to
    /// [`MAX_AUTO_BATCH`]). Progress and cancellation act between forwards, so 1 (the default)
    /// is the most responsive; batches can use a GPU better when tiles are small.
    pub batch: Option<usize>,
}

/// The largest batch `batch: None` picks.
pub const MAX_AUTO_BATCH: usize = 8;

impl Default for RestoreOptions {
    fn default() -> Self {
        RestoreOptions { tile: None, overlap: 16, batch: Some(1) }
    }
}

/// Bytes per pixel (of the input, and again of the output) that a restore holds in host memory
/// at its peak, for an image with alpha: the input as u8 and f32 RGBA and 4 planes (4 + 16 + 16),
/// the output's 4 blended planes, its alpha and its f32 RGBA (16 + 4 + 16); the u8 result
/// (4) comes after the blend weights (4) are freed.
const HOST_BYTES_PER_PIXEL: u64 = 36;

/// Host memory (wasm's linear memory in a browser) a restore of an `image` by a model of this
/// `scale` holds at its peak, besides the model and a tile's forward.
pub fn host_bytes(scale: usize, image: Size) -> u64 {
    // In u64: the output's pixel count can pass wasm32's usize.
    let input = image.width as u64 * image.height as u64;
    let output = input * (scale * scale) as u64;
    (input + output) * HOST_BYTES_PER_PIXEL
}

/// A restored image.
#[derive(Debug, Clone, PartialEq)]
pub struct RestoredImage<T> {
    /// The input's size times the model's scale.
    pub size: Size,
    /// Interleaved RGBA, row-major.
    pub rgba: Vec<T>,
    /// The tile side chosen (it halves if the device fails on a tile; progress reports that).
    pub tile: usize,
}

/// GRL as a [`TileModel`], with `extra` planes resampled alongside, and a check of each tile
/// shape against the device's buffer limit (a WebGPU binding past it fails validation, which
/// can read back zeros instead of failing).
pub struct GrlTiles<'a> {
    pub grl: &'a Grl,
    pub extra: usize,
    pub limits: MemoryLimits,
}

impl TileMemory for GrlTiles<'_> {
    fn pad_size(&self) -> usize {
        self.grl.config.pad_size()
    }
    fn memory(&self, batch: usize, tile: Size) -> MemoryEstimate {
        self.grl.memory().memory(batch, tile)
    }
}

impl TileModel for GrlTiles<'_> {
    type Prepared = TableIndexMask;

    fn scale(&self) -> usize {
        self.grl.config.upscale
    }
    fn in_channels(&self) -> usize {
        self.grl.config.in_channels + self.extra
    }
    fn out_channels(&self) -> usize {
        self.grl.config.out_channels() + self.extra
    }
    fn prepare(&self, tile: Size, device: &Device) -> TableIndexMask {
        self.grl.tables(tile, device)
    }
    fn forward(&self, tables: &TableIndexMask, x: Tensor<4>) -> Result<Tensor<4>, String> {
        let [batch, _, h, w] = x.dims();
        let tile = Size { height: h, width: w };
        let estimate = self.memory(batch, tile);
        if !self.limits.binds(&estimate) {
            return Err(format!(
                "a {tile} tile needs a {}-byte buffer: the device allows {}",
                estimate.largest_buffer_bytes, self.limits.max_buffer_bytes
            ));
        }
        let cin = self.grl.config.in_channels;
        let restored = self.grl.forward_with_tables(x.clone().narrow(1, 0, cin), tables);
        if self.extra == 0 {
            return Ok(restored);
        }
        let extra = x.narrow(1, cin, self.extra);
        let scale = self.scale();
        let extra = if scale == 1 {
            extra
        } else {
            let options = InterpolateOptions::new(InterpolateMode::Bicubic)
                .with_align_corners(false)
                .with_output_size([h * scale, w * scale]);
            interpolate(extra, options)
        };
        Ok(Tensor::cat(vec![restored, extra], 1))
    }
}

/// Restores the RGBA8 pixels of an `image`; the output is `scale` times larger. The input is
/// not modified.
pub async fn restore_rgba8(
    grl: &Grl,
    device: &Device,
    limits: MemoryLimits,
    rgba: &[u8],
    image: Size,
    options: RestoreOptions,
    hooks: &mut impl TileHooks,
) -> Result<RestoredImage<u8>, TileError> {
    restore_rgba8_on(grl, &mut Here::new(device.clone()), limits, rgba, image, options, hooks).await
}

/// [`restore_rgba8`] with the tiles run by `lanes` (the browser's pool of workers, each with
/// its own copy of `grl`): the same output, to the last bit.
pub async fn restore_rgba8_on<'g>(
    grl: &'g Grl,
    lanes: &mut impl TileLanes<GrlTiles<'g>>,
    limits: MemoryLimits,
    rgba: &[u8],
    image: Size,
    options: RestoreOptions,
    hooks: &mut impl TileHooks,
) -> Result<RestoredImage<u8>, TileError> {
    check_rgba_len(rgba.len(), image).map_err(TileError::Input)?;
    let out = restore_rgba_on(grl, lanes, limits, &u8_to_unit(rgba), image, options, hooks).await?;
    Ok(RestoredImage { size: out.size, rgba: unit_to_u8(&out.rgba), tile: out.tile })
}

/// Restores the interleaved RGBA values in [0, 1] (any bit depth) of an `image`; the output is
/// `scale` times larger, clamped to [0, 1]. The input is not modified.
pub async fn restore_rgba(
    grl: &Grl,
    device: &Device,
    limits: MemoryLimits,
    rgba: &[f32],
    image: Size,
    options: RestoreOptions,
    hooks: &mut impl TileHooks,
) -> Result<RestoredImage<f32>, TileError> {
    restore_rgba_on(grl, &mut Here::new(device.clone()), limits, rgba, image, options, hooks).await
}

/// [`restore_rgba`] with the tiles run by `lanes`.
pub async fn restore_rgba_on<'g>(
    grl: &'g Grl,
    lanes: &mut impl TileLanes<GrlTiles<'g>>,
    limits: MemoryLimits,
    rgba: &[f32],
    image: Size,
    options: RestoreOptions,
    hooks: &mut impl TileHooks,
) -> Result<RestoredImage<f32>, TileError> {
    check_rgba_len(rgba.len(), image).map_err(TileError::Input)?;
    let config = &grl.config;
    let (cin, cout) = (config.in_channels, config.out_channels());
    if !matches!((cin, cout), (1, 1) | (3, 3)) {
        return Err(TileError::Input(format!(
            "the model maps {cin} channels to {cout}: RGBA images need a 1- or 3-channel model"
        )));
    }
    let opaque = rgba.chunks_exact(4).all(|px| px[3] >= 1.0);
    let mut planes = if cin == 3 { rgba_to_rgb_planes(rgba) } else { rgba_to_ycbcr_planes(rgba) };
    if !opaque {
        planes.extend(rgba_alpha_plane(rgba));
    }
    let extra = planes.len() / image.area() - cin;
    let tiles = GrlTiles { grl, extra, limits };
    let tile = match options.tile {
        Some(tile) => explicit_tile(&tiles, tile, options.batch.unwrap_or(1), limits, image)?,
        None => choose_tile(&tiles, options.batch.unwrap_or(1), limits, image.max_side())
            .ok_or_else(|| TileError::Device("not even the smallest tile fits the memory limits".into()))?,
    };
    let batch = options
        .batch
        .unwrap_or_else(|| choose_batch(&tiles, tile_shape(image, tile, config.pad_size()), limits, MAX_AUTO_BATCH));
    let tile_options = TileOptions { tile, overlap: options.overlap, batch };
    let out = run_tiled_on(&tiles, lanes, &planes, image, tile_options, hooks).await?;

    let size = image.scaled(config.upscale);
    let n = size.area();
    let alpha = if opaque { vec![1.0; n] } else { out[3 * n..4 * n].to_vec() };
    let rgba = if cout == 3 { rgb_planes_to_rgba(&out[..3 * n], &alpha) } else { ycbcr_planes_to_rgba(&out[..3 * n], &alpha) };
    Ok(RestoredImage { size, rgba, tile })
}

/// A tile side the caller chose (the CLI's `--tile`, the package's `tileSize`), raised to the
/// pad size when smaller; refused, naming the side and the sides that fit, when a forward over
/// `batch` tiles of the shape it gives this `image` would pass the memory `limits` (an
/// explicit side is kept to the same budget as an automatic one: past it the CPU aborts).
fn explicit_tile(tiles: &GrlTiles, tile: usize, batch: usize, limits: MemoryLimits, image: Size) -> Result<usize, TileError> {
    let pad = tiles.pad_size();
    let tile = tile.max(pad);
    let estimate = tiles.memory(batch, tile_shape(image, tile, pad));
    if limits.fits(&estimate) {
        return Ok(tile);
    }
    let tile_text = if batch > 1 { format!("tile {tile} with batch {batch}") } else { format!("tile {tile}") };
    let needs = if limits.binds(&estimate) {
        let (peak, budget) = (estimate.peak_bytes >> 20, limits.budget_bytes >> 20);
        format!("{tile_text} needs {peak} MiB for a forward, over the {budget} MiB budget")
    } else {
        let (buffer, allowed) = (estimate.largest_buffer_bytes >> 20, limits.max_buffer_bytes >> 20);
        format!("{tile_text} needs a {buffer} MiB buffer: the device allows {allowed} MiB")
    };
    Err(TileError::Input(match choose_tile(tiles, batch, limits, image.max_side()) {
        Some(largest) => format!("{needs}: expected a tile from {pad} to {largest}"),
        None => format!("{needs}: not even the smallest tile ({pad}) fits"),
    }))
}

/// The side of the tiles a CPU restore with automatic tiles cuts an image into, about: see
/// [`cpu_tile`].
pub const CPU_TILE: usize = 256;

/// The tile side of a restore on the CPU (the browser's fallback) with automatic tiles: the
/// largest that fits `limits`, at most an even split of the image into tiles of about
/// [`CPU_TILE`] pixels (a 512x512 image: four tiles of 272), so that workers side by side get
/// several tiles each and a cancel acts within seconds. The same whatever the number of
/// workers, which therefore never changes the output. `None` when not even the smallest tile
/// fits. The CPU runs the fused attention kernel (no N x N maps).
pub fn cpu_tile(config: &GrlConfig, limits: MemoryLimits, image: Size, overlap: usize) -> Option<usize> {
    let pad = config.pad_size();
    let fits = choose_tile(&config.memory(AttentionPath::FusedCpu), 1, limits, image.max_side())?;
    Some(fits.min(even_tile(image.max_side(), CPU_TILE, overlap, pad).max(pad)))
}

/// How many of `workers`, each with its own copy of the model (`params` parameters), a
/// restore of `image` with `options` (whose tile is chosen) can use side by side: no more than
/// it has batches of tiles, nor than `budget_bytes` holds, each worker holding the model, a
/// forward over one batch and its tiles in and out; at least 1.
pub fn pool_lanes(workers: usize, config: &GrlConfig, params: usize, image: Size, options: &RestoreOptions, budget_bytes: u64) -> usize {
    let pad = config.pad_size();
    let tile = options.tile.unwrap_or(CPU_TILE).max(pad);
    let batch = options.batch.unwrap_or(1).max(1);
    let Ok(plan) = plan_tiles(image, tile, options.overlap, pad) else { return 1 };
    // A tile's planes in and out (with an alpha plane), and the weights, as f32.
    let scale2 = (config.upscale * config.upscale) as u64;
    let planes = (config.in_channels + 1) as u64 * plan.tile.area() as u64 * (1 + scale2);
    let worker = config.memory_estimate(batch, plan.tile, AttentionPath::FusedCpu).peak_bytes + 4 * (params as u64 + batch as u64 * planes);
    choose_lanes(workers.min(plan.tiles.len().div_ceil(batch)), worker, budget_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_bytes_counts_input_and_output_pixels() {
        let size = |width, height| Size { height, width };
        assert_eq!(host_bytes(1, size(100, 50)), 2 * 5_000 * 36);
        assert_eq!(host_bytes(4, size(100, 50)), (5_000 + 80_000) * 36);
        // A 12 MP photo: ~0.9 GB to denoise, ~7 GB to upscale x4 (past wasm32's 4 GiB).
        assert_eq!(host_bytes(1, size(4000, 3000)), 864_000_000);
        assert_eq!(host_bytes(4, size(4000, 3000)), 7_344_000_000);
        // No overflow at ImageData's largest sides.
        assert_eq!(host_bytes(4, Size::square(65_535)), 65_535 * 65_535 * 17 * 36);
    }

    fn denoiser() -> (GrlConfig, usize) {
        let file: serde_json::Value = serde_json::from_str(include_str!("../models/denoise.json")).unwrap();
        let config: GrlConfig = serde_json::from_value(file["model_kwargs"].clone()).unwrap();
        (config, 96_667)
    }

    #[test]
    fn cpu_tiles_split_the_image_evenly_whatever_fits_more() {
        let (config, _) = denoiser();
        let roomy = MemoryLimits { max_buffer_bytes: u64::MAX, budget_bytes: 768 << 20 };
        // 512x512 fits in one tile of 512 (768 MiB), but four of 272 let workers share it.
        assert_eq!(cpu_tile(&config, roomy, Size::square(512), 16), Some(272));
        assert_eq!(cpu_tile(&config, roomy, Size { height: 100, width: 60 }, 16), Some(112));
        let tight = MemoryLimits { max_buffer_bytes: u64::MAX, budget_bytes: 64 << 20 };
        assert!(cpu_tile(&config, tight, Size::square(512), 16).unwrap() < 272, "memory first");
        let none = MemoryLimits { max_buffer_bytes: 1, budget_bytes: 1 };
        assert_eq!(cpu_tile(&config, none, Size::square(512), 16), None);
    }

    #[test]
    fn the_pool_shrinks_to_the_tiles_and_the_memory() {
        let (config, params) = denoiser();
        let options = |tile| RestoreOptions { tile: Some(tile), ..RestoreOptions::default() };
        let gib = 1 << 30;
        assert_eq!(pool_lanes(8, &config, params, Size::square(512), &options(272), 2 * gib), 4, "4 tiles");
        assert_eq!(pool_lanes(2, &config, params, Size::square(512), &options(272), 2 * gib), 2);
        assert_eq!(pool_lanes(8, &config, params, Size::square(100), &options(272), 2 * gib), 1, "1 tile");
        // A forward over a 512 tile takes about 350 MiB on the CPU kernel: 1 GiB holds two such
        // workers, 2 GiB five.
        assert_eq!(pool_lanes(8, &config, params, Size::square(2048), &options(512), gib), 2);
        assert_eq!(pool_lanes(8, &config, params, Size::square(2048), &options(512), 2 * gib), 5);
        assert_eq!(pool_lanes(8, &config, params, Size::square(2048), &options(512), gib / 4), 1, "never none");
    }
}
