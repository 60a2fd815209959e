//! Tests of [`super`] (run.rs).

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
