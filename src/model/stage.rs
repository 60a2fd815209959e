//! [`TransformerStage`]: a residual group of blocks closed by a 3x3 convolution (reference
//! `TransformerStage` in `grl.py`, key `layers.i`).

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::tensor::{Device, Tensor};

use super::block::{Block, BlockConfig};
use super::conv::conv3x3;
use super::cpu_conv::conv2d_tokens;
use super::intermediates::{Probe, child, record_tokens};
use super::tables::TableIndexMask;
use crate::Size;

/// Configuration of a [`TransformerStage`].
#[derive(Config, Debug)]
pub struct TransformerStageConfig {
    /// Number of blocks.
    pub depth: usize,
    /// Block settings; shifts and orientation are set per block index.
    pub block: BlockConfig,
    /// Whether stripe shifting is enabled (blocks 2 and 3 of every 4). Default: true.
    #[config(default = true)]
    pub stripe_shift: bool,
}

/// `x + conv(blocks(x))`.
#[derive(Module, Debug)]
pub struct TransformerStage {
    /// The blocks.
    pub blocks: Vec<Block>,
    /// Conv 3x3, C -> C, padding 1.
    pub conv: Conv2d,
}

impl TransformerStageConfig {
    /// Initializes a [`TransformerStage`].
    pub fn init(&self, device: &Device) -> TransformerStage {
        let dim = self.block.dim();
        TransformerStage {
            blocks: (0..self.depth).map(|i| self.block.clone().for_index(i, self.stripe_shift).init(device)).collect(),
            conv: conv3x3(dim, dim, device),
        }
    }
}

impl TransformerStage {
    /// Records every block output (`blocks.j`) and its sub-intermediates.
    ///
    /// # Shapes
    ///
    /// - x: `[B, H * W, C]`
    /// - size: `H x W`
    /// - output: `[B, H * W, C]`
    pub fn forward(
        &self,
        x: Tensor<3>,
        size: Size,
        tables: &TableIndexMask,
        mut probe: Option<Probe<'_>>,
    ) -> Tensor<3> {
        let mut res = x.clone();
        for (j, block) in self.blocks.iter().enumerate() {
            let name = probe.as_ref().map(|_| format!("blocks.{j}"));
            let name = name.as_deref().unwrap_or("");
            res = block.forward(res, size, tables, child(&mut probe, name));
            record_tokens(&mut probe, name, &res);
        }
        conv2d_tokens(&self.conv, res, size) + x
    }
}
