//! [`AffineTransform`]: the cosine-similarity attention core shared by every branch, with its
//! learned per-head temperature and continuous relative-position bias (reference
//! `AffineTransform` and `Attention.attn` in `mixed_attn_block_efficient.py`).

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::tensor::activation::sigmoid;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Device, Int, Tensor};

use super::chunks::map_in_chunks;
use super::cpu_linear::{Activation, linear};
use super::tables::{CoordTable, PositionIndex, ShiftMask};
use super::{cpu_attention, kernels};

/// Upper bound of the logit scale, `ln(1 / 0.01)`: the temperature is at most 100.
pub const MAX_LOGIT_SCALE: f64 = 4.605_170_185_988_091; // ln(100)

/// Magnitude of the relative-position bias: `16 * sigmoid(cpb_mlp(table))`.
pub const BIAS_MAGNITUDE: f64 = 16.0;

/// Table entries per pass of the bias MLP: its hidden features (`[entries, 512]`) stay at 4 MiB
/// however large the table, below a token map (a GPU pool's pages follow the largest
/// allocation it has served, for the rest of the process).
const ENTRIES_PER_PASS: usize = 2048;

/// Configuration of an [`AffineTransform`].
#[derive(Config, Debug)]
pub struct AffineTransformConfig {
    /// Attention heads.
    pub num_heads: usize,
    /// Hidden width of the bias MLP. Default: 512.
    #[config(default = 512)]
    pub cpb_hidden: usize,
    /// Initial logit scale, `ln(10)` in the reference. Default: 2.302585092994046.
    #[config(default = 2.302_585_092_994_046)]
    pub initial_logit_scale: f64,
}

/// The MLP mapping relative coordinates to per-head biases (reference `CPB_MLP`:
/// Linear(2, hidden) + ReLU + Linear(hidden, heads, no bias); reference keys `cpb_mlp.0`
/// and `cpb_mlp.2`, here `cpb_mlp.fc1` and `cpb_mlp.fc2`).
#[derive(Module, Debug)]
pub struct CpbMlp {
    /// Linear(2, hidden) with bias.
    pub fc1: Linear,
    /// Linear(hidden, heads) without bias.
    pub fc2: Linear,
}

/// Turns cosine similarities into attention logits and attends:
/// `softmax(cos(q, k) * exp(min(logit_scale, ln 100)) + 16 * sigmoid(cpb_mlp(table))[index]
/// + mask) @ v`.
#[derive(Module, Debug)]
pub struct AffineTransform {
    /// Per-head log temperature, `[heads, 1, 1]`.
    pub logit_scale: Param<Tensor<3>>,
    /// Relative-position bias MLP.
    pub cpb_mlp: CpbMlp,
}

impl AffineTransformConfig {
    /// Initializes an [`AffineTransform`] with the reference's initial values for the scale.
    pub fn init(&self, device: &Device) -> AffineTransform {
        let logit_scale =
            Initializer::Constant { value: self.initial_logit_scale }.init([self.num_heads, 1, 1], device);
        AffineTransform {
            logit_scale,
            cpb_mlp: CpbMlp {
                fc1: LinearConfig::new(2, self.cpb_hidden).init(device),
                fc2: LinearConfig::new(self.cpb_hidden, self.num_heads).with_bias(false).init(device),
            },
        }
    }
}

/// L2-normalises the last axis like `F.normalize(x, dim=-1)`: `x / max(|x|, 1e-12)`.
pub fn l2_normalize(x: Tensor<4>) -> Tensor<4> {
    let norm = x.clone().square().sum_dim(3).sqrt().clamp_min(1e-12);
    x / norm
}

impl AffineTransform {
    /// Number of heads.
    pub fn num_heads(&self) -> usize {
        self.logit_scale.dims()[0]
    }

    /// The per-head temperature `exp(min(logit_scale, ln 100))`.
    ///
    /// # Shapes
    ///
    /// - output: `[1, heads, 1, 1]`
    pub fn temperature(&self) -> Tensor<4> {
        let heads = self.num_heads();
        self.logit_scale.val().clamp_max(MAX_LOGIT_SCALE).exp().reshape([1, heads, 1, 1])
    }

    /// The relative-position bias `16 * sigmoid(cpb_mlp(table))` gathered by `index`.
    ///
    /// # Shapes
    ///
    /// - table: `[T, 2]` (flattened coordinate table)
    /// - index: `[n_q * n_k]`, values in `0..T`
    /// - output: `[heads, n_q, n_k]`
    pub fn bias(&self, table: Tensor<2>, index: Tensor<1, Int>, n_q: usize, n_k: usize) -> Tensor<3> {
        gather_bias(self.bias_per_entry(table), index, n_q, n_k)
    }

    /// [`AffineTransform::bias_per_entry`] of the table's coordinates, kept in its cache
    /// outside autodiff, so that the forwards sharing the table compute it once.
    ///
    /// # Shapes
    ///
    /// - table: `[T, 2]` coordinates
    /// - output: `[T, heads]`
    pub fn cached_bias_per_entry(&self, table: &CoordTable) -> Tensor<2> {
        let coords = &table.coords;
        if coords.device().is_autodiff() {
            return self.bias_per_entry(coords.clone());
        }
        table.biases.get_or_compute(self.cpb_mlp.fc2.weight.id, || self.bias_per_entry(coords.clone()))
    }

    /// The relative-position bias of every table entry, `16 * sigmoid(cpb_mlp(table))`.
    ///
    /// # Shapes
    ///
    /// - table: `[T, 2]`
    /// - output: `[T, heads]`
    pub fn bias_per_entry(&self, table: Tensor<2>) -> Tensor<2> {
        map_in_chunks(table, 0, ENTRIES_PER_PASS, |table| self.bias_of(table))
    }

    /// [`AffineTransform::bias_per_entry`] in one pass.
    fn bias_of(&self, table: Tensor<2>) -> Tensor<2> {
        let hidden = linear(&self.cpb_mlp.fc1, table, Activation::Relu);
        sigmoid(linear(&self.cpb_mlp.fc2, hidden, Activation::Identity)) * BIAS_MAGNITUDE
    }

    /// Cosine attention of `q` over `k`/`v` with this transform, window by window.
    ///
    /// The temperature is folded into the normalised queries. Runs on the fused CPU kernel where
    /// it applies ([`cpu_attention`] on flex), else on Burn's attention op ([`attend_plain`])
    /// with a unit scale and the gathered bias as its additive `attn_bias`. On wgpu and WebGPU
    /// the branches call the WGSL kernel themselves (`super::gpu_mixed_attention`), on operands
    /// read straight out of the projection.
    ///
    /// # Shapes
    ///
    /// - q: `[B * nW, heads, n_q, d]`, windows row-major within each image
    /// - k: `[B * nW, heads, n_k, d]`
    /// - v: `[B * nW, heads, n_k, d_v]`
    /// - per_entry: `[T, heads]` ([`AffineTransform::cached_bias_per_entry`] of the table);
    ///   index: `n_q x n_k` entries into it
    /// - output: `[B * nW, heads, n_q, d_v]`
    pub fn forward(
        &self,
        q: Tensor<4>,
        k: Tensor<4>,
        v: Tensor<4>,
        per_entry: Tensor<2>,
        index: &PositionIndex,
        mask: Option<&ShiftMask>,
    ) -> Tensor<4> {
        let [_, _, n_q, _] = q.dims();
        let n_k = k.dims()[2];
        let q = l2_normalize(q) * self.temperature();
        let k = l2_normalize(k);
        if kernels::fused_cpu(&q.device()) {
            return cpu_attention::attend(q, k, v, per_entry, index.values(), mask.map(ShiftMask::ids));
        }
        attend_plain(q, k, v, gather_bias(per_entry, index.tensor(), n_q, n_k), mask)
    }
}

/// The per-entry biases gathered by `index` into one bias per (head, query, key).
///
/// # Shapes
///
/// - per_entry: `[T, heads]`; index: `[n_q * n_k]`, values in `0..T`
/// - output: `[heads, n_q, n_k]`
fn gather_bias(per_entry: Tensor<2>, index: Tensor<1, Int>, n_q: usize, n_k: usize) -> Tensor<3> {
    let heads = per_entry.dims()[1];
    per_entry.select(0, index).reshape([n_q, n_k, heads]).permute([2, 0, 1])
}

/// The plain-ops path of [`AffineTransform::forward`] (autodiff, `--plain`, shapes the fused
/// kernels do not take), after normalisation and temperature: Burn's `attention` op, broadcast
/// over the windows; with a shift mask, only the windows of the last row and column of the
/// partition are masked ([`ShiftMask`]), the others run unmasked.
///
/// # Shapes
///
/// - q: `[B * nW, heads, n_q, d]`; k: `[B * nW, heads, n_k, d]`; v: `[B * nW, heads, n_k, d_v]`
/// - bias: `[heads, n_q, n_k]`
/// - output: `[B * nW, heads, n_q, d_v]`
pub fn attend_plain(q: Tensor<4>, k: Tensor<4>, v: Tensor<4>, bias: Tensor<3>, mask: Option<&ShiftMask>) -> Tensor<4> {
    let bias = bias.unsqueeze::<4>(); // [1, heads, n_q, n_k]
    match mask {
        None => attend(q, k, v, bias),
        Some(mask) => attend_shifted(q, k, v, bias, mask),
    }
}

/// `softmax(q k^T + bias) v`: on Burn's `attention` op, in training on
/// [`super::autodiff_matmul`] and [`super::autodiff_softmax`].
///
/// # Shapes
///
/// - q: `[B', heads, n_q, d]`; k: `[B', heads, n_k, d]`; v: `[B', heads, n_k, d_v]`
/// - bias: `[1, heads, n_q, n_k]`
/// - output: `[B', heads, n_q, d_v]`
fn attend(q: Tensor<4>, k: Tensor<4>, v: Tensor<4>, bias: Tensor<4>) -> Tensor<4> {
    #[cfg(not(target_arch = "wasm32"))]
    if kernels::fused_cpu_training(&q.device()) {
        // Training: the products and the softmax as operations with their own backward.
        use super::autodiff_matmul::matmul;
        let scores = matmul(q, k, true);
        return matmul(super::autodiff_softmax::biased_softmax(scores, bias), v, false);
    }
    let options = AttentionModuleOptions { scale: Some(1.0), softcap: None, is_causal: false };
    attention(q, k, v, None, Some(bias), options)
}

/// [`attend`] with a per-window mask: the windows are folded into the head axis so that
/// bias plus mask, `[1, nW * heads, n_q, n_k]`, broadcasts over the images.
///
/// # Shapes
///
/// - q: `[B * nW, heads, n_q, d]`; k, v: `[B * nW, heads, n_k, _]`
/// - bias: `[1, heads, n_q, n_k]`; mask: `[nW, n_q, n_k]`
/// - output: `[B * nW, heads, n_q, d_v]`
fn attend_masked(q: Tensor<4>, k: Tensor<4>, v: Tensor<4>, bias: Tensor<4>, mask: Tensor<3>) -> Tensor<4> {
    let [batch, heads, n_q, _] = q.dims();
    let [windows, _, n_k] = mask.dims();
    let d_v = v.dims()[3];
    let images = batch / windows;
    let bias = (bias + mask.unsqueeze_dim::<4>(1)).reshape([1, windows * heads, n_q, n_k]);
    let fold = |t: Tensor<4>| {
        let [_, _, n, d] = t.dims();
        t.reshape([images, windows * heads, n, d])
    };
    attend(fold(q), fold(k), fold(v), bias).reshape([batch, heads, n_q, d_v])
}

/// Attention over a shifted partition: unmasked for the interior windows, masked for the last
/// column and the last row.
///
/// # Shapes
///
/// - q: `[B * rows * cols, heads, n_q, d]`; k, v: `[B * rows * cols, heads, n_k, _]`
/// - bias: `[1, heads, n_q, n_k]`
/// - output: `[B * rows * cols, heads, n_q, d_v]`
fn attend_shifted(q: Tensor<4>, k: Tensor<4>, v: Tensor<4>, bias: Tensor<4>, mask: &ShiftMask) -> Tensor<4> {
    let [batch, heads, n_q, _] = q.dims();
    let d_v = v.dims()[3];
    let [rows, cols] = mask.grid;
    let images = batch / (rows * cols);
    // Windows as a [B, rows, cols, heads * n * d] grid, and back.
    let grid = |t: Tensor<4>| {
        let [_, h, n, d] = t.dims();
        t.reshape([images, rows, cols, h * n * d])
    };
    let windows = |t: Tensor<4>, n: usize, d: usize| {
        let [b, r, c, _] = t.dims();
        t.reshape([b * r * c, heads, n, d])
    };
    let (n_k, d) = (k.dims()[2], k.dims()[3]);
    let (q, k, v) = (grid(q), grid(k), grid(v));
    let part = |r: std::ops::Range<usize>, c: std::ops::Range<usize>| {
        let cut = |t: &Tensor<4>, n, d| windows(t.clone().slice_dim(1, r.clone()).slice_dim(2, c.clone()), n, d);
        (cut(&q, n_q, d), cut(&k, n_k, d), cut(&v, n_k, d_v))
    };
    let out_grid = |t: Tensor<4>, r: usize, c: usize| t.reshape([images, r, c, heads * n_q * d_v]);

    let (qb, kb, vb) = part(rows - 1..rows, 0..cols);
    let bottom = out_grid(attend_masked(qb, kb, vb, bias.clone(), mask.last_row()), 1, cols);
    let out = match mask.last_column() {
        None => bottom,
        Some(column_mask) => {
            let (qc, kc, vc) = part(0..rows - 1, cols - 1..cols);
            let column = out_grid(attend_masked(qc, kc, vc, bias.clone(), column_mask), rows - 1, 1);
            let top = if cols > 1 {
                let (qi, ki, vi) = part(0..rows - 1, 0..cols - 1);
                let interior = out_grid(attend(qi, ki, vi, bias), rows - 1, cols - 1);
                Tensor::cat(vec![interior, column], 2)
            } else {
                column
            };
            Tensor::cat(vec![top, bottom], 1)
        }
    };
    out.reshape([batch, heads, n_q, d_v])
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;
