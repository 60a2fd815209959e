//! Fused attention on wgpu (natively and in the browser): `softmax(t q̂ k̂ᵀ + bias + mask) v` for
//! every (window, head) in one WGSL kernel, `shaders/attention.wgsl`: q and k l2-normalised as
//! they are loaded and q scaled by its head's temperature `t`, the bias gathered from the
//! per-entry table at relative-position entries computed from the token positions (no index
//! table on the device), the shift mask computed from region ids inside the kernel, an online
//! (flash-style) softmax, and K/V tiles in workgroup memory: no N x N map is read or written.
//!
//! The kernel reads its operands where they lie ([`Layout`] and [`WindowGrid`]): straight out of
//! the projection's packed `[B, H * W, 3C]` output, through the roll and the window partition,
//! and writes its rows into a token map through the reverse of both (`super::gpu_mixed_attention`), so that no
//! rolled, partitioned, split, normalised or merged copy is made; [`attend`] takes window-layout
//! tensors `[B', heads, n, d]` (the grid of one window).
//!
//! Burn's `attention` on wgpu goes to its fallback whenever there is a bias (GRL always has one):
//! two matrix products and about nine passes over the `[windows x heads, N, N]` scores, 4 MiB per
//! window and head for GRL's 32 x 32 windows. The plain-ops twin is
//! [`super::affine_transform::attend_plain`] after [`super::affine_transform::l2_normalize`];
//! the tests compare the two on the attention fixture and the parity suite runs whole models
//! through this path on wgpu.
//!
//! Launched through Burn's backend extension on its CubeCL backend, as raw WGSL
//! (`KernelSource`): f32 only, no optional WebGPU feature, at most [`MAX_HEAD_DIM`] channels per
//! head; [`unsupported`] says why anything else takes the plain path.

use burn::backend::tensor::{FloatTensor, IntTensor};
use burn::backend::wgpu::{CubeBackend, CubeTensor, KernelSource, SourceKernel, SourceTemplate, into_contiguous};
use burn::backend::{Backend, Dispatch, backend_extension};
use burn::tensor::{DType, Int, Tensor};
use cubecl::prelude::KernelId;
use cubecl::server::KernelArguments;
use cubecl::{CubeCount, CubeDim};

use super::cpu_attention::RegionIds;
pub use super::cpu_windows::WindowGrid;
use super::gpu_attention_call::PARAMS_BYTES;
pub use super::gpu_attention_call::{Call, Layout};
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

/// The kernel as a Burn backend operation (CubeCL backends: wgpu, WebGPU; with the `gpu-fusion`
/// feature, an opaque operation in Burn's fusion stream, its output shaped like `out`).
#[backend_extension(Cube, Fusion: cfg(feature = "gpu-fusion"))]
pub trait FusedAttentionBackend: Backend {
    /// Runs `call`: q, k and v from the source tensors `sources` (unused ones are
    /// placeholders), the output written into `out` in place, which it returns. `per_entry`
    /// `[T, heads]`, `scale` `[heads]` (the temperatures); `ids` holds the query ids
    /// `[nW * n_q]` then the key ids `[nW * n_k]`, read only when masked.
    #[fusion(dtype = source0, shape = out)]
    fn fused_attention(
        source0: FloatTensor<Self>,
        source1: FloatTensor<Self>,
        source2: FloatTensor<Self>,
        per_entry: FloatTensor<Self>,
        scale: FloatTensor<Self>,
        ids: IntTensor<Self>,
        out: FloatTensor<Self>,
        call: Call,
    ) -> FloatTensor<Self>;
}

/// Why the kernel cannot run `call` on `dtype` operands, `None` when it can.
pub fn unsupported(call: &Call, dtype: DType) -> Option<String> {
    let Call { d, d_v, items, heads, index, .. } = *call;
    let (n_q, n_k) = index.tokens();
    if dtype != DType::F32 {
        return Some(format!("the kernel is f32 only, got {dtype:?}"));
    }
    if (call.query_grid.window, call.key_grid.window) != (index.query, index.key) {
        return Some(format!("windows {:?} and {:?} for an index of {index:?}", call.query_grid.window, call.key_grid.window));
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
    if items > MAX_WORKGROUPS || heads > MAX_WORKGROUPS || n_q.div_ceil(INVOCATIONS) > MAX_WORKGROUPS || n_q * n_k == 0 {
        return Some(format!("{items} windows, {heads} heads, {n_q} x {n_k} tokens: past the workgroup grid"));
    }
    None
}

/// [`launch`] on window-layout tensors: `softmax(t q̂ k̂ᵀ + per_entry[index(i, j)] + mask) v`.
/// Call only where [`unsupported`] of [`Call::windows`] is `None` and the device is a CubeCL
/// (wgpu) one.
///
/// # Shapes
///
/// - q: `[B * nW, heads, n_q, d]` (raw: the kernel normalises), windows row-major within each
///   image; k: `[B * nW, heads, n_k, d]` (raw); v: `[B * nW, heads, n_k, d_v]`
/// - per_entry: `[T, heads]`, `T = index.table_len()`; temperature: `[heads]`
/// - ids: `[nW, n_q]` and `[nW, n_k]`
/// - output: `[B * nW, heads, n_q, d_v]`
pub fn attend(
    q: Tensor<4>,
    k: Tensor<4>,
    v: Tensor<4>,
    per_entry: Tensor<2>,
    temperature: Tensor<1>,
    index: RelativeIndex,
    ids: Option<RegionIds<'_>>,
) -> Tensor<4> {
    let [items, heads, n_q, d] = q.dims();
    let d_v = v.dims()[3];
    let call = Call::windows(items, heads, [d, d_v], index, ids.as_ref().map(|ids| ids.query.dims()[0]));
    let out = Tensor::<1>::empty([items * heads * n_q * d_v], &q.device());
    // Unmasked, a placeholder the kernel never reads.
    let ids = ids.map_or_else(|| Tensor::<1, Int>::zeros([4], &q.device()).cast(DType::I32), kernel_ids);
    let flat = |t: Tensor<4>| t.flatten::<1>(0, 3);
    launch([flat(q), flat(k), flat(v)], per_entry, temperature, ids, out, call).reshape([items, heads, n_q, d_v])
}

/// Runs `call` on the kernel: q, k and v read from `sources` as `call.sources` says, the output
/// written into `out`, which is returned (its other values untouched). Call only where
/// [`unsupported`] is `None` and the device is a CubeCL (wgpu) one.
///
/// # Shapes
///
/// - sources, out: flat buffers holding the operands as `call`'s layouts say
/// - per_entry: `[T, heads]`; temperature: `[heads]`
/// - ids: [`kernel_ids`], read only when `call.id_windows` is set (else any int tensor)
pub fn launch(
    sources: [Tensor<1>; 3],
    per_entry: Tensor<2>,
    temperature: Tensor<1>,
    ids: Tensor<1, Int>,
    out: Tensor<1>,
    call: Call,
) -> Tensor<1> {
    let [s0, s1, s2] = sources.map(Tensor::into_dispatch);
    let out = Dispatch::fused_attention(
        s0,
        s1,
        s2,
        per_entry.into_dispatch(),
        temperature.into_dispatch(),
        ids.into_dispatch(),
        out.into_dispatch(),
        call,
    );
    Tensor::from_dispatch(out)
}

/// The region ids of a shift mask as the kernel reads them: one buffer of both (a new one:
/// WebGPU refuses two writable bindings of one range, and the query and key ids are often one
/// tensor), as i32.
///
/// # Shapes
///
/// - ids: `[nW, n_q]` and `[nW, n_k]`; output: `[nW * (n_q + n_k)]`
pub fn kernel_ids(ids: RegionIds<'_>) -> Tensor<1, Int> {
    Tensor::cat(vec![ids.query.clone().flatten::<1>(0, 1), ids.key.clone().flatten::<1>(0, 1)], 0).cast(DType::I32)
}

/// `shaders/attention.wgsl` for one set of sizes and source bindings (each set compiles once).
struct AttentionKernel {
    d: usize,
    d_v: usize,
    /// Query rows per invocation.
    rows: usize,
    /// Keys per tile in workgroup memory.
    keys: usize,
    /// The source binding each of q, k and v reads.
    sources: [usize; 3],
}

impl AttentionKernel {
    fn new(d: usize, d_v: usize, sources: [usize; 3]) -> Self {
        // K and V rows as vec4s of channels, a key's region id and its part of the entry.
        let row_bytes = (d.div_ceil(4) + d_v.div_ceil(4)) * 16 + 8;
        // The largest key tile that fits in workgroup memory beside the parameters.
        let keys = [64, 32, 16, 8].into_iter().find(|&keys| keys * row_bytes + PARAMS_BYTES <= WORKGROUP_BYTES).unwrap_or(4);
        // Each key row read serves `rows` queries; their q, sums and outputs stay in registers.
        let vec4s = d.div_ceil(4) + d_v.div_ceil(4);
        let rows = if vec4s <= 8 { 4 } else if vec4s <= 16 { 2 } else { 1 };
        AttentionKernel { d, d_v, rows, keys, sources }
    }

    /// Query rows per workgroup.
    fn query_block(&self) -> usize {
        INVOCATIONS * self.rows
    }

    /// The source buffers' declarations: bindings 5 onwards, one per distinct source.
    fn source_bindings(&self) -> String {
        let count = self.sources.iter().max().map_or(0, |&s| s + 1);
        (0..count)
            .map(|i| format!("@group(0) @binding({}) var<storage, read_write> source{i}: array<f32>;\n", 5 + i))
            .collect()
    }
}

impl KernelSource for AttentionKernel {
    fn source(&self) -> SourceTemplate {
        let [q, k, v] = self.sources.map(|s| format!("source{s}"));
        SourceTemplate::new(include_str!("../../shaders/attention.wgsl"))
            .register("d", self.d.to_string())
            .register("dv", self.d_v.to_string())
            .register("bq", INVOCATIONS.to_string())
            .register("rows", self.rows.to_string())
            .register("bk", self.keys.to_string())
            .register("sources", self.source_bindings())
            .register("q_source", q)
            .register("k_source", k)
            .register("v_source", v)
    }

    fn id(&self) -> KernelId {
        KernelId::new::<Self>().info((self.d, self.d_v, self.rows, self.keys, self.sources))
    }

    fn lang(&self) -> &'static str {
        "wgsl"
    }
}

impl FusedAttentionBackend for CubeBackend {
    fn fused_attention(
        source0: CubeTensor,
        source1: CubeTensor,
        source2: CubeTensor,
        per_entry: CubeTensor,
        scale: CubeTensor,
        ids: CubeTensor,
        out: CubeTensor,
        call: Call,
    ) -> CubeTensor {
        // The kernel writes in place: into `out` where it is contiguous and no other tensor
        // shares its buffer, else into a copy (under parallel tests a fresh `empty` was seen
        // shared, about one run in four).
        let out = match (out.is_contiguous(), out.can_mut()) {
            (true, true) => out,
            (true, false) => out.copy(),
            (false, _) => into_contiguous(out),
        };
        let sources = [source0, source1, source2].map(into_contiguous);
        let [per_entry, scale, ids] = [per_entry, scale, ids].map(into_contiguous);
        // Source binding i is the tensor of the first operand that reads it.
        let bound = (0..call.source_count()).map(|i| {
            let operand = call.sources.iter().position(|&s| s == i).expect("sources numbered in order of first use");
            sources[operand].handle.clone().binding()
        });
        let client = out.client.clone();
        let params: Vec<u8> = call.params().iter().flat_map(|p| p.to_le_bytes()).collect();
        let params = client.create_from_slice(&params);
        let arguments = KernelArguments::new()
            .with_buffers([&per_entry, &scale, &ids, &out].map(|t| t.handle.clone().binding()).to_vec())
            .with_buffer(params.binding())
            .with_buffers(bound.collect());
        let kernel = AttentionKernel::new(call.d, call.d_v, call.sources);
        let (n_q, _) = call.index.tokens();
        let count = CubeCount::Static(n_q.div_ceil(kernel.query_block()) as u32, call.items as u32, call.heads as u32);
        client.launch(Box::new(SourceKernel::new(kernel, CubeDim::new_1d(INVOCATIONS as u32))), count, arguments);
        out
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::model::affine_transform::{attend_plain, l2_normalize};
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

    /// The kernel against its plain-ops twin (Burn's attention op after the normalisation) on
    /// shapes that cross its 64-query blocks and its key tiles, with region ids that mask the
    /// last window only, and on GRL-B's head dim of 30; the twin gathers the bias by the index's
    /// table of values.
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
            // Up to 30 (the reference starts at 10): at 100, cosines good to f32 (1e-7) move outputs by 1e-5.
            let temperature = Tensor::<1>::random([heads], Distribution::Uniform(1.0, 30.0), &device);
            let index = PositionIndex::new(rule, &device).tensor();
            assert_eq!(unsupported(&Call::windows(2 * windows, heads, [d, d_v], rule, Some(windows)), DType::F32), None);
            let bias = per_entry.clone().select(0, index).reshape([n_q, n_k, heads]).permute([2, 0, 1]);
            let scaled = l2_normalize(q.clone()) * temperature.clone().reshape([1, heads, 1, 1]);
            for shift in [None, Some(&mask)] {
                let fused = attend(q.clone(), k.clone(), v.clone(), per_entry.clone(), temperature.clone(), rule, shift.map(ShiftMask::ids));
                let plain = attend_plain(scaled.clone(), l2_normalize(k.clone()), v.clone(), bias.clone(), shift);
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
        let index = RelativeIndex { query: [2, 2], key: [2, 2] };
        let call = |d: usize, d_v: usize, index| Call::windows(1, 1, [d, d_v], index, None);
        assert_eq!(unsupported(&call(64, 64, index), DType::F32), None);
        assert!(unsupported(&call(65, 8, index), DType::F32).unwrap().contains("head dims 65 and 8"));
        assert!(unsupported(&call(8, 8, index), DType::F16).unwrap().contains("f32 only"));
        let three_keys = RelativeIndex { query: [2, 2], key: [1, 3] };
        assert!(unsupported(&call(8, 8, three_keys), DType::F32).unwrap().contains("3 keys"));
        let other = Call { key_grid: call(8, 8, three_keys).key_grid, ..call(8, 8, index) };
        assert!(unsupported(&other, DType::F32).unwrap().contains("windows [2, 2] and [1, 3]"));
    }
}
