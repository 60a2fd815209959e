//! Tile-by-tile execution: cut the image into the tiles of a
//! [`TilePlan`](super::geometry::TilePlan), run the model on them (several per forward where
//! asked, several forwards at once where the [`TileLanes`] allow), blend the outputs in plan
//! order, report progress, stop on cancellation, and halve the tile when the device fails on one.

use std::collections::BTreeMap;
use std::fmt;

use burn::tensor::{Device, Tensor};

use super::blend::Blender;
use super::geometry::{TileRect, TilingError, plan_tiles};
use super::lanes::{Here, TileLanes, cut_batch};
use super::memory::TileMemory;
use crate::Size;

/// What the scheduler needs from a network, besides its pad size and memory.
pub trait TileModel: TileMemory {
    /// Per-tile-shape state built once per plan (GRL: its tables, indices and masks).
    type Prepared;
    /// Output size / input size.
    fn scale(&self) -> usize;
    fn in_channels(&self) -> usize;
    fn out_channels(&self) -> usize;
    /// Builds what forwards on `tile`-sized tiles share.
    fn prepare(&self, tile: Size, device: &Device) -> Self::Prepared;
    /// Runs a batch of tiles; an error (for example a tile whose buffers exceed the device's
    /// limits) makes the scheduler halve the tile.
    ///
    /// # Shapes
    /// - x: `[B, in_channels, h, w]`, values in [0, 1]
    /// - output: `[B, out_channels, h * scale, w * scale]`
    fn forward(&self, prepared: &Self::Prepared, x: Tensor<4>) -> Result<Tensor<4>, String>;
}

/// How to tile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TileOptions {
    /// Largest tile side in input pixels (rounded down to the model's pad size).
    pub tile: usize,
    /// Pixels shared by neighbouring tiles, blended.
    pub overlap: usize,
    /// Tiles per forward.
    pub batch: usize,
}

/// One step of progress, reported after each forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TileProgress {
    /// Tiles finished so far.
    pub done: usize,
    /// Tiles in the plan (grows when a failed tile is split).
    pub total: usize,
    /// The last finished tile, in input pixels.
    pub rect: TileRect,
    /// The tile shape in use.
    pub tile: Size,
}

/// What the caller hears from, and says to, a running job.
#[allow(async_fn_in_trait)]
pub trait TileHooks {
    /// Called after each forward.
    fn progress(&mut self, _progress: TileProgress) {}
    /// Checked before each forward; `true` stops the job with [`TileError::Cancelled`].
    fn cancelled(&self) -> bool {
        false
    }
    /// Awaited between forwards, so that a page can repaint and handle events.
    async fn pause(&mut self) {}
}

/// Hooks that do nothing: run to the end.
pub struct NoHooks;
impl TileHooks for NoHooks {}

/// Why a tiled run stopped.
#[derive(Debug, Clone, PartialEq)]
pub enum TileError {
    /// The caller cancelled it (see [`TileHooks::cancelled`]).
    Cancelled,
    /// The image or the options cannot be tiled.
    Plan(TilingError),
    /// The planes do not have the size the image and model say.
    Input(String),
    /// The device failed, even on the smallest tile.
    Device(String),
}

impl fmt::Display for TileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TileError::Cancelled => write!(f, "cancelled"),
            TileError::Plan(e) => write!(f, "{e}"),
            TileError::Input(e) => write!(f, "{e}"),
            TileError::Device(e) => write!(f, "device error: {e}"),
        }
    }
}

impl std::error::Error for TileError {}

impl From<TilingError> for TileError {
    fn from(e: TilingError) -> Self {
        TileError::Plan(e)
    }
}

/// A region still to do and the plan that covers it.
struct Pending {
    tiles: Vec<TileRect>,
    shape: Size,
}

/// Splits each pending tile into tiles of side at most `side`, planned over the whole old tile
/// (all old tiles have one shape, so all new ones do too), keeping the new tiles that touch
/// the image. They overlap each other and the old neighbours, so the blend stays seamless.
fn split(pending: &[TileRect], side: usize, overlap: usize, pad: usize, image: Size) -> Result<Pending, TileError> {
    let old = pending[0];
    let sub = plan_tiles(Size { height: old.h, width: old.w }, side, overlap, pad)?;
    let tiles = pending
        .iter()
        .flat_map(|rect| sub.tiles.iter().map(move |t| TileRect { y: rect.y + t.y, x: rect.x + t.x, ..*t }))
        .filter(|t| t.y < image.height && t.x < image.width)
        .collect();
    Ok(Pending { tiles, shape: sub.tile })
}

/// Restores planar `[in_channels, height, width]` pixels in [0, 1] of an `image`-sized image
/// tile by tile on `device`, one batch after another; returns planar `[out_channels, height *
/// scale, width * scale]`. The input is not modified. See [`run_tiled_on`].
pub async fn run_tiled<M: TileModel>(
    model: &M,
    device: &Device,
    planes: &[f32],
    image: Size,
    options: TileOptions,
    hooks: &mut impl TileHooks,
) -> Result<Vec<f32>, TileError> {
    run_tiled_on(model, &mut Here::new(device.clone()), planes, image, options, hooks).await
}

/// [`run_tiled`] with the batches run by `lanes`, up to [`TileLanes::lanes`] at once. Results
/// are blended, and progress reported, in plan order whatever order they finish in: the sums
/// are the same as one batch at a time, so the output is the same to the last bit.
///
/// A device failure on a tile (for example out of memory) halves the tile side and goes on
/// from that tile (the tiles after it are planned again, even those that finished);
/// [`TileProgress::tile`] tells the caller the size in use. Cancellation is checked before each
/// batch is started; batches still in flight then are abandoned.
pub async fn run_tiled_on<M: TileModel>(
    model: &M,
    lanes: &mut impl TileLanes<M>,
    planes: &[f32],
    image: Size,
    options: TileOptions,
    hooks: &mut impl TileHooks,
) -> Result<Vec<f32>, TileError> {
    let (cin, cout, scale, pad) = (model.in_channels(), model.out_channels(), model.scale(), model.pad_size());
    if planes.len() != cin * image.area() {
        let Size { height, width } = image;
        return Err(TileError::Input(format!("input has {} values: expected {cin} x {height} x {width}", planes.len())));
    }
    // The plan bounds the tile and the overlap (geometry::check_options) before any product.
    let plan = plan_tiles(image, options.tile, options.overlap, pad)?;
    let mut blender = Blender::new(image.scaled(scale), cout, options.overlap * scale);
    let mut pending = Pending { tiles: plan.tiles, shape: plan.tile };
    let batch_size = options.batch.max(1);
    let mut done = 0;
    loop {
        let batches: Vec<&[TileRect]> = pending.tiles.chunks(batch_size).collect();
        let total = done + pending.tiles.len();
        // Finished batches waiting for an earlier one, by index; the first failure.
        let mut finished = BTreeMap::new();
        let mut failed: Option<(usize, String)> = None;
        let (mut sent, mut blended, mut running) = (0, 0, 0);
        while blended < batches.len() {
            while failed.is_none() && running < lanes.lanes().max(1) && sent < batches.len() {
                if hooks.cancelled() {
                    return Err(TileError::Cancelled);
                }
                let input = cut_batch(planes, cin, image, batches[sent]);
                lanes.submit(model, sent, pending.shape, batches[sent].len(), input);
                sent += 1;
                running += 1;
            }
            if running == 0 {
                break; // a batch failed and every batch before it is blended
            }
            let (job, result) = lanes.next(model).await;
            running -= 1;
            match result {
                Ok(outputs) => {
                    finished.insert(job, outputs);
                }
                Err(e) if failed.as_ref().is_none_or(|(first, _)| job < *first) => failed = Some((job, e)),
                Err(_) => {}
            }
            while let Some(outputs) = finished.remove(&blended) {
                let batch = batches[blended];
                for (rect, out) in batch.iter().zip(outputs) {
                    blender.add(rect.scaled(scale), &out);
                }
                blended += 1;
                done += batch.len();
                hooks.progress(TileProgress { done, total, rect: *batch.last().unwrap(), tile: pending.shape });
                hooks.pause().await;
            }
        }
        let Some((job, e)) = failed else { break };
        let side = pending.shape.max_side() / 2 / pad * pad;
        if side < pad || options.overlap >= side.div_ceil(2) {
            return Err(TileError::Device(e)); // no smaller tile keeps the overlap
        }
        pending = split(&pending.tiles[job * batch_size..], side, options.overlap, pad, image)?;
    }
    blender
        .finish()
        .ok_or_else(|| TileError::Input("internal: a pixel was not covered by any tile".into()))
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;
