//! Attention's softmax in training: `P = softmax(S + bias)` over the keys as one autodiff
//! operation on Burn's CPU backend, with its own backward `dS = P ⊙ (dP - rowsum(dP ⊙ P))`.
//!
//! Burn builds the softmax of its `attention` under autodiff from primitives (scale, bias add,
//! max, clamp, subtract, `exp`, sum, clamp, divide): nine passes over the `[windows x heads,
//! n_q, n_k]` scores forward, about as many backward, each with a score-sized allocation, and
//! glibc's scalar `expf` twice (the backward of `exp` recomputes it). Here the forward is one
//! pass per row (bias add, max, the vectorised `exp` of [`super::cpu_softmax`], normalise) and
//! the backward one pass plus, where the bias is shared by the images, its sum over them. Rows
//! run in parallel. The plain-ops twin is `softmax(scores + bias)` on Burn's ops; a test
//! compares the values and both gradients.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops};
use burn::backend::Flex;
use burn::backend::flex::FlexTensor;
use burn::tensor::{Tensor, activation};

use super::autodiff_flex::{AutodiffTensor, contiguous, from_values, primitive, record, shape, tensor, values};
use super::cpu_parallel::build_chunks;
use super::cpu_simd::vectorised;
use super::cpu_softmax::{exp, lanes};

/// Rows per parallel task: enough work to amortise the scheduling.
const ROWS_PER_TASK: usize = 256;

/// `softmax(scores + bias)` over the last axis: the fused operation where
/// [`super::kernels::fused_cpu_training`] allows and both tensors live on Burn's CPU backend under
/// autodiff as f32, else Burn's ops.
///
/// # Shapes
///
/// - scores: `[B, H, n_q, n_k]`
/// - bias: `[B, H, n_q, n_k]` or `[1, H, n_q, n_k]` (shared by the B images)
/// - output: `[B, H, n_q, n_k]`
pub fn biased_softmax(scores: Tensor<4>, bias: Tensor<4>) -> Tensor<4> {
    match try_fused(&scores, &bias) {
        Some(probabilities) => probabilities,
        None => activation::softmax(scores + bias, 3),
    }
}

/// [`biased_softmax`] on the fused operation, or `None` where it does not apply.
fn try_fused(scores: &Tensor<4>, bias: &Tensor<4>) -> Option<Tensor<4>> {
    let [b, h, n_q, n_k] = scores.dims();
    let [bias_b, ..] = bias.dims();
    let fits = bias.dims()[1..] == [h, n_q, n_k] && (bias_b == 1 || bias_b == b) && n_k > 0;
    let (s, w) = (primitive(scores).filter(|_| fits)?, primitive(bias)?);
    Some(tensor(fused(s, w)))
}

/// The autodiff operation: the probabilities computed now, kept for the backward.
fn fused(scores: AutodiffTensor, bias: AutodiffTensor) -> AutodiffTensor {
    let shared_bias = shape(bias.primitive())[0] < shape(scores.primitive())[0];
    let probabilities = forward(&contiguous(scores.primitive()), &contiguous(bias.primitive()));
    record(BiasedSoftmax, [scores.node(), bias.node()], State { probabilities: probabilities.clone(), shared_bias }, probabilities)
}

#[derive(Debug)]
struct BiasedSoftmax;

/// What the backward needs: the forward's probabilities (`[B, H, n_q, n_k]`, contiguous) and
/// whether the bias was one `[1, H, n_q, n_k]` shared by the images.
#[derive(Clone, Debug)]
struct State {
    probabilities: FlexTensor,
    shared_bias: bool,
}

impl Backward<Flex, 2> for BiasedSoftmax {
    type State = State;

    fn backward(self, ops: Ops<State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let State { probabilities, shared_bias } = ops.state;
        let grad = contiguous(&grads.consume::<Flex>(&ops.node));
        let d_scores = backward(&probabilities, &grad);
        let [scores_node, bias_node] = ops.parents;
        if let Some(node) = bias_node {
            let d_bias = if shared_bias { sum_images(&d_scores) } else { d_scores.clone() };
            grads.register::<Flex>(node.id, d_bias);
        }
        if let Some(node) = scores_node {
            grads.register::<Flex>(node.id, d_scores);
        }
    }
}

/// The probabilities, row by row; a bias smaller than the scores repeats over the images.
fn forward(scores: &FlexTensor, bias: &FlexTensor) -> FlexTensor {
    let (s, w) = (values(scores), values(bias));
    by_rows(scores, |at, row| {
        let bias_at = at % w.len();
        softmax_row(row, &s[at..][..row.len()], &w[bias_at..][..row.len()]);
    })
}

/// The gradient of the scores, row by row, from the probabilities and their gradient.
fn backward(probabilities: &FlexTensor, grad: &FlexTensor) -> FlexTensor {
    let (p, g) = (values(probabilities), values(grad));
    by_rows(probabilities, |at, row| softmax_backward_row(row, &p[at..][..row.len()], &g[at..][..row.len()]))
}

/// A new tensor of `like`'s shape, each of its rows (its last axis) written by `f(at, row)`, `at`
/// the row's first index; rows in parallel, [`ROWS_PER_TASK`] to a task.
fn by_rows(like: &FlexTensor, f: impl Fn(usize, &mut [f32]) + Sync + Send) -> FlexTensor {
    let dims = shape(like);
    let n_k = dims[dims.num_dims() - 1];
    let out = build_chunks(dims.num_elements(), ROWS_PER_TASK * n_k, &[0.0], |task, piece| {
        let first = task * ROWS_PER_TASK * n_k;
        for (r, row) in piece.chunks_exact_mut(n_k).enumerate() {
            f(first + r * n_k, row);
        }
    });
    from_values(out, dims)
}

/// `[B, H, n_q, n_k]` summed over the images into `[1, H, n_q, n_k]`.
fn sum_images(t: &FlexTensor) -> FlexTensor {
    let dims = shape(t);
    let (images, v) = (dims[0], values(t));
    let per_image = v.len() / images;
    let chunk = (ROWS_PER_TASK * 64).min(per_image.max(1));
    let out = build_chunks(per_image, chunk, &[0.0], |task, piece| {
        let first = task * chunk;
        for image in v.chunks_exact(per_image) {
            for (o, x) in piece.iter_mut().zip(&image[first..]) {
                *o += x;
            }
        }
    });
    let mut summed = dims;
    summed[0] = 1;
    from_values(out, summed)
}

vectorised!(
    /// `out = softmax(s + w)`, on the widest vectors this CPU has.
    fn softmax_row(out: &mut [f32], s: &[f32], w: &[f32]) => softmax_row_lanes
);

/// [`softmax_row`] over `LANES` independent lanes, so that it vectorises.
#[inline(always)]
fn softmax_row_lanes<const LANES: usize>(out: &mut [f32], s: &[f32], w: &[f32]) {
    for ((o, &s), &w) in out.iter_mut().zip(s).zip(w) {
        *o = s + w;
    }
    let max = lanes::<LANES>(out, f32::NEG_INFINITY, f32::max);
    for o in out.iter_mut() {
        *o = exp(*o - max);
    }
    let scale = 1.0 / lanes::<LANES>(out, 0.0, |a, b| a + b);
    for o in out.iter_mut() {
        // Probabilities below f32's smallest normal (masked keys) are 0: subnormal operands
        // slow the products that read them (P · V and the backward's) about 25-fold.
        let p = *o * scale;
        *o = if p < f32::MIN_POSITIVE { 0.0 } else { p };
    }
}

vectorised!(
    /// `out = p ⊙ (g - Σ g ⊙ p)`, on the widest vectors this CPU has.
    fn softmax_backward_row(out: &mut [f32], p: &[f32], g: &[f32]) => softmax_backward_row_lanes
);

/// [`softmax_backward_row`] over `LANES` independent lanes.
#[inline(always)]
fn softmax_backward_row_lanes<const LANES: usize>(out: &mut [f32], p: &[f32], g: &[f32]) {
    for ((o, &p), &g) in out.iter_mut().zip(p).zip(g) {
        *o = p * g;
    }
    let dot = lanes::<LANES>(out, 0.0, |a, b| a + b);
    for ((o, &p), &g) in out.iter_mut().zip(p).zip(g) {
        *o = p * (g - dot);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, Distribution, Tolerance};

    /// Values, score gradients and bias gradients of the fused op against Burn's ops, for a
    /// bias shared by the images and one per image, on rows around the vector widths.
    #[test]
    fn fused_softmax_matches_burns_values_and_gradients() {
        let device = Device::flex().autodiff();
        device.seed(5);
        for (images, bias_images, n_k) in [(3, 1, 64), (2, 2, 17), (4, 1, 7)] {
            let scores = Tensor::<4>::random([images, 2, 5, n_k], Distribution::Normal(0.0, 3.0), &device).require_grad();
            let bias = Tensor::<4>::random([bias_images, 2, 5, n_k], Distribution::Normal(0.0, 1.0), &device).require_grad();
            // A weighting, so that the gradient reaching the probabilities is not uniform.
            let weights = Tensor::<4>::random([images, 2, 5, n_k], Distribution::Normal(0.0, 1.0), &device);
            let check = |p: Tensor<4>| {
                let grads = (p.clone() * weights.clone()).sum().backward();
                (p.into_data(), scores.grad(&grads).expect("the scores' gradient").into_data(), bias.grad(&grads).expect("the bias' gradient").into_data())
            };
            let fused = check(try_fused(&scores, &bias).expect("the fused op applies"));
            let plain = check(activation::softmax(scores.clone() + bias.clone(), 3));
            let tolerance = Tolerance::rel_abs(1e-5, 1e-6);
            fused.0.assert_approx_eq::<f32>(&plain.0, tolerance);
            fused.1.assert_approx_eq::<f32>(&plain.1, tolerance);
            fused.2.assert_approx_eq::<f32>(&plain.2, tolerance);
        }
    }
}
