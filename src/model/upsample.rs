//! [`Upsample`]: convolution + pixel-shuffle upsampling (reference `Upsample` and
//! `UpsampleOneStep` in `upsample.py`; key `upsample.up`).

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::nn::{PixelShuffle, PixelShuffleConfig};
use burn::tensor::{Device, Tensor};

use super::conv::conv3x3;
use super::cpu_conv::conv2d;
use super::cpu_shuffle::pixel_shuffle;

/// Configuration of an [`Upsample`].
#[derive(Config, Debug)]
pub struct UpsampleConfig {
    /// Total scale factor.
    pub scale: usize,
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// One convolution to `scale^2 * out` and one PixelShuffle(scale) (reference
    /// `UpsampleOneStep`, `pixelshuffledirect`); otherwise PixelShuffle(2) steps, or one
    /// PixelShuffle(3), keeping the channel count (reference `Upsample`). Default: false.
    #[config(default = false)]
    pub one_step: bool,
}

/// A chain of [Conv 3x3, PixelShuffle(factor)] steps. The reference keeps convolutions at
/// even positions of an `nn.Sequential` (`up.0`, `up.2`, ...); here they are `up.0`,
/// `up.1`, ... (the loader remaps).
#[derive(Module, Debug)]
pub struct Upsample {
    /// One conv per step.
    pub up: Vec<Conv2d>,
    /// The pixel shuffle of every step (no weights).
    pub shuffle: PixelShuffle,
}

impl UpsampleConfig {
    /// Initializes an [`Upsample`].
    ///
    /// # Panics
    ///
    /// If `one_step` is false and the scale is neither a power of two nor 3.
    pub fn init(&self, device: &Device) -> Upsample {
        let (steps, factor) = if self.one_step {
            (1, self.scale)
        } else if self.scale.is_power_of_two() {
            (self.scale.trailing_zeros() as usize, 2)
        } else if self.scale == 3 {
            (1, 3)
        } else {
            panic!("scale {} is not supported: expected 2^n or 3", self.scale)
        };
        let up = (0..steps)
            .map(|i| {
                let last = i + 1 == steps;
                let out = if self.one_step || last { self.out_channels } else { self.in_channels };
                let input = if i == 0 { self.in_channels } else { out };
                conv3x3(input, out * factor * factor, device)
            })
            .collect();
        Upsample { up, shuffle: PixelShuffleConfig::new(factor).init() }
    }
}

impl Upsample {
    /// # Shapes
    ///
    /// - x: `[B, C_in, H, W]`
    /// - output: `[B, C_out, H * scale, W * scale]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let factor = self.shuffle.upscale_factor;
        self.up.iter().fold(x, |x, conv| pixel_shuffle(conv2d(conv, x), factor))
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    #[test]
    fn pixel_shuffle_matches_torch() {
        let device = Device::flex();
        // torch.nn.PixelShuffle(2)(torch.arange(8.).view(1, 4, 1, 2)).flatten()
        //   == [0, 2, 1, 3, 4, 6, 5, 7]
        let x = Tensor::<4>::from_data(
            TensorData::new((0..8).map(|i| i as f32).collect::<Vec<_>>(), [1, 4, 1, 2]),
            &device,
        );
        let y = PixelShuffleConfig::new(2).init().forward(x);
        assert_eq!(y.dims(), [1, 1, 2, 4]);
        assert_eq!(y.into_data().try_to_vec::<f32>().unwrap(), vec![0.0, 2.0, 1.0, 3.0, 4.0, 6.0, 5.0, 7.0]);
    }

    #[test]
    fn step_layouts() {
        let device = Device::flex();
        // pixelshuffle x4: two steps 64 -> 256 with the channel count kept.
        let up = UpsampleConfig::new(4, 64, 64).init(&device);
        assert_eq!(up.up.len(), 2);
        assert_eq!(up.up[1].weight.dims(), [256, 64, 3, 3]);
        // pixelshuffle x3: one conv 64 -> 576.
        let up = UpsampleConfig::new(3, 64, 64).init(&device);
        assert_eq!((up.up.len(), up.shuffle.upscale_factor, up.up[0].weight.dims()[0]), (1, 3, 576));
        // pixelshuffledirect x3 from 32 channels to RGB: one conv 32 -> 27.
        let up = UpsampleConfig::new(3, 32, 3).with_one_step(true).init(&device);
        assert_eq!(up.up[0].weight.dims(), [27, 32, 3, 3]);
        let y = up.forward(Tensor::zeros([1, 32, 5, 7], &device));
        assert_eq!(y.dims(), [1, 3, 15, 21]);
    }
}
