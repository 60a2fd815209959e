//! Input projections of the mixed attention: [`QkvProjection`] and [`AnchorProjection`].

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::module::{avg_pool2d, linear, max_pool2d};
use burn::tensor::ops::{AvgPoolOptions, MaxPoolOptions};
use burn::tensor::{Device, Tensor, TensorData};

use super::cpu_linear::{Activation, linear_slice};
use super::cpu_pool::pool_tokens;
use super::cpu_values::with_values;
use super::kernels;
use super::settings::AnchorPooling;
use crate::Size;

/// Configuration of a [`QkvProjection`].
#[derive(Config, Debug)]
pub struct QkvProjectionConfig {
    /// Feature width C.
    pub dim: usize,
    /// Whether the projection has a bias. Default: true.
    #[config(default = true)]
    pub bias: bool,
}

/// The shared linear QKV projection of both attention branches (reference `QKVProjection`
/// with `proj_type = "linear"`; key `attn.qkv.body`).
#[derive(Module, Debug)]
pub struct QkvProjection {
    /// Linear(C, 3C).
    pub body: Linear,
}

impl QkvProjectionConfig {
    /// Initializes a [`QkvProjection`].
    pub fn init(&self, device: &Device) -> QkvProjection {
        QkvProjection { body: LinearConfig::new(self.dim, 3 * self.dim).with_bias(self.bias).init(device) }
    }
}

impl QkvProjection {
    /// Projects tokens to packed q, k, v: the first `3C / 2` channels feed the window branch,
    /// the last `3C / 2` the stripe branch.
    ///
    /// # Shapes
    ///
    /// - x: `[B, L, C]`
    /// - output: `[B, L, 3C]`
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        self.body.forward(x)
    }

    /// One part of [`QkvProjection::forward`]: part `part` (0 q, 1 k, 2 v) of branch `branch`
    /// (0 the window branch, 1 the stripe branch), its channels `(3 * branch + part) * C / 2 ..`,
    /// so that a route need not hold all six parts at once.
    ///
    /// # Shapes
    ///
    /// - x: `[B, L, C]`
    /// - output: `[B, L, C / 2]`
    pub fn forward_part(&self, x: Tensor<3>, branch: usize, part: usize) -> Tensor<3> {
        let width = self.body.weight.dims()[1] / 6;
        let channels = (3 * branch + part) * width..(3 * branch + part + 1) * width;
        let weight = self.body.weight.val().slice_dim(1, channels.clone());
        let bias = self.body.bias.as_ref().map(|bias| bias.val().slice_dim(0, channels));
        linear(x, weight, bias)
    }
}

/// Configuration of an [`AnchorProjection`].
#[derive(Config, Debug)]
pub struct AnchorProjectionConfig {
    /// Feature width C; anchors have C / 2 channels.
    pub dim: usize,
    /// Down factor df (pooling kernel and stride).
    pub down_factor: usize,
    /// Pooling. Default: AnchorPooling::Avg.
    #[config(default = "AnchorPooling::Avg")]
    pub pooling: AnchorPooling,
}

/// One-stage anchor projection (reference `AnchorProjection` with a pooling `proj_type`):
/// its only stage is `body.0`, an [`AnchorLinear`].
#[derive(Module, Debug)]
pub struct AnchorProjection {
    /// The single pooling + linear stage.
    pub body: Vec<AnchorLinear>,
}

/// Pooling by df followed by Linear(C, C / 2) (reference `AnchorLinear`).
#[derive(Module, Debug)]
pub struct AnchorLinear {
    /// Linear(C, C / 2) with bias.
    pub reduction: Linear,
    /// Pooling kernel and stride.
    pub down_factor: usize,
    /// Pooling kind.
    #[module(skip)]
    pub pooling: AnchorPooling,
}

impl AnchorProjectionConfig {
    /// Initializes an [`AnchorProjection`].
    pub fn init(&self, device: &Device) -> AnchorProjection {
        AnchorProjection {
            body: vec![AnchorLinear {
                reduction: LinearConfig::new(self.dim, self.dim / 2).init(device),
                down_factor: self.down_factor,
                pooling: self.pooling,
            }],
        }
    }
}

impl AnchorProjection {
    /// Computes the anchors of a token map.
    ///
    /// # Shapes
    ///
    /// - x: `[B, H * W, C]`
    /// - size: `H x W`, multiples of df
    /// - output: `[B, H / df, W / df, C / 2]`
    pub fn forward(&self, x: Tensor<3>, size: Size) -> Tensor<4> {
        let stage = &self.body[0];
        let [b, _, c] = x.dims();
        let df = stage.down_factor;
        if kernels::fused_cpu(&x.device()) {
            // Pooled channels-last from the token map as it is, then the fused linear.
            let pooled = with_values(&x, |values| pool_tokens(values, b, size, c, df, stage.pooling));
            let anchors = linear_slice(&stage.reduction, &pooled, Activation::Identity);
            let [ha, wa] = [size.height / df, size.width / df];
            return Tensor::from_data(TensorData::new(anchors, [b, ha, wa, c / 2]), &x.device());
        }
        let map = x.swap_dims(1, 2).reshape([b, c, size.height, size.width]);
        let pooled = match stage.pooling {
            AnchorPooling::Avg => avg_pool2d(map, AvgPoolOptions::new([df, df])),
            AnchorPooling::Max => max_pool2d(map, MaxPoolOptions::new([df, df])),
        };
        let [ha, wa] = [size.height / df, size.width / df];
        let tokens = pooled.reshape([b, c, ha * wa]).swap_dims(1, 2);
        stage.reduction.forward(tokens).reshape([b, ha, wa, c / 2])
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    #[test]
    fn anchors_average_df_by_df_blocks() {
        let device = Device::flex();
        let mut anchor = AnchorProjectionConfig::new(2, 2).init(&device);
        // Identity-like reduction: keep channel 0 only.
        anchor.body[0].reduction.weight =
            burn::module::Param::from_tensor(Tensor::from_data(TensorData::new(vec![1.0f32, 0.0], [2, 1]), &device));
        anchor.body[0].reduction.bias = Some(burn::module::Param::from_tensor(Tensor::zeros([1], &device)));
        // Channel 0 holds h * 4 + w on a 4x4 map, channel 1 is noise.
        let values: Vec<f32> = (0..16).flat_map(|i| [i as f32, 99.0]).collect();
        let x = Tensor::<3>::from_data(TensorData::new(values, [1, 16, 2]), &device);
        let out = anchor.forward(x, Size::square(4));
        assert_eq!(out.dims(), [1, 2, 2, 1]);
        // Block (0, 0): mean of 0, 1, 4, 5 = 2.5; block (1, 1): mean of 10, 11, 14, 15 = 12.5.
        assert_eq!(out.into_data().try_to_vec::<f32>().unwrap(), vec![2.5, 4.5, 10.5, 12.5]);
    }

    /// The fused route (pooled channels-last, [`crate::model::cpu_pool`]) against its plain-ops
    /// twin, both poolings, a batch of two, a non-square map.
    #[test]
    fn fused_anchors_match_their_plain_ops_twin() {
        use crate::model::kernels::with_plain_ops;
        use burn::tensor::{Distribution, Tolerance};
        let device = Device::flex();
        let x = Tensor::<3>::random([2, 8 * 12, 6], Distribution::Normal(0.0, 1.0), &device);
        for pooling in [AnchorPooling::Avg, AnchorPooling::Max] {
            let anchor = AnchorProjectionConfig::new(6, 4).with_pooling(pooling).init(&device);
            let size = Size { height: 8, width: 12 };
            let fused = anchor.forward(x.clone(), size);
            let plain = with_plain_ops(|| anchor.forward(x.clone(), size));
            assert_eq!(fused.dims(), [2, 2, 3, 3]);
            fused.into_data().assert_approx_eq::<f32>(&plain.into_data(), Tolerance::rel_abs(1e-5, 1e-6));
        }
    }
}
