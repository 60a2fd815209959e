//! Fused attention on the CPU: `softmax(scale q kᵀ + bias + mask) v` for every (window, head),
//! the windows in parallel, the bias read from the per-entry table through the index (as the
//! WGSL kernel does), the shift mask computed from region ids, nothing N x N kept.
//!
//! Burn's CPU attention (flex) runs GRL's 1024-token windows through its flash loop: 64 keys at a
//! time, each score rescaled, biased and exponentiated by scalar code with a libm `exp`; that
//! loop took 45-60% of a GRL forward (`docs/performance.md`). Here a block of 64 queries gets its
//! whole score rows from one matrix product (`gemm`, the crate flex itself uses), the bias,
//! mask, softmax and normalisation run over each row while it is in cache, with an `exp` that
//! vectorises (AVX-512 or AVX2 + FMA where the CPU has them: `cpu_softmax.rs`), and a second
//! product gives the output.
//!
//! [`attend`] takes tensors (the transform's fused path); [`attend_slices`] takes the window
//! layout [`super::cpu_windows`] gathers straight from the token map, with the temperature as
//! `scale`. The plain-ops twin is [`super::affine_transform`]'s path on Burn's `attention` op;
//! the tests compare the two, and the parity suite runs the whole model through this one.

use burn::tensor::{Int, Tensor, TensorData};

use super::cpu_gemm::matmul;
use super::cpu_parallel::for_each_chunk_with;
use super::cpu_softmax::softmax_row;

/// Queries per block: a block's scores (64 x up to 4096 keys, 1 MiB at most) stay in L2.
const QUERY_BLOCK: usize = 64;

/// Region ids of the query and key tokens of each window (`[nW, n_q]`, `[nW, n_k]`): a score is
/// masked when the two ids differ.
pub struct RegionIds<'a> {
    pub query: &'a Tensor<2, Int>,
    pub key: &'a Tensor<2, Int>,
}

/// The shapes of one call: `windows` (`B * nW`) times `heads` attention problems of `n_q`
/// queries over `n_k` keys, head widths `d` (q, k) and `d_v` (v).
#[derive(Clone, Copy, Debug)]
pub struct Dims {
    pub windows: usize,
    pub heads: usize,
    pub n_q: usize,
    pub n_k: usize,
    pub d: usize,
    pub d_v: usize,
}

/// One call's operands as row-major slices (shapes as in [`attend`]), with the bias as the
/// per-entry values `[heads, T]` read through `index` (`[n_q * n_k]`, each below T) and a
/// per-head factor on the logits (the temperature, where q is not already scaled).
pub struct Operands<'a> {
    pub q: &'a [f32],
    pub k: &'a [f32],
    pub v: &'a [f32],
    pub entries: &'a [f32],
    pub index: &'a [u32],
    pub scale: &'a [f32],
}

/// `softmax(q kᵀ + per_entry[index] + mask) v` with the mask from region ids.
///
/// # Shapes
///
/// - q: `[B * nW, heads, n_q, d]` (normalised and scaled); k: `[B * nW, heads, n_k, d]`
///   (normalised); windows row-major within each image
/// - v: `[B * nW, heads, n_k, d_v]`
/// - per_entry: `[T, heads]`; index: `[n_q * n_k]`, values in `0..T`
/// - ids: `[nW, n_q]` and `[nW, n_k]`
/// - output: `[B * nW, heads, n_q, d_v]`
pub fn attend(q: Tensor<4>, k: Tensor<4>, v: Tensor<4>, per_entry: Tensor<2>, index: &[u32], ids: Option<RegionIds<'_>>) -> Tensor<4> {
    let device = q.device();
    let [windows, heads, n_q, d] = q.dims();
    let [_, _, n_k, d_v] = v.dims();
    let dims = Dims { windows, heads, n_q, n_k, d, d_v };
    let entries = entries_by_head(per_entry);
    let scale = vec![1.0; heads];
    let (q, k, v) = (floats(q.into_data()), floats(k.into_data()), floats(v.into_data()));
    let operands = Operands { q: &q, k: &k, v: &v, entries: &entries, index, scale: &scale };
    let out = attend_slices(operands, dims, ids);
    Tensor::from_data(TensorData::new(out, [windows, heads, n_q, d_v]), &device)
}

/// A float tensor's values as f32.
pub fn floats(data: TensorData) -> Vec<f32> {
    data.convert::<f32>().try_into_vec::<f32>().expect("converted to f32")
}

/// The per-entry bias `[T, heads]` as the kernel reads it: `[heads, T]`, each head's values
/// contiguous.
pub fn entries_by_head(per_entry: Tensor<2>) -> Vec<f32> {
    floats(per_entry.swap_dims(0, 1).into_data())
}

/// The kernel on slices: see [`attend`] and [`Operands`].
pub fn attend_slices(operands: Operands<'_>, dims: Dims, ids: Option<RegionIds<'_>>) -> Vec<f32> {
    let Dims { windows, heads, n_q, n_k, d, d_v } = dims;
    let Operands { q, k, v, entries, index, scale } = operands;
    assert!(q.len() == windows * heads * n_q * d && k.len() == windows * heads * n_k * d);
    assert!(v.len() == windows * heads * n_k * d_v && index.len() == n_q * n_k && scale.len() == heads);
    let table_len = entries.len() / heads;
    assert_eq!(entries.len(), heads * table_len);
    // The rows read the per-entry values without bounds checks. (`max` vectorises; a
    // short-circuiting `all` over the 4M entries of a stripe index took 5% of a GRL-S forward at
    // 64x64, on one thread.)
    let largest = index.iter().copied().max().unwrap_or(0);
    assert!(index.is_empty() || (largest as usize) < table_len, "index value {largest} is past the {table_len} table entries");
    let ints = |t: &Tensor<2, Int>| t.clone().into_data().convert::<i64>().try_into_vec::<i64>().expect("converted to i64");
    let ids = ids.map(|ids| WindowIds::new(ints(ids.query), ints(ids.key), n_q, n_k));
    let mut out = vec![0.0f32; windows * heads * n_q * d_v];
    let scratch = || vec![0.0f32; QUERY_BLOCK * n_k];
    let run = |scratch: &mut Vec<f32>, item: usize, out: &mut [f32]| {
        let (b, h) = (item / heads, item % heads);
        let head = Head {
            q: &q[item * n_q * d..][..n_q * d],
            k: &k[item * n_k * d..][..n_k * d],
            v: &v[item * n_k * d_v..][..n_k * d_v],
            bias: BiasTable { entries: &entries[h * table_len..][..table_len], index },
            scale: scale[h],
            window: ids.as_ref().and_then(|ids| ids.window(b)),
        };
        head.attend(dims, out, scratch);
    };
    for_each_chunk_with(&mut out, n_q * d_v, scratch, run);
    out
}

/// Per-window region ids, with the windows whose tokens all share one id (no mask) marked.
struct WindowIds {
    query: Vec<i64>,
    key: Vec<i64>,
    masked: Vec<bool>,
    n_q: usize,
    n_k: usize,
}

/// One window's ids: `(query ids, key ids)`.
type Ids<'a> = (&'a [i64], &'a [i64]);

impl WindowIds {
    fn new(query: Vec<i64>, key: Vec<i64>, n_q: usize, n_k: usize) -> Self {
        let masked = query
            .chunks_exact(n_q)
            .zip(key.chunks_exact(n_k))
            .map(|(q, k)| q.iter().chain(k).any(|&id| id != q[0]))
            .collect();
        WindowIds { query, key, masked, n_q, n_k }
    }

    /// The ids of batch item `b`'s window, `None` when nothing in it is masked.
    fn window(&self, b: usize) -> Option<Ids<'_>> {
        let w = b % self.masked.len();
        self.masked[w].then(|| (&self.query[w * self.n_q..(w + 1) * self.n_q], &self.key[w * self.n_k..(w + 1) * self.n_k]))
    }
}

/// One head's relative-position bias: its per-entry values `[T]`, read through the index
/// `[n_q * n_k]` (every value below T, checked by [`attend_slices`]).
#[derive(Clone, Copy)]
struct BiasTable<'a> {
    entries: &'a [f32],
    index: &'a [u32],
}

/// One (window, head): row-major slices.
struct Head<'a> {
    q: &'a [f32],
    k: &'a [f32],
    v: &'a [f32],
    bias: BiasTable<'a>,
    scale: f32,
    window: Option<Ids<'a>>,
}

impl Head<'_> {
    /// Writes `out = softmax(q kᵀ + bias + mask) v`, `[n_q, d_v]`, a block of queries at a time.
    fn attend(&self, dims: Dims, out: &mut [f32], scratch: &mut [f32]) {
        let Dims { n_q, n_k, d, d_v, .. } = dims;
        let BiasTable { entries, index } = self.bias;
        for start in (0..n_q).step_by(QUERY_BLOCK) {
            let rows = QUERY_BLOCK.min(n_q - start);
            let scores = &mut scratch[..rows * n_k];
            // scores[rows, n_k] = q[start.., d] · k[n_k, d]ᵀ
            matmul(scores, &self.q[start * d..], self.k, [rows, n_k, d], [d, 1], [1, d], false);
            let mut normalisers = [0.0f32; QUERY_BLOCK];
            for ((r, row), normaliser) in scores.chunks_exact_mut(n_k).enumerate().zip(&mut normalisers) {
                let qi = start + r;
                let mask = self.window.map(|(query, key)| (query[qi], key));
                *normaliser = softmax_row(row, self.scale, entries, &index[qi * n_k..(qi + 1) * n_k], mask);
            }
            // out[start.., d_v] = scores[rows, n_k] · v[n_k, d_v], each row by its normaliser
            let out = &mut out[start * d_v..(start + rows) * d_v];
            matmul(out, scores, self.v, [rows, d_v, n_k], [n_k, 1], [d_v, 1], false);
            for (row, normaliser) in out.chunks_exact_mut(d_v).zip(normalisers) {
                row.iter_mut().for_each(|x| *x *= normaliser);
            }
        }
    }
}
