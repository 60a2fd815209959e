//! The reconstruction tail of [`Grl`] (everything after the long skip), run in horizontal
//! bands of the feature map.
//!
//! At x4 the tail's maps are the largest of a forward: a 256-channel convolution at twice the
//! input's side and a 64-channel map at four times it (128 MiB for a 128x128 input, against
//! about 100 MiB for the whole transformer body). The tail is only convolutions and
//! point-wise steps, so a band of output rows depends on a band of input rows widened by a
//! few rows (its halo): each band runs on its rows plus [`HALO`] rows on either side, and
//! keeps its own rows of the output. The result is the whole-map tail's, while only one band's
//! maps exist at a time (a bounded [`TAIL_BAND_BYTES`]), which also keeps each map under
//! WebGPU's default binding size on large tiles.

use burn::nn::conv::Conv2d;
use burn::tensor::Tensor;
use burn::tensor::activation::leaky_relu;
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};

use super::config::GrlConfig;
use super::cpu_conv::conv2d;
use super::grl::{Grl, NUM_OUT_FEATS};
use super::settings::Upsampler;

/// Negative slope of the LeakyReLU after `conv_before_upsample` (PyTorch's default).
const LRELU_SLOPE_BEFORE_UPSAMPLE: f64 = 0.01;

/// Negative slope of the LeakyReLUs of the `nearest+conv` tail.
const LRELU_SLOPE_NEAREST: f64 = 0.2;

/// Input rows a band reads beyond its own on each side. A 3x3 convolution's zero padding at a
/// cut spoils one row of its output, one input row's worth at input resolution, half of one
/// after an x2 step, and so on: the deepest tail (`pixelshuffle` x4: two convolutions at the
/// input's resolution, one at x2, one at x4) spoils 1 + 1 + 1/2 + 1/4 < 3 input rows, and
/// every other tail less.
pub const HALO: usize = 3;

/// The most bytes of high-resolution maps one band holds (upsampled features and the
/// convolution after them, f32): 8 MiB each, a GRL-S token map's size at 128x128, so that on
/// a GPU the tail's maps do not enlarge the pool's pages (which follow the largest
/// allocation).
pub const TAIL_BAND_BYTES: u64 = 16 << 20;

/// The fewest rows of a band (unless the map has fewer): below it the halos' recomputation
/// would cost more than the memory saved is worth.
pub const MIN_BAND_ROWS: usize = 8;

impl GrlConfig {
    /// Bytes of the tail's high-resolution maps per input row of a `[batch, C, H, width]`
    /// feature map, f32: the last upsampling step's convolution output and its shuffled (or
    /// convolved) copy, 64 channels at the output's resolution (the output's channels for
    /// `pixelshuffledirect`); zero for the `residual` tail, which stays at the input's
    /// resolution.
    pub fn tail_bytes_per_row(&self, batch: usize, width: usize) -> u64 {
        let channels = match self.upsampler {
            Upsampler::Residual => return 0,
            Upsampler::PixelShuffleDirect => self.out_channels(),
            Upsampler::PixelShuffle | Upsampler::NearestConv => NUM_OUT_FEATS,
        };
        let scale2 = (self.upscale * self.upscale) as u64;
        4 * (batch * width) as u64 * scale2 * channels as u64 * 2
    }

    /// Rows of the feature map each band of the tail owns, for a `[batch, C, height, width]`
    /// map: as many as fit [`TAIL_BAND_BYTES`] with their halos, at least [`MIN_BAND_ROWS`],
    /// at most `height` (one band: the whole map).
    pub fn tail_band_rows(&self, batch: usize, height: usize, width: usize) -> usize {
        let per_row = self.tail_bytes_per_row(batch, width);
        if per_row == 0 {
            return height.max(1);
        }
        let fit = (TAIL_BAND_BYTES / per_row) as usize;
        fit.saturating_sub(2 * HALO).max(MIN_BAND_ROWS).min(height).max(1)
    }

    /// Input rows of the widest band, halos included (what the memory model counts).
    pub fn tail_band_span(&self, batch: usize, height: usize, width: usize) -> usize {
        let rows = self.tail_band_rows(batch, height, width);
        if rows >= height { height } else { (rows + 2 * HALO).min(height) }
    }
}

impl Grl {
    /// The tail on the features after the long skip, band by band.
    ///
    /// # Shapes
    ///
    /// - features: `[B, C, H, W]`
    /// - x: `[B, in_channels, H, W]` (the normalised input, for the `residual` tail's skip)
    /// - output: `[B, out_channels, H * upscale, W * upscale]`
    pub(super) fn tail(&self, features: Tensor<4>, x: Tensor<4>) -> Tensor<4> {
        let [b, _, h, w] = features.dims();
        self.tail_in_bands(features, x, self.config.tail_band_rows(b, h, w))
    }

    /// [`Grl::tail`] with bands of `rows` rows (`rows >= h`: the whole map at once).
    pub(super) fn tail_in_bands(&self, features: Tensor<4>, x: Tensor<4>, rows: usize) -> Tensor<4> {
        let [_, _, h, _] = features.dims();
        if rows >= h {
            return self.tail_whole(features, x);
        }
        let scale = self.config.upscale;
        let bands: Vec<Tensor<4>> = (0..h)
            .step_by(rows.max(1))
            .map(|start| {
                let end = (start + rows).min(h);
                let (lo, hi) = (start.saturating_sub(HALO), (end + HALO).min(h));
                let band = features.clone().slice_dim(2, lo..hi);
                let band_x = x.clone().slice_dim(2, lo..hi);
                self.tail_whole(band, band_x).slice_dim(2, (start - lo) * scale..(end - lo) * scale)
            })
            .collect();
        Tensor::cat(bands, 2)
    }

    /// The tail on the whole map at once (reference `GRL.forward` after `forward_features`).
    fn tail_whole(&self, features: Tensor<4>, x: Tensor<4>) -> Tensor<4> {
        match self.config.upsampler {
            Upsampler::PixelShuffle => {
                let x = leaky_relu(conv2d(conv(&self.conv_before_upsample), features), LRELU_SLOPE_BEFORE_UPSAMPLE);
                let x = self.upsample.as_ref().expect("built with pixelshuffle").forward(x);
                conv2d(conv(&self.conv_last), x)
            }
            Upsampler::PixelShuffleDirect => {
                self.upsample.as_ref().expect("built with pixelshuffledirect").forward(features)
            }
            Upsampler::NearestConv => self.nearest_conv_tail(features),
            Upsampler::Residual => {
                let residual = conv2d(conv(&self.conv_last), features);
                let config = &self.config;
                if config.in_channels == config.out_channels() { x + residual } else { residual }
            }
        }
    }

    /// The `nearest+conv` tail: two nearest x2 steps with convolutions.
    fn nearest_conv_tail(&self, x: Tensor<4>) -> Tensor<4> {
        let x = leaky_relu(conv2d(conv(&self.conv_before_upsample), x), LRELU_SLOPE_BEFORE_UPSAMPLE);
        let x = leaky_relu(conv2d(conv(&self.conv_up1), nearest_2x(x)), LRELU_SLOPE_NEAREST);
        let x = leaky_relu(conv2d(conv(&self.conv_up2), nearest_2x(x)), LRELU_SLOPE_NEAREST);
        conv2d(conv(&self.conv_last), leaky_relu(conv2d(conv(&self.conv_hr), x), LRELU_SLOPE_NEAREST))
    }
}

/// Nearest-neighbour x2 upsampling (`F.interpolate(x, scale_factor=2, mode="nearest")`:
/// output pixel (i, j) copies input pixel (i / 2, j / 2)).
///
/// # Shapes
///
/// - x: `[B, C, H, W]`
/// - output: `[B, C, 2H, 2W]`
fn nearest_2x(x: Tensor<4>) -> Tensor<4> {
    interpolate(x, InterpolateOptions::new(InterpolateMode::Nearest).with_scale_factor([2.0, 2.0]))
}

/// An optional tail convolution that the configured upsampler always builds.
fn conv(conv: &Option<Conv2d>) -> &Conv2d {
    conv.as_ref().expect("tail convolution built for this upsampler")
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::model::grl::tests::tiny;
    use burn::tensor::{Device, Distribution, TensorData};

    #[test]
    fn nearest_2x_copies_pixels() {
        let device = Device::flex();
        let x = Tensor::<4>::from_data(TensorData::new(vec![1.0f32, 2.0, 3.0, 4.0], [1, 1, 2, 2]), &device);
        let y = nearest_2x(x).into_data().try_to_vec::<f32>().unwrap();
        #[rustfmt::skip]
        assert_eq!(y, vec![
            1.0, 1.0, 2.0, 2.0,
            1.0, 1.0, 2.0, 2.0,
            3.0, 3.0, 4.0, 4.0,
            3.0, 3.0, 4.0, 4.0,
        ]);
    }

    /// Every tail in bands of 1 to 7 rows (uneven last bands included) against the whole map.
    #[test]
    fn bands_give_the_whole_maps_tail() {
        let device = Device::flex();
        for (upsampler, scale) in [
            (Upsampler::PixelShuffle, 4),
            (Upsampler::PixelShuffle, 3),
            (Upsampler::PixelShuffle, 8),
            (Upsampler::PixelShuffleDirect, 4),
            (Upsampler::NearestConv, 4),
            (Upsampler::Residual, 1),
        ] {
            let model = tiny(upsampler, scale, 3).init(&device);
            let features = Tensor::<4>::random([2, 16, 13, 9], Distribution::Normal(0.0, 1.0), &device);
            let x = Tensor::<4>::random([2, 3, 13, 9], Distribution::Normal(0.0, 1.0), &device);
            let whole = model.tail_whole(features.clone(), x.clone());
            for rows in [1, 2, 5, 7] {
                let banded = model.tail_in_bands(features.clone(), x.clone(), rows);
                assert_eq!(banded.dims(), whole.dims());
                let diff = (banded - whole.clone()).abs().max().into_scalar::<f32>();
                assert!(diff < 1e-5, "{upsampler:?} x{scale}, bands of {rows}: max difference {diff}");
            }
        }
    }

    /// A halo one row short of [`HALO`] changes the deepest tail's output: the halo is needed.
    #[test]
    fn a_narrower_halo_would_not_do() {
        let device = Device::flex();
        let model = tiny(Upsampler::PixelShuffle, 4, 3).init(&device);
        let features = Tensor::<4>::random([1, 16, 12, 6], Distribution::Normal(0.0, 1.0), &device);
        let whole = model.tail_whole(features.clone(), features.clone());
        let (start, end) = (4, 8);
        let (lo, hi) = (start - (HALO - 1), end + HALO - 1);
        let band = model.tail_whole(features.clone().slice_dim(2, lo..hi), features.slice_dim(2, lo..hi));
        let band = band.slice_dim(2, (start - lo) * 4..(end - lo) * 4);
        let diff = (band - whole.slice_dim(2, start * 4..end * 4)).abs().max().into_scalar::<f32>();
        assert!(diff > 1e-4, "max difference {diff}");
    }

    #[test]
    fn band_rows_follow_the_budget() {
        let config = GrlConfig { upscale: 4, upsampler: Upsampler::PixelShuffle, ..GrlConfig::default() };
        // 128 wide at x4: 1 MiB of maps per row; 16 MiB hold 16 rows, 10 with the halos.
        assert_eq!(config.tail_bytes_per_row(1, 128), 1 << 20);
        assert_eq!(config.tail_band_rows(1, 128, 128), 10);
        assert_eq!(config.tail_band_span(1, 128, 128), 16);
        // Small maps run whole; wide ones keep the minimum rows.
        assert_eq!(config.tail_band_rows(1, 10, 128), 10);
        assert_eq!(config.tail_band_span(1, 10, 128), 10);
        assert_eq!(config.tail_band_rows(4, 512, 512), MIN_BAND_ROWS);
        // The direct tail's maps have the output's channels; the residual tail never bands.
        let direct = GrlConfig { upsampler: Upsampler::PixelShuffleDirect, ..config.clone() };
        assert_eq!(direct.tail_bytes_per_row(1, 128), 3 * (1 << 20) / 64);
        let residual = GrlConfig { upscale: 1, upsampler: Upsampler::Residual, ..GrlConfig::default() };
        assert_eq!(residual.tail_band_rows(1, 512, 512), 512);
    }
}
