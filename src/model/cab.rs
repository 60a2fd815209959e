//! [`Cab`]: the channel-attention convolution block of the local branch (GRL-B's
//! `local_connection`; reference `CAB` and `ChannelAttention` in `mixed_attn_block.py`).

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::activation::{relu, sigmoid};
use burn::tensor::{Device, Tensor};

use super::conv::conv3x3;
use super::cpu_conv::conv2d;
use super::cpu_gelu::gelu;
use crate::Size;

/// Configuration of a [`Cab`].
#[derive(Config, Debug)]
pub struct CabConfig {
    /// Feature width C.
    pub dim: usize,
    /// Width reduction of the convolutions, C / compress_ratio. Default: 4.
    #[config(default = 4)]
    pub compress_ratio: usize,
    /// Width reduction of the channel attention, C / reduction. Default: 18.
    #[config(default = 18)]
    pub reduction: usize,
}

/// Squeeze-and-excitation: global average pool, Conv1x1 C -> C / r, ReLU, Conv1x1 back,
/// sigmoid, multiplied in (reference keys `cab.3.attention.1` and `cab.3.attention.3`, here
/// `channel_attention.squeeze` and `channel_attention.excite`).
#[derive(Module, Debug)]
pub struct ChannelAttention {
    /// Conv 1x1, C -> C / reduction.
    pub squeeze: Conv2d,
    /// Conv 1x1, C / reduction -> C.
    pub excite: Conv2d,
}

/// Conv3x3 C -> C / 4, GELU, Conv3x3 back to C, channel attention (reference keys `cab.0`,
/// `cab.2`, `cab.3`, here `compress`, `expand`, `channel_attention`).
#[derive(Module, Debug)]
pub struct Cab {
    /// Conv 3x3, C -> C / compress_ratio.
    pub compress: Conv2d,
    /// Conv 3x3, C / compress_ratio -> C.
    pub expand: Conv2d,
    /// Channel attention.
    pub channel_attention: ChannelAttention,
}

impl CabConfig {
    /// Initializes a [`Cab`].
    pub fn init(&self, device: &Device) -> Cab {
        let (c, mid, squeezed) = (self.dim, self.dim / self.compress_ratio, self.dim / self.reduction);
        let conv1 = |i, o| Conv2dConfig::new([i, o], [1, 1]).init(device);
        Cab {
            compress: conv3x3(c, mid, device),
            expand: conv3x3(mid, c, device),
            channel_attention: ChannelAttention { squeeze: conv1(c, squeezed), excite: conv1(squeezed, c) },
        }
    }
}

impl ChannelAttention {
    /// Rescales each channel by its attention weight.
    ///
    /// # Shapes
    ///
    /// - x: `[B, C, H, W]`
    /// - output: `[B, C, H, W]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [b, c, h, w] = x.dims();
        let pooled = x.clone().reshape([b, c, h * w]).mean_dim(2).reshape([b, c, 1, 1]);
        let weights = sigmoid(self.excite.forward(relu(self.squeeze.forward(pooled))));
        x * weights
    }
}

impl Cab {
    /// The local branch on a token map.
    ///
    /// # Shapes
    ///
    /// - x: `[B, H * W, C]`
    /// - size: `H x W`
    /// - output: `[B, H * W, C]`
    pub fn forward(&self, x: Tensor<3>, size: Size) -> Tensor<3> {
        let [b, l, c] = x.dims();
        let map = x.swap_dims(1, 2).reshape([b, c, size.height, size.width]);
        let y = conv2d(&self.expand, gelu(conv2d(&self.compress, map)));
        self.channel_attention.forward(y).reshape([b, c, l]).swap_dims(1, 2)
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use burn::tensor::{Distribution, Tolerance};

    #[test]
    fn shapes_and_channel_attention_bounds() {
        let device = Device::flex();
        let cab = CabConfig::new(36).init(&device);
        assert_eq!(cab.compress.weight.dims(), [9, 36, 3, 3]);
        assert_eq!(cab.channel_attention.squeeze.weight.dims(), [2, 36, 1, 1]);
        let x = Tensor::<3>::random([2, 24, 36], Distribution::Normal(0.0, 1.0), &device);
        assert_eq!(cab.forward(x, Size { height: 4, width: 6 }).dims(), [2, 24, 36]);

        // The attention weights lie in (0, 1): |CA(x)| <= |x|.
        let map = Tensor::<4>::random([1, 36, 3, 3], Distribution::Normal(0.0, 1.0), &device);
        let out = cab.channel_attention.forward(map.clone());
        let excess = (out.abs() - map.abs()).clamp_min(0.0).max();
        excess
            .into_data()
            .assert_approx_eq::<f32>(&burn::tensor::TensorData::from([0.0f32]), Tolerance::absolute(1e-7));
    }
}
