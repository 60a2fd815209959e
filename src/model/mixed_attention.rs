//! [`MixedAttention`]: window attention and anchored stripe attention side by side on the two
//! halves of a shared QKV projection (reference `MixedAttention` in
//! `mixed_attn_block_efficient.py`).

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor};

use super::intermediates::{Probe, record_map};
use super::kernels;
use super::projection::{AnchorProjection, AnchorProjectionConfig, QkvProjection, QkvProjectionConfig};
use super::settings::AnchorPooling;
use super::stripe_attention::{AnchorStripeAttention, AnchorStripeAttentionConfig};
use super::tables::{StripeOrientation, TableIndexMask};
use super::window_attention::{WindowAttention, WindowAttentionConfig};
use crate::Size;

/// Configuration of a [`MixedAttention`].
#[derive(Config, Debug)]
pub struct MixedAttentionConfig {
    /// Feature width C; each branch works on C / 2 channels.
    pub dim: usize,
    /// Heads of the window branch.
    pub num_heads_window: usize,
    /// Heads of the stripe branch.
    pub num_heads_stripe: usize,
    /// Anchor down factor df.
    pub anchor_window_down_factor: usize,
    /// Whether windows are shifted by half a window. Default: false.
    #[config(default = false)]
    pub window_shift: bool,
    /// Stripe orientation. Default: StripeOrientation::Horizontal.
    #[config(default = "StripeOrientation::Horizontal")]
    pub stripe_orientation: StripeOrientation,
    /// Whether stripes are shifted by half a stripe. Default: false.
    #[config(default = false)]
    pub stripe_shift: bool,
    /// Whether the QKV projection has a bias. Default: true.
    #[config(default = true)]
    pub qkv_bias: bool,
    /// Anchor pooling. Default: AnchorPooling::Avg.
    #[config(default = "AnchorPooling::Avg")]
    pub anchor_pooling: AnchorPooling,
}

/// Mixed window + anchored-stripe attention with a shared input and output projection.
#[derive(Module, Debug)]
pub struct MixedAttention {
    /// Linear(C, 3C); the first half feeds the window branch, the second the stripe branch.
    pub qkv: QkvProjection,
    /// Anchors for the stripe branch.
    pub anchor: AnchorProjection,
    /// Window branch.
    pub window_attn: WindowAttention,
    /// Stripe branch.
    pub stripe_attn: AnchorStripeAttention,
    /// Linear(C, C) over the concatenated branch outputs.
    pub proj: Linear,
}

impl MixedAttentionConfig {
    /// Initializes a [`MixedAttention`].
    pub fn init(&self, device: &Device) -> MixedAttention {
        MixedAttention {
            qkv: QkvProjectionConfig::new(self.dim).with_bias(self.qkv_bias).init(device),
            anchor: AnchorProjectionConfig::new(self.dim, self.anchor_window_down_factor)
                .with_pooling(self.anchor_pooling)
                .init(device),
            window_attn: WindowAttentionConfig::new(self.num_heads_window).with_shift(self.window_shift).init(device),
            stripe_attn: AnchorStripeAttentionConfig::new(self.num_heads_stripe)
                .with_orientation(self.stripe_orientation)
                .with_shift(self.stripe_shift)
                .init(device),
            proj: LinearConfig::new(self.dim, self.dim).init(device),
        }
    }
}

impl MixedAttention {
    /// Mixed attention over a token map; records `anchor` (`[B, H / df, W / df, C / 2]`). On the
    /// fused CPU kernels this is [`MixedAttention::forward_cpu`]
    /// (`super::cpu_mixed_attention`), on the WGSL kernel [`MixedAttention::forward_gpu`]
    /// (`super::gpu_mixed_attention`); below is their plain-ops twin.
    ///
    /// # Shapes
    ///
    /// - x: `[B, H * W, C]`
    /// - size: `H x W`, the padded size `tables` was built for
    /// - output: `[B, H * W, C]`
    pub fn forward(
        &self,
        x: Tensor<3>,
        size: Size,
        tables: &TableIndexMask,
        mut probe: Option<Probe<'_>>,
    ) -> Tensor<3> {
        if kernels::fused_cpu(&x.device()) {
            return self.forward_cpu(x, size, tables, probe);
        }
        if kernels::fused_gpu(&x.device())
            && let Some(out) = self.forward_gpu(&x, size, tables, &mut probe)
        {
            return out;
        }
        let [b, l, c] = x.dims();
        let qkv = self.qkv.forward(x.clone());
        let half = 3 * c / 2;
        let qkv_window = qkv.clone().slice_dim(2, 0..half);
        let qkv_stripe = qkv.slice_dim(2, half..2 * half);
        let anchor = self.anchor.forward(x, size);
        record_map(&mut probe, "anchor", &anchor);

        let x_window = self.window_attn.forward(qkv_window, size, &tables.window);
        let stripe_tables = tables.stripe(self.stripe_attn.orientation);
        let x_stripe = self.stripe_attn.forward(qkv_stripe, anchor, size, stripe_tables);
        let out = self.proj.forward(Tensor::cat(vec![x_window, x_stripe], 2));
        debug_assert_eq!(out.dims(), [b, l, c]);
        out
    }
}

/// Mixed attention of 16 channels and 2 heads a branch in every combination of window shift,
/// stripe shift and stripe orientation: what the fused routes' twin tests run.
#[cfg(all(test, not(target_arch = "wasm32")))]
pub(crate) fn every_variant(device: &Device) -> Vec<MixedAttention> {
    let orientations = [StripeOrientation::Horizontal, StripeOrientation::Vertical];
    let shifts = [(false, false), (true, false), (false, true), (true, true)];
    orientations
        .into_iter()
        .flat_map(|orientation| shifts.map(|shift| (orientation, shift)))
        .map(|(orientation, (window_shift, stripe_shift))| {
            MixedAttentionConfig::new(16, 2, 2, 2)
                .with_window_shift(window_shift)
                .with_stripe_orientation(orientation)
                .with_stripe_shift(stripe_shift)
                .init(device)
        })
        .collect()
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::model::intermediates::Intermediates;
    use burn::tensor::Distribution;

    #[test]
    fn forward_shape_and_anchor_record() {
        let device = Device::flex();
        let (_, tables) = crate::model::tables::small_test_tables(&device);
        let attn = MixedAttentionConfig::new(16, 2, 2, 2)
            .with_window_shift(true)
            .with_stripe_orientation(StripeOrientation::Vertical)
            .with_stripe_shift(true)
            .init(&device);
        let x = Tensor::<3>::random([1, 128, 16], Distribution::Normal(0.0, 1.0), &device);
        let mut sink = Intermediates::default();
        let out = attn.forward(x, tables.input_size, &tables, Some(Probe::new(&mut sink)));
        assert_eq!(out.dims(), [1, 128, 16]);
        assert_eq!(sink.get("anchor").unwrap().dims(), vec![1, 4, 8, 8]);
    }
}
