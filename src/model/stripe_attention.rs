//! [`AnchorStripeAttention`]: anchored stripe self-attention (reference
//! `AnchorStripeAttention` in `mixed_attn_block_efficient.py`).

use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Device, Tensor};

use super::affine_transform::{AffineTransform, AffineTransformConfig};
use super::kernels;
use super::tables::{StripeOrientation, StripeTables};
use super::window_attention::{merge_heads, roll_spatial, split_heads, split_qkv, window_partition, window_reverse};
use crate::Size;

/// Configuration of an [`AnchorStripeAttention`].
#[derive(Config, Debug)]
pub struct AnchorStripeAttentionConfig {
    /// Attention heads.
    pub num_heads: usize,
    /// Which stripe tables the block uses: horizontal `(s0, s1)` or vertical `(s1, s0)`.
    /// Default: StripeOrientation::Horizontal.
    #[config(default = "StripeOrientation::Horizontal")]
    pub orientation: StripeOrientation,
    /// Whether stripes (and anchor stripes) are cyclically shifted by half a stripe.
    /// Default: false.
    #[config(default = false)]
    pub shift: bool,
}

/// Attention through anchors: the stripe's tokens attend to the anchors of the same stripe
/// (a `df`-times average-pooled projection of the block input), which first attended to the
/// stripe's tokens. Cost is linear in the stripe length times the anchor count.
///
/// `Z = Attn(anchor, k, v)` with `attn_transform1`, then `Y = Attn(q, anchor, Z)` with
/// `attn_transform2`; both share the stripe coordinate table.
#[derive(Module, Debug)]
pub struct AnchorStripeAttention {
    /// Anchor-to-stripe attention transform.
    pub attn_transform1: AffineTransform,
    /// Stripe-to-anchor attention transform.
    pub attn_transform2: AffineTransform,
    /// Attention heads.
    pub num_heads: usize,
    /// Stripe orientation.
    #[module(skip)]
    pub orientation: StripeOrientation,
    /// Whether the stripes are shifted.
    pub shift: bool,
}

impl AnchorStripeAttentionConfig {
    /// Initializes an [`AnchorStripeAttention`].
    pub fn init(&self, device: &Device) -> AnchorStripeAttention {
        AnchorStripeAttention {
            attn_transform1: AffineTransformConfig::new(self.num_heads).init(device),
            attn_transform2: AffineTransformConfig::new(self.num_heads).init(device),
            num_heads: self.num_heads,
            orientation: self.orientation,
            shift: self.shift,
        }
    }
}

impl AnchorStripeAttention {
    /// Attends within stripes through their anchors: on the WGSL kernel where it applies
    /// ([`AnchorStripeAttention::forward_gpu`]), else (below) on Burn's ops.
    ///
    /// # Shapes
    ///
    /// - qkv: `[B, H * W, 3 * c]` (packed `(3, heads, head_dim)`)
    /// - anchor: `[B, H / df, W / df, c]`
    /// - size: `H x W`
    /// - output: `[B, H * W, c]`
    pub fn forward(&self, qkv: Tensor<3>, anchor: Tensor<4>, size: Size, tables: &StripeTables) -> Tensor<3> {
        if kernels::fused_gpu(&qkv.device())
            && let Some(out) = self.forward_gpu(&qkv, anchor.clone(), size, tables)
        {
            return out;
        }
        let [b, l, c3] = qkv.dims();
        let stripe = tables.geometry.size;
        let signed = |s: [usize; 2], sign: i64| if self.shift { s.map(|v| sign * v as i64) } else { [0, 0] };
        let x = roll_spatial(qkv.reshape([b, size.height, size.width, c3]), signed(tables.geometry.shift, -1));
        let anchor = roll_spatial(anchor, signed(tables.anchor_shift, -1));

        let [q, k, v] = split_qkv(window_partition(x, stripe), self.num_heads);
        let anchor = split_heads(window_partition(anchor, tables.anchor_size), self.num_heads);
        let (mask_a2w, mask_w2a) = match self.shift {
            true => (Some(&tables.mask_a2w), Some(&tables.mask_w2a)),
            false => (None, None),
        };
        let bias1 = self.attn_transform1.cached_bias_per_entry(&tables.table);
        let bias2 = self.attn_transform2.cached_bias_per_entry(&tables.table);
        let z = self.attn_transform1.forward(anchor.clone(), k, v, bias1, &tables.index_a2w, mask_a2w);
        let y = self.attn_transform2.forward(q, anchor, z, bias2, &tables.index_w2a, mask_w2a);

        let x = window_reverse(merge_heads(y), stripe, size);
        roll_spatial(x, signed(tables.geometry.shift, 1)).reshape([b, l, c3 / 3])
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    #[test]
    fn forward_shapes_for_both_orientations_and_shifts() {
        let device = Device::flex();
        let (_, tables) = crate::model::tables::small_test_tables(&device);
        let qkv = Tensor::<3>::random([2, 128, 12], Distribution::Normal(0.0, 1.0), &device);
        let anchor = Tensor::<4>::random([2, 4, 8, 4], Distribution::Normal(0.0, 1.0), &device);
        for orientation in [StripeOrientation::Horizontal, StripeOrientation::Vertical] {
            for shift in [false, true] {
                let attn =
                    AnchorStripeAttentionConfig::new(2).with_orientation(orientation).with_shift(shift).init(&device);
                let out = attn.forward(qkv.clone(), anchor.clone(), tables.input_size, tables.stripe(orientation));
                assert_eq!(out.dims(), [2, 128, 4]);
                assert!(out.is_finite().all().into_scalar::<bool>());
            }
        }
    }

    /// Unshifted horizontal and shifted vertical stripes against values computed from GRL.md's
    /// equations.
    #[test]
    fn forward_matches_the_fixture() {
        use crate::model::attention_fixture as fixture;
        let device = Device::flex();
        let (_, tables) = crate::model::tables::small_test_tables(&device);
        let (qkv, anchor) = (fixture::qkv(&device), fixture::anchor(&device));
        for (orientation, shift, name) in
            [(StripeOrientation::Horizontal, false, "stripe_h"), (StripeOrientation::Vertical, true, "stripe_v_shifted")]
        {
            let attn = AnchorStripeAttention {
                attn_transform1: fixture::transform(20, &device),
                attn_transform2: fixture::transform(30, &device),
                num_heads: fixture::HEADS,
                orientation,
                shift,
            };
            let out = attn.forward(qkv.clone(), anchor.clone(), fixture::SIZE, tables.stripe(orientation));
            fixture::assert_matches(out, name);
        }
    }
}
