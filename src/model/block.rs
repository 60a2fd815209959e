//! [`Block`]: one transformer block, res-post-norm (reference
//! `EfficientMixAttnTransformerBlock`).

use burn::config::Config;
use burn::module::Module;
use burn::nn::{LayerNorm, LayerNormConfig};
use burn::tensor::{Device, Tensor};

use super::cab::{Cab, CabConfig};
use super::intermediates::{Probe, child, record_tokens};
use super::mixed_attention::{MixedAttention, MixedAttentionConfig};
use super::mlp::{Mlp, MlpConfig};
use super::tables::{StripeOrientation, TableIndexMask};
use crate::Size;

/// Configuration of a [`Block`].
#[derive(Config, Debug)]
pub struct BlockConfig {
    /// The mixed attention: width, heads, anchors, and the shifts and orientation that
    /// [`BlockConfig::for_index`] sets per block.
    pub attn: MixedAttentionConfig,
    /// MLP hidden width.
    pub mlp_hidden_dim: usize,
    /// Whether the block has the CAB local branch. Default: false.
    #[config(default = false)]
    pub local_connection: bool,
    /// Scale of the attention and MLP residual branches (0.1 for `init_method = "r"`).
    /// Default: 1.0.
    #[config(default = 1.0)]
    pub res_scale: f64,
}

impl BlockConfig {
    /// The configuration of block `index` of a stage, following the reference's schedule:
    /// window shift on even blocks, horizontal stripes on even blocks and vertical ones on
    /// odd blocks, stripe shift (when `stripe_shift`) on blocks with `index % 4` in {2, 3}.
    pub fn for_index(mut self, index: usize, stripe_shift: bool) -> Self {
        let orientation = if index % 2 == 0 { StripeOrientation::Horizontal } else { StripeOrientation::Vertical };
        self.attn = self
            .attn
            .with_window_shift(index % 2 == 0)
            .with_stripe_orientation(orientation)
            .with_stripe_shift(stripe_shift && index % 4 >= 2);
        self
    }

    /// Feature width C.
    pub fn dim(&self) -> usize {
        self.attn.dim
    }

    /// Initializes a [`Block`].
    pub fn init(&self, device: &Device) -> Block {
        let dim = self.dim();
        Block {
            attn: self.attn.init(device),
            norm1: LayerNormConfig::new(dim).init(device),
            conv: self.local_connection.then(|| CabConfig::new(dim).init(device)),
            mlp: MlpConfig::new(dim, self.mlp_hidden_dim).init(device),
            norm2: LayerNormConfig::new(dim).init(device),
            res_scale: self.res_scale,
        }
    }
}

/// `x = x + s * norm1(attn(x)) [+ cab(x)]; x = x + s * norm2(mlp(x))`.
#[derive(Module, Debug)]
pub struct Block {
    /// Mixed window + stripe attention.
    pub attn: MixedAttention,
    /// LayerNorm after the attention (eps 1e-5).
    pub norm1: LayerNorm,
    /// Local CAB branch (reference key `conv`), on the block input, not normalised.
    pub conv: Option<Cab>,
    /// Feed-forward branch.
    pub mlp: Mlp,
    /// LayerNorm after the MLP.
    pub norm2: LayerNorm,
    /// Residual branch scale.
    pub res_scale: f64,
}

impl Block {
    /// Records `attn` (before norm1), `attn.anchor`, `conv` (CAB output) and `mlp` (before
    /// norm2).
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
        let attn = self.attn.forward(x.clone(), size, tables, child(&mut probe, "attn"));
        record_tokens(&mut probe, "attn", &attn);
        let local = self.conv.as_ref().map(|cab| cab.forward(x.clone(), size));
        let mut x = x + self.scaled(self.norm1.forward(attn));
        if let Some(local) = local {
            record_tokens(&mut probe, "conv", &local);
            x = x + local;
        }
        let mlp = self.mlp.forward(x.clone());
        record_tokens(&mut probe, "mlp", &mlp);
        x + self.scaled(self.norm2.forward(mlp))
    }

    fn scaled(&self, x: Tensor<3>) -> Tensor<3> {
        if self.res_scale == 1.0 { x } else { x * self.res_scale }
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    #[test]
    fn schedule_cycles_h_v_shifted_h_shifted_v() {
        let base = BlockConfig::new(MixedAttentionConfig::new(8, 1, 1, 2), 16);
        let got: Vec<_> = (0..4)
            .map(|i| {
                let c = base.clone().for_index(i, true).attn;
                (c.window_shift, c.stripe_orientation, c.stripe_shift)
            })
            .collect();
        use StripeOrientation::*;
        assert_eq!(
            got,
            vec![
                (true, Horizontal, false),
                (false, Vertical, false),
                (true, Horizontal, true),
                (false, Vertical, true)
            ]
        );
        assert!(!base.for_index(3, false).attn.stripe_shift);
    }

    #[test]
    fn forward_with_cab() {
        let device = Device::flex();
        let (_, tables) = crate::model::tables::small_test_tables(&device);
        let attn = MixedAttentionConfig::new(36, 2, 3, 2);
        let block = BlockConfig::new(attn, 72).with_local_connection(true).for_index(2, true).init(&device);
        let x = Tensor::<3>::random([1, 128, 36], Distribution::Normal(0.0, 1.0), &device);
        let out = block.forward(x, tables.input_size, &tables, None);
        assert_eq!(out.dims(), [1, 128, 36]);
        assert!(out.is_finite().all().into_scalar::<bool>());
    }
}
