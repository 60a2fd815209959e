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
mod tests {
    use super::*;
    use crate::tiling::lanes::forward_tiles;
    use burn::nn::PaddingConfig2d;
    use burn::tensor::TensorData;
    use burn::nn::conv::{Conv2d, Conv2dConfig};
    use crate::tiling::memory::MemoryEstimate;
    use burn::nn::PixelShuffle;

    /// Two 3x3 convs and a pixel shuffle x2: each output depends on a 5x5 input neighbourhood.
    struct ConvNet {
        conv1: Conv2d,
        conv2: Conv2d,
        /// Tiles wider than this fail, as a device out of memory would.
        max_width: usize,
    }

    impl ConvNet {
        fn new(device: &Device, max_width: usize) -> Self {
            let conv = |i, o| Conv2dConfig::new([i, o], [3, 3]).with_padding(PaddingConfig2d::Same).init(device);
            ConvNet { conv1: conv(3, 8), conv2: conv(8, 12), max_width }
        }
    }

    impl TileMemory for ConvNet {
        fn pad_size(&self) -> usize {
            8
        }
        fn memory(&self, _batch: usize, _tile: Size) -> MemoryEstimate {
            MemoryEstimate { peak_bytes: 0, largest_buffer_bytes: 0 }
        }
    }

    impl TileModel for ConvNet {
        type Prepared = ();
        fn scale(&self) -> usize {
            2
        }
        fn in_channels(&self) -> usize {
            3
        }
        fn out_channels(&self) -> usize {
            3
        }
        fn prepare(&self, _tile: Size, _device: &Device) {}
        fn forward(&self, _: &(), x: Tensor<4>) -> Result<Tensor<4>, String> {
            let [_, _, _, w] = x.dims();
            if w > self.max_width {
                return Err(format!("tile width {w} > {}", self.max_width));
            }
            Ok(PixelShuffle { upscale_factor: 2 }.forward(self.conv2.forward(burn::tensor::activation::relu(self.conv1.forward(x)))))
        }
    }

    fn image(h: usize, w: usize) -> Vec<f32> {
        (0..3 * h * w).map(|i| ((i * 7919) % 255) as f32 / 255.0).collect()
    }

    fn whole(model: &ConvNet, device: &Device, planes: &[f32], h: usize, w: usize) -> Vec<f32> {
        let x = Tensor::<4>::from_data(TensorData::new(planes.to_vec(), [1, 3, h, w]), device);
        model.forward(&(), x).unwrap().into_data().try_into_vec::<f32>().unwrap()
    }

    fn max_err(a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len());
        a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
    }

    #[derive(Default)]
    struct Record {
        steps: Vec<TileProgress>,
        cancel_after: Option<usize>,
    }

    impl TileHooks for Record {
        fn progress(&mut self, p: TileProgress) {
            self.steps.push(p);
        }
        fn cancelled(&self) -> bool {
            self.cancel_after.is_some_and(|n| self.steps.len() >= n)
        }
    }

    #[test]
    fn tiled_output_equals_whole_image_output_for_a_local_network() {
        let device = Device::flex();
        let model = ConvNet::new(&device, usize::MAX);
        let (h, w) = (70, 93);
        let planes = image(h, w);
        let expected = whole(&model, &device, &planes, h, w);
        for batch in [1, 3] {
            let options = TileOptions { tile: 32, overlap: 8, batch };
            let mut hooks = Record::default();
            let image = Size { height: h, width: w };
            let got = pollster::block_on(run_tiled(&model, &device, &planes, image, options, &mut hooks)).unwrap();
            let err = max_err(&got, &expected);
            assert!(err < 1e-5, "batch {batch}: tiled vs whole max error {err}");
            let total = hooks.steps.last().unwrap().total;
            assert_eq!(hooks.steps.last().unwrap().done, total);
            assert_eq!(total, 3 * 4, "70x93 in 32-pixel tiles with overlap 8");
        }
    }

    #[test]
    fn a_failing_tile_is_halved_and_the_run_goes_on() {
        let device = Device::flex();
        let (h, w) = (64, 100);
        let planes = image(h, w);
        let mut model = ConvNet::new(&device, usize::MAX);
        let reference = whole(&model, &device, &planes, h, w);
        model.max_width = 40; // 64-pixel tiles fail, 32-pixel ones pass
        let mut hooks = Record::default();
        let options = TileOptions { tile: 64, overlap: 8, batch: 1 };
        let image = Size { height: h, width: w };
        let got = pollster::block_on(run_tiled(&model, &device, &planes, image, options, &mut hooks)).unwrap();
        assert!(max_err(&got, &reference) < 1e-5, "halved tiles still blend exactly");
        assert_eq!(hooks.steps[0].tile, Size::square(32), "the tile size in use is reported");
    }

    #[test]
    fn cancelling_stops_before_the_next_tile_and_leaves_the_input_alone() {
        let device = Device::flex();
        let model = ConvNet::new(&device, usize::MAX);
        let planes = image(64, 64);
        let copy = planes.clone();
        let mut hooks = Record { cancel_after: Some(2), ..Default::default() };
        let options = TileOptions { tile: 24, overlap: 4, batch: 1 };
        let result = pollster::block_on(run_tiled(&model, &device, &planes, Size::square(64), options, &mut hooks));
        assert_eq!(result, Err(TileError::Cancelled));
        assert_eq!(hooks.steps.len(), 2, "no tile ran after the cancel");
        assert_eq!(planes, copy);
    }

    #[test]
    fn wrong_input_sizes_are_named() {
        let device = Device::flex();
        let model = ConvNet::new(&device, usize::MAX);
        let options = TileOptions { tile: 32, overlap: 8, batch: 1 };
        let err = pollster::block_on(run_tiled(&model, &device, &[0.0; 10], Size::square(4), options, &mut NoHooks)).unwrap_err();
        assert_eq!(err.to_string(), "input has 10 values: expected 3 x 4 x 4");
    }

    /// Three lanes whose batches finish last-in first-out: out of plan order.
    struct Shuffled {
        device: Device,
        queued: Vec<(usize, Size, usize, Vec<f32>)>,
    }

    impl TileLanes<ConvNet> for Shuffled {
        fn lanes(&self) -> usize {
            3
        }
        fn submit(&mut self, _: &ConvNet, job: usize, shape: Size, count: usize, input: Vec<f32>) {
            self.queued.push((job, shape, count, input));
        }
        async fn next(&mut self, model: &ConvNet) -> (usize, Result<Vec<Vec<f32>>, String>) {
            let (job, shape, count, input) = self.queued.pop().unwrap();
            (job, forward_tiles(model, &(), &self.device, shape, count, input).await)
        }
    }

    #[test]
    fn lanes_finishing_out_of_order_give_the_same_bits_and_progress() {
        let device = Device::flex();
        let (h, w) = (70, 93);
        let planes = image(h, w);
        let image = Size { height: h, width: w };
        for (tile, max_width, batch) in [(32, usize::MAX, 1), (32, usize::MAX, 2), (64, 40, 1)] {
            let mut model = ConvNet::new(&device, usize::MAX);
            model.max_width = max_width; // 40: every 64-pixel tile fails and is halved
            let options = TileOptions { tile, overlap: 8, batch };
            let mut one = Record::default();
            let expected = pollster::block_on(run_tiled(&model, &device, &planes, image, options, &mut one)).unwrap();
            let mut lanes = Shuffled { device: device.clone(), queued: Vec::new() };
            let mut three = Record::default();
            let got = pollster::block_on(run_tiled_on(&model, &mut lanes, &planes, image, options, &mut three)).unwrap();
            assert!(got == expected, "max width {max_width}, batch {batch}: the bits differ");
            assert_eq!(three.steps, one.steps, "the same progress, in plan order");
            assert!(three.steps.len() > 2);
        }
    }
}
