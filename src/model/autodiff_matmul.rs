//! Matrix products in training: one autodiff operation on Burn's CPU backend, `C = A · B` or
//! `C = A · Bᵀ` over a batch of matrices, forward and backward on the `gemm` crate through
//! [`super::cpu_gemm`], with transposed operands read through strides.
//!
//! Burn's CPU backend allocates each product's output with `FlexTensor::empty`, which zeroes a
//! byte vector and then copies it to realign it, and its autodiff transposes operands into new
//! buffers for the backward's products: copies that cost a training step of the bundled
//! denoiser about 10% (`docs/performance.md`). Here the outputs are written once, in parallel
//! pieces (items of the batch, or blocks of rows of one large product), and every transpose is
//! a stride. The plain-ops twin is Burn's `matmul`; a test compares values and gradients.

use burn::backend::Flex;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops};
use burn::backend::flex::FlexTensor;
use burn::tensor::Tensor;

use super::autodiff_flex::{AutodiffTensor, contiguous, from_values, primitive, record, shape, tensor, values};
use super::cpu_gemm;
use super::cpu_parallel::build_chunks;

/// Rows of one product per parallel task when the batch is a single matrix.
const ROWS: usize = 256;

/// `a · b` (`transpose_b` false) or `a · bᵀ` (true) over the leading axes: the fused
/// operation in training on the CPU, else Burn's ops.
///
/// # Shapes
///
/// - a: `[..., m, k]`
/// - b: `[..., k, n]`, or `[..., n, k]` with `transpose_b`; the same leading axes as `a`
/// - output: `[..., m, n]`
pub fn matmul<const D: usize>(a: Tensor<D>, b: Tensor<D>, transpose_b: bool) -> Tensor<D> {
    let (da, db) = (a.dims(), b.dims());
    let k = da[D - 1];
    let fits = D >= 2 && da[..D - 2] == db[..D - 2] && db[D - 1 - usize::from(!transpose_b)] == k;
    if fits
        && let (Some(pa), Some(pb)) = (primitive(&a), primitive(&b))
    {
        return tensor(fused(pa, pb, transpose_b));
    }
    if transpose_b { a.matmul(b.swap_dims(D - 2, D - 1)) } else { a.matmul(b) }
}

/// One batch of products: `count` items of `[m, k] · [k, n]`, each operand read row-major or
/// (transposed) column-major from its item.
#[derive(Clone, Copy, Debug)]
struct Product {
    count: usize,
    m: usize,
    n: usize,
    k: usize,
    transpose_a: bool,
    transpose_b: bool,
}

impl Product {
    /// (row, column) strides of the left operand in its item, and the item's length.
    fn lhs(&self) -> ([usize; 2], usize) {
        if self.transpose_a { ([1, self.m], self.m * self.k) } else { ([self.k, 1], self.m * self.k) }
    }

    /// The same for the right operand.
    fn rhs(&self) -> ([usize; 2], usize) {
        if self.transpose_b { ([1, self.k], self.k * self.n) } else { ([self.n, 1], self.k * self.n) }
    }

    /// The products' values, `[count, m, n]` row-major, computed in parallel pieces.
    fn run(&self, lhs: &[f32], rhs: &[f32]) -> Vec<f32> {
        let (lhs_strides, lhs_len) = self.lhs();
        let (rhs_strides, rhs_len) = self.rhs();
        let rows = if self.count == 1 { self.m.clamp(1, ROWS) } else { self.m.max(1) };
        let len = self.count * self.m * self.n;
        if len == 0 {
            return Vec::new();
        }
        build_chunks(len, rows * self.n, &[0.0], |piece_index, out| {
            let (item, first_row) = if self.count == 1 { (0, piece_index * rows) } else { (piece_index, 0) };
            let m = out.len() / self.n;
            let lhs = &lhs[item * lhs_len + first_row * lhs_strides[0]..];
            let rhs = &rhs[item * rhs_len..][..rhs_len];
            cpu_gemm::matmul(out, lhs, rhs, [m, self.n, self.k], lhs_strides, rhs_strides, false);
        })
    }
}

/// The autodiff operation; both operands are kept for the backward.
fn fused(a: AutodiffTensor, b: AutodiffTensor, transpose_b: bool) -> AutodiffTensor {
    let (lhs, rhs) = (contiguous(a.primitive()), contiguous(b.primitive()));
    let dims = shape(&lhs);
    let d = dims.num_dims();
    let (m, k) = (dims[d - 2], dims[d - 1]);
    let n = shape(&rhs)[d - 1 - usize::from(transpose_b)];
    let count = dims.num_elements() / (m * k).max(1);
    let product = Product { count, m, n, k, transpose_a: false, transpose_b };
    let mut out_shape = dims.clone();
    out_shape[d - 1] = n;
    let output = from_values(product.run(values(&lhs), values(&rhs)), out_shape);
    record(Matmul, [a.node(), b.node()], State { lhs, rhs, product }, output)
}

#[derive(Debug)]
struct Matmul;

/// The operands (contiguous) and the forward's product.
#[derive(Clone, Debug)]
struct State {
    lhs: FlexTensor,
    rhs: FlexTensor,
    product: Product,
}

impl Backward<Flex, 2> for Matmul {
    type State = State;

    /// For `C = A · B`: `dA = dC · Bᵀ`, `dB = Aᵀ · dC`. For `C = A · Bᵀ`: `dA = dC · B`,
    /// `dB = dCᵀ · A`.
    fn backward(self, ops: Ops<State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let State { lhs, rhs, product: Product { count, m, n, k, transpose_b, .. } } = ops.state;
        let grad = contiguous(&grads.consume::<Flex>(&ops.node));
        let (a, b, dc) = (values(&lhs), values(&rhs), values(&grad));
        let [a_node, b_node] = ops.parents;
        if let Some(node) = b_node {
            let db = if transpose_b {
                Product { count, m: n, n: k, k: m, transpose_a: true, transpose_b: false }.run(dc, a)
            } else {
                Product { count, m: k, n, k: m, transpose_a: true, transpose_b: false }.run(a, dc)
            };
            grads.register::<Flex>(node.id, from_values(db, shape(&rhs)));
        }
        if let Some(node) = a_node {
            let da = Product { count, m, n: k, k: n, transpose_a: false, transpose_b: !transpose_b }.run(dc, b);
            grads.register::<Flex>(node.id, from_values(da, shape(&lhs)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, Distribution, Tolerance};

    /// Values and both gradients of the fused products against Burn's, for `a · b` and
    /// `a · bᵀ`, on a batch of small matrices and on one matrix of more rows than a task takes.
    #[test]
    fn fused_products_match_burns_values_and_gradients() {
        let device = Device::flex().autodiff();
        device.seed(11);
        for (count, m, k, n) in [(6, 9, 5, 7), (1, 600, 12, 20), (2, 1, 3, 1)] {
            for transpose_b in [false, true] {
                let a = Tensor::<3>::random([count, m, k], Distribution::Normal(0.0, 1.0), &device).require_grad();
                let b_dims = if transpose_b { [count, n, k] } else { [count, k, n] };
                let b = Tensor::<3>::random(b_dims, Distribution::Normal(0.0, 1.0), &device).require_grad();
                let weights = Tensor::<3>::random([count, m, n], Distribution::Normal(0.0, 1.0), &device);
                let check = |c: Tensor<3>| {
                    let grads = (c.clone() * weights.clone()).sum().backward();
                    (c.into_data(), a.grad(&grads).expect("a's gradient").into_data(), b.grad(&grads).expect("b's gradient").into_data())
                };
                let (pa, pb) = (primitive(&a).expect("the fused op applies"), primitive(&b).expect("the fused op applies"));
                let fused = check(tensor(fused(pa, pb, transpose_b)));
                let plain = check(if transpose_b { a.clone().matmul(b.clone().swap_dims(1, 2)) } else { a.clone().matmul(b.clone()) });
                let tolerance = Tolerance::rel_abs(1e-5, 1e-5);
                fused.0.assert_approx_eq::<f32>(&plain.0, tolerance);
                fused.1.assert_approx_eq::<f32>(&plain.1, tolerance);
                fused.2.assert_approx_eq::<f32>(&plain.2, tolerance);
            }
        }
    }
}
