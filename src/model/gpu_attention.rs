//! Fused attention on wgpu (natively and in the browser): `softmax(q kᵀ + bias + mask) v` for
//! every (window, head) in one WGSL kernel, `shaders/attention.wgsl`, with the bias gathered from
//! the per-entry table at relative-position entries computed from the token positions (no index
//! table on the device) and the shift mask computed from region ids inside the kernel, an online
//! (flash-style) softmax, and K/V tiles in workgroup memory: no N x N map is read or written.
//!
//! Burn's `attention` on wgpu goes to its fallback whenever there is a bias (GRL always has one):
//! two matrix products and about nine passes over the `[windows x heads, N, N]` scores, 4 MiB per
//! window and head for GRL's 32 x 32 windows. The plain-ops twin is
//! [`super::affine_transform::attend_plain`]; the tests compare the two on the attention fixture
//! and the parity suite runs whole models through this path on wgpu.
//!
//! Launched through Burn's backend extension on its CubeCL backend, as raw WGSL
//! (`KernelSource`): f32 only, no optional WebGPU feature, at most [`MAX_HEAD_DIM`] channels per
//! head; [`unsupported`] says why anything else takes the plain path.

use burn::backend::tensor::{FloatTensor, IntTensor};
use burn::backend::wgpu::{CubeBackend, CubeTensor, KernelSource, SourceKernel, SourceTemplate, into_contiguous};
use burn::backend::{Backend, Dispatch, backend_extension};
use burn::tensor::{DType, Int, Shape, Tensor};
use cubecl::prelude::KernelId;
use cubecl::server::KernelArguments;
use cubecl::{CubeCount, CubeDim};

use super::cpu_attention::RegionIds;
use super::tables::RelativeIndex;

/// Most channels per head of q/k and of v: the kernel keeps a query row and an output row in
/// registers. Released GRL models have 16 to 32.
pub const MAX_HEAD_DIM: usize = 64;
/// Invocations per workgroup: within WebGPU's default 256.
const INVOCATIONS: usize = 64;
/// WebGPU's default `maxComputeWorkgroupStorageSize`.
const WORKGROUP_BYTES: usize = 16 << 10;
/// WebGPU's default `maxComputeWorkgroupsPerDimension`.
const MAX_WORKGROUPS: usize = 65_535;

/// The kernel as a Burn backend operation (CubeCL backends: wgpu, WebGPU).
#[backend_extension(Cube)]
pub trait FusedAttentionBackend: Backend {
    /// See [`attend`]; `ids` holds the query ids `[nW * n_q]` then the key ids `[nW * n_k]`,
    /// read only when `masked`.
    fn fused_attention(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        per_entry: FloatTensor<Self>,
        index: RelativeIndex,
        ids: IntTensor<Self>,
        masked: bool,
    ) -> FloatTensor<Self>;
}

/// Why the kernel cannot run these shapes and dtypes, `None` when it can.
///
/// # Shapes
///
/// - q: `[B', heads, n_q, d]`; v: `[B', heads, n_k, d_v]`
pub fn unsupported(q: &Tensor<4>, v: &Tensor<4>, index: RelativeIndex) -> Option<String> {
    let [batch, heads, n_q, d] = q.dims();
    let [_, _, n_k, d_v] = v.dims();
    if q.dtype() != DType::F32 || v.dtype() != DType::F32 {
        return Some(format!("the kernel is f32 only, got {:?}", q.dtype()));
    }
    if index.tokens() != (n_q, n_k) {
        return Some(format!("an index of {:?} tokens for {n_q} x {n_k}", index.tokens()));
    }
    if index.table_len() > i32::MAX as usize {
        return Some(format!("a table of {} entries: the kernel computes them in i32", index.table_len()));
    }
    if d.max(d_v) > MAX_HEAD_DIM || d == 0 || d_v == 0 {
        return Some(format!("head dims {d} and {d_v}: the kernel takes 1 to {MAX_HEAD_DIM}"));
    }
    if n_k % 4 != 0 {
        return Some(format!("{n_k} keys: the kernel reads them four at a time"));
    }
    if batch > MAX_WORKGROUPS || heads > MAX_WORKGROUPS || n_q.div_ceil(INVOCATIONS) > MAX_WORKGROUPS || n_q * n_k == 0 {
        return Some(format!("{batch} windows, {heads} heads, {n_q} x {n_k} tokens: past the workgroup grid"));
    }
    None
}

/// `softmax(q kᵀ + per_entry[index(i, j)] + mask) v` with the mask from region ids, on the kernel.
/// Call only where [`unsupported`] is `None` and the device is a CubeCL (wgpu) one.
///
/// # Shapes
///
/// - q: `[B * nW, heads, n_q, d]` (normalised and scaled), windows row-major within each image
/// - k: `[B * nW, heads, n_k, d]` (normalised); v: `[B * nW, heads, n_k, d_v]`
/// - per_entry: `[T, heads]`, `T = index.table_len()`; index: `n_q x n_k` entries
/// - ids: `[nW, n_q]` and `[nW, n_k]`
/// - output: `[B * nW, heads, n_q, d_v]`
pub fn attend(
    q: Tensor<4>,
    k: Tensor<4>,
    v: Tensor<4>,
    per_entry: Tensor<2>,
    index: RelativeIndex,
    ids: Option<RegionIds<'_>>,
) -> Tensor<4> {
    let masked = ids.is_some();
    // One buffer of both (a new one: WebGPU refuses two writable bindings of one range, and the
    // query and key ids are often one tensor), as the kernel's i32; unmasked, a placeholder the
    // kernel never reads.
    let ids = match ids {
        Some(ids) => Tensor::cat(vec![ids.query.clone().flatten::<1>(0, 1), ids.key.clone().flatten::<1>(0, 1)], 0),
        None => Tensor::<1, Int>::zeros([4], &q.device()),
    }
    .cast(DType::I32);
    let out = Dispatch::fused_attention(
        q.into_dispatch(),
        k.into_dispatch(),
        v.into_dispatch(),
        per_entry.into_dispatch(),
        index,
        ids.into_dispatch(),
        masked,
    );
    Tensor::from_dispatch(out)
}

/// `shaders/attention.wgsl` for one set of sizes (each set compiles once).
struct AttentionKernel {
    d: usize,
    d_v: usize,
    /// Query rows per invocation.
    rows: usize,
    /// Keys per tile in workgroup memory.
    keys: usize,
}

impl AttentionKernel {
    fn new(d: usize, d_v: usize) -> Self {
        // K and V rows as vec4s of channels, a key's region id and its part of the entry.
        let row_bytes = (d.div_ceil(4) + d_v.div_ceil(4)) * 16 + 8;
        // The largest key tile that fits in workgroup memory beside the parameters (36 bytes).
        let keys = [64, 32, 16, 8].into_iter().find(|&keys| keys * row_bytes + 64 <= WORKGROUP_BYTES).unwrap_or(4);
        // Each key row read serves `rows` queries; their q, sums and outputs stay in registers.
        let vec4s = d.div_ceil(4) + d_v.div_ceil(4);
        let rows = if vec4s <= 8 { 4 } else if vec4s <= 16 { 2 } else { 1 };
        AttentionKernel { d, d_v, rows, keys }
    }

    /// Query rows per workgroup.
    fn query_block(&self) -> usize {
        INVOCATIONS * self.rows
    }
}

impl KernelSource for AttentionKernel {
    fn source(&self) -> SourceTemplate {
        SourceTemplate::new(include_str!("../../shaders/attention.wgsl"))
            .register("d", self.d.to_string())
            .register("dv", self.d_v.to_string())
            .register("bq", INVOCATIONS.to_string())
            .register("rows", self.rows.to_string())
            .register("bk", self.keys.to_string())
    }

    fn id(&self) -> KernelId {
        KernelId::new::<Self>().info((self.d, self.d_v, self.rows, self.keys))
    }

    fn lang(&self) -> &'static str {
        "wgsl"
    }
}

impl FusedAttentionBackend for CubeBackend {
    fn fused_attention(
        q: CubeTensor,
        k: CubeTensor,
        v: CubeTensor,
        per_entry: CubeTensor,
        index: RelativeIndex,
        ids: CubeTensor,
        masked: bool,
    ) -> CubeTensor {
        let [q, k, v, per_entry, ids] = [q, k, v, per_entry, ids].map(into_contiguous);
        let dims = |t: &CubeTensor| t.meta.shape().to_vec();
        let (q_dims, v_dims) = (dims(&q), dims(&v));
        let [batch, heads, n_q, d] = [q_dims[0], q_dims[1], q_dims[2], q_dims[3]];
        let [n_k, d_v] = [v_dims[2], v_dims[3]];
        let windows = if masked { dims(&ids)[0] / (n_q + n_k) } else { 1 };
        let base = index.query_part(0);
        let (q_cols, k_cols, row_width) = (index.query[1], index.key[1], index.row_width());
        let params: Vec<u8> = [n_q, n_k, heads, windows, masked as usize, q_cols, k_cols, row_width, base]
            .iter()
            .flat_map(|&p| (p as u32).to_le_bytes())
            .collect();
        let client = q.client.clone();
        let params = client.create_from_slice(&params);
        let shape = Shape::new([batch, heads, n_q, d_v]);
        let out = client.empty(shape.num_elements() * size_of::<f32>());
        let arguments = KernelArguments::new()
            .with_buffers([&q, &k, &v, &per_entry, &ids].map(|t| t.handle.clone().binding()).to_vec())
            .with_buffer(out.clone().binding())
            .with_buffer(params.binding());
        let kernel = AttentionKernel::new(d, d_v);
        let count = CubeCount::Static(n_q.div_ceil(kernel.query_block()) as u32, batch as u32, heads as u32);
        let kernel = SourceKernel::new(kernel, CubeDim::new_1d(INVOCATIONS as u32));
        client.launch(Box::new(kernel), count, arguments);
        CubeTensor::new_contiguous(client, q.device.clone(), shape, out, DType::F32)
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::model::affine_transform::attend_plain;
    use crate::model::attention_fixture as fixture;
    use crate::model::kernels::with_plain_ops;
    use crate::model::tables::{PositionIndex, ShiftMask};
    use burn::tensor::{Device, DeviceKind, Distribution, TensorData, Tolerance};

    fn wgpu() -> Device {
        Device::wgpu(DeviceKind::DefaultDevice)
    }

    /// Largest magnitude of `t`: a kernel that failed validation reads back zeros.
    fn assert_nontrivial(t: &Tensor<4>) {
        let max = t.clone().abs().max().into_scalar::<f32>();
        assert!(max > 1e-3, "the fused output is all zeros (largest magnitude {max})");
    }

    /// The kernel against its plain-ops twin (Burn's attention op) on shapes that cross its
    /// 64-query blocks and its key tiles, with region ids that mask the last window only, and on
    /// GRL-B's head dim of 30; the twin gathers the bias by the index's table of values.
    #[test]
    fn gpu_kernel_matches_its_plain_ops_twin() {
        let device = wgpu();
        let windows = 4;
        for (heads, query, key, d, d_v) in [(2, [9, 10], [10, 10], 8, 5), (3, [7, 10], [11, 12], 30, 30)] {
            let rule = RelativeIndex { query, key };
            let (n_q, n_k) = rule.tokens();
            let ids = |n: usize| {
                let values: Vec<i64> = (0..windows * n).map(|i| if i / n == 3 && i % n >= n / 2 { 1 } else { 0 }).collect();
                Tensor::<2, Int>::from_data(TensorData::new(values, [windows, n]), &device)
            };
            let mask = ShiftMask::new([2, 2], ids(n_q), ids(n_k));
            let random = |shape: [usize; 4]| Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &device);
            let (q, k, v) = (random([2 * windows, heads, n_q, d]), random([2 * windows, heads, n_k, d]), random([2 * windows, heads, n_k, d_v]));
            let per_entry = Tensor::<2>::random([rule.table_len(), heads], Distribution::Uniform(0.0, 16.0), &device);
            let index = PositionIndex::new(rule, &device).tensor();
            assert_eq!(unsupported(&q, &v, rule), None);
            let bias = per_entry.clone().select(0, index).reshape([n_q, n_k, heads]).permute([2, 0, 1]);
            for shift in [None, Some(&mask)] {
                let fused = attend(q.clone(), k.clone(), v.clone(), per_entry.clone(), rule, shift.map(ShiftMask::ids));
                let plain = attend_plain(q.clone(), k.clone(), v.clone(), bias.clone(), shift);
                assert_eq!(fused.dims(), [2 * windows, heads, n_q, d_v]);
                assert_nontrivial(&fused);
                fused.into_data().assert_approx_eq::<f32>(&plain.into_data(), Tolerance::rel_abs(1e-4, 1e-5));
            }
        }
    }

    /// Window (plain, shifted) and stripe (horizontal, shifted vertical) attention on wgpu, fused
    /// and plain, against each other and against values computed from GRL.md's equations.
    #[test]
    fn fused_and_plain_match_the_attention_fixture_on_wgpu() {
        let device = wgpu();
        let tables = fixture::tables(&device);
        for name in fixture::CASES {
            let fused = fixture::forward(name, &tables, &device);
            let plain = with_plain_ops(|| fixture::forward(name, &tables, &device));
            assert_nontrivial(&fused.clone().unsqueeze());
            fused.clone().into_data().assert_approx_eq::<f32>(&plain.into_data(), Tolerance::rel_abs(1e-4, 1e-5));
            fixture::assert_matches(fused, name);
        }
    }

    #[test]
    fn unsupported_shapes_are_named() {
        let device = Device::flex();
        let index = RelativeIndex { query: [2, 2], key: [2, 2] };
        let t = |d: usize| Tensor::<4>::zeros([1, 1, 4, d], &device);
        assert_eq!(unsupported(&t(64), &t(64), index), None);
        assert!(unsupported(&t(65), &t(8), index).unwrap().contains("head dims 65 and 8"));
        let odd = Tensor::<4>::zeros([1, 1, 3, 8], &device);
        let three_keys = RelativeIndex { query: [2, 2], key: [1, 3] };
        assert!(unsupported(&t(8), &odd, three_keys).unwrap().contains("3 keys"));
        assert!(unsupported(&t(8), &t(8), three_keys).unwrap().contains("an index of (4, 3) tokens for 4 x 4"));
    }
}
