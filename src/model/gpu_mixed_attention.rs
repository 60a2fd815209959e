//! [`MixedAttention`] on the fused WGSL kernel (wgpu natively, WebGPU in the browser): each
//! branch's q, k and v are projected apart, when it runs, and read straight out of those token
//! maps through the roll and the window partition ([`super::gpu_attention::Layout`]),
//! normalised and scaled inside the kernel: no roll, partition, split, normalisation or merge
//! copies on the device. Each branch writes a map of its own, `[B, H * W, C / 2]`, allocated when
//! its last launch runs, and the two are concatenated for the output projection: one copy of a
//! token map, where one output map for both branches would be held through all their launches
//! (the peak of the block). The anchored stripe branch's intermediate `Z` lives as a map of the
//! anchors' shape.
//!
//! The plain-ops twin is [`MixedAttention::forward`]'s path through
//! [`super::window_attention`] and [`super::stripe_attention`]; the tests compare the two.

use burn::tensor::{Device, Tensor};

use super::affine_transform::AffineTransform;
use super::gpu_attention::{Call, Layout, WindowGrid, launch, unsupported};
use super::intermediates::{Probe, record_map};
use super::mixed_attention::MixedAttention;
use super::stripe_attention::AnchorStripeAttention;
use super::tables::{CoordTable, StripeTables, TableIndexMask, WindowTables};
use super::window_attention::WindowAttention;
use crate::Size;

/// Where one branch's q, k and v lie, `[B, H * W, ...]` token maps of `size`: packed in one
/// projection output `[B, H * W, 3 * heads * head_dim]` (component `j` of head `h` of part `p`,
/// 0 q, 1 k, 2 v, at channel `(p * heads + h) * head_dim + j`), or split, three maps
/// `[B, H * W, heads * head_dim]`.
#[derive(Clone, Copy, Debug)]
pub struct Packed {
    pub batch: usize,
    pub size: Size,
    pub heads: usize,
    pub head_dim: usize,
    pub split: bool,
}

impl Packed {
    /// The packing of `qkv` (`[B, H * W, 3 * c]`, `H x W` = `size`) into `heads` heads.
    fn of(qkv: &Tensor<3>, size: Size, heads: usize) -> Self {
        let [batch, _, c3] = qkv.dims();
        Packed { batch, size, heads, head_dim: c3 / 3 / heads, split: false }
    }

    /// Where the branch's output lies: a token map `[B, H * W, heads * head_dim]` of its own.
    fn output(&self) -> Layout {
        Layout::map(self.size, self.heads * self.head_dim, 0, self.head_dim)
    }

    /// Where part `part` lies.
    fn part(&self, part: usize) -> Layout {
        let width = self.heads * self.head_dim;
        if self.split {
            Layout::map(self.size, width, 0, self.head_dim)
        } else {
            Layout::map(self.size, 3 * width, part * width, self.head_dim)
        }
    }
}

impl MixedAttention {
    /// [`MixedAttention::forward`] on the WGSL kernel, `None` where a branch's shapes are past it
    /// (then the plain ops run).
    ///
    /// # Shapes
    ///
    /// - x: `[B, H * W, C]`
    /// - size: `H x W`, the padded size `tables` was built for
    /// - output: `[B, H * W, C]`
    pub(super) fn forward_gpu(&self, x: &Tensor<3>, size: Size, tables: &TableIndexMask, probe: &mut Option<Probe<'_>>) -> Option<Tensor<3>> {
        let [b, l, c] = x.dims();
        let half = c / 2;
        let branch = |heads: usize| Packed { batch: b, size, heads, head_dim: half / heads, split: true };
        let (window, stripe) = (branch(self.window_attn.num_heads), branch(self.stripe_attn.num_heads));
        let stripe_tables = tables.stripe(self.stripe_attn.orientation);
        let window_call = window_call(&self.window_attn, &window, &tables.window);
        let stripe_calls = stripe_calls(&self.stripe_attn, &stripe, stripe_tables);
        if stripe_calls.iter().chain([&window_call]).any(|call| unsupported(call, x.dtype()).is_some()) {
            return None;
        }
        // Each of q, k and v is projected apart (`[B, L, C / 2]`), when its branch needs it: no
        // allocation is larger than a token map (the GPU pool's pages follow the largest one),
        // and one branch's are held at a time.
        let project = |branch, part| self.qkv.forward_part(x.clone(), branch, part).flatten::<1>(0, 2);
        let window_out = run_window(&self.window_attn, |part| project(0, part), &tables.window, window_call);
        let anchor = self.anchor.forward(x.clone(), size);
        record_map(probe, "anchor", &anchor);
        let stripe_out = run_stripe(&self.stripe_attn, |part| project(1, part), anchor, stripe_tables, stripe_calls);
        let out = Tensor::cat(vec![window_out.reshape([b, l, half]), stripe_out.reshape([b, l, half])], 2);
        Some(self.proj.forward(out))
    }
}

impl WindowAttention {
    /// [`WindowAttention::forward`] on the WGSL kernel, `None` where its shapes are past it.
    ///
    /// # Shapes
    ///
    /// - qkv: `[B, H * W, 3 * c]`; output: `[B, H * W, c]`
    pub(super) fn forward_gpu(&self, qkv: &Tensor<3>, size: Size, tables: &WindowTables) -> Option<Tensor<3>> {
        let [b, l, c3] = qkv.dims();
        let packed = Packed::of(qkv, size, self.num_heads);
        let call = window_call(self, &packed, tables);
        unsupported(&call, qkv.dtype()).is_none().then(|| {
            let qkv = qkv.clone().flatten::<1>(0, 2);
            run_window(self, |_| qkv.clone(), tables, call).reshape([b, l, c3 / 3])
        })
    }
}

impl AnchorStripeAttention {
    /// [`AnchorStripeAttention::forward`] on the WGSL kernel, `None` where its shapes are past it.
    ///
    /// # Shapes
    ///
    /// - qkv: `[B, H * W, 3 * c]`; anchor: `[B, H / df, W / df, c]`; output: `[B, H * W, c]`
    pub(super) fn forward_gpu(&self, qkv: &Tensor<3>, anchor: Tensor<4>, size: Size, tables: &StripeTables) -> Option<Tensor<3>> {
        let [b, l, c3] = qkv.dims();
        let packed = Packed::of(qkv, size, self.num_heads);
        let calls = stripe_calls(self, &packed, tables);
        calls.iter().all(|call| unsupported(call, qkv.dtype()).is_none()).then(|| {
            let qkv = qkv.clone().flatten::<1>(0, 2);
            run_stripe(self, |_| qkv.clone(), anchor, tables, calls).reshape([b, l, c3 / 3])
        })
    }
}

/// The window branch's launch: q, k and v on the (shifted) window grid.
fn window_call(attn: &WindowAttention, qkv: &Packed, tables: &WindowTables) -> Call {
    let (ws, shift) = (tables.window_size, if attn.shift { tables.shift_size } else { 0 });
    let grid = WindowGrid { size: qkv.size, window: [ws, ws], shift: [shift, shift] };
    Call {
        query_grid: grid,
        key_grid: grid,
        q: qkv.part(0),
        k: qkv.part(1),
        v: qkv.part(2),
        out: qkv.output(),
        sources: if qkv.split { [0, 1, 2] } else { [0, 0, 0] },
        items: qkv.batch * grid.windows(),
        heads: qkv.heads,
        d: qkv.head_dim,
        d_v: qkv.head_dim,
        index: tables.index.rule(),
        id_windows: attn.shift.then(|| grid.windows()),
    }
}

/// The stripe branch's two launches: the anchors over the stripe's keys (sources: the
/// anchor map, then k and v; output `Z`, a map of the anchors' shape), then the stripe's
/// queries over the anchors (sources: q, the anchor map, `Z`).
fn stripe_calls(attn: &AnchorStripeAttention, qkv: &Packed, tables: &StripeTables) -> [Call; 2] {
    let shifted = |shift: [usize; 2]| if attn.shift { shift } else { [0, 0] };
    let grid = WindowGrid { size: qkv.size, window: tables.geometry.size, shift: shifted(tables.geometry.shift) };
    // The anchors are the map pooled by df, the stripe's size over the anchor stripe's.
    let df = tables.geometry.size[0] / tables.anchor_size[0];
    let anchor_size = Size { height: qkv.size.height / df, width: qkv.size.width / df };
    let anchor_grid = WindowGrid { size: anchor_size, window: tables.anchor_size, shift: shifted(tables.anchor_shift) };
    let (items, heads, d) = (qkv.batch * grid.windows(), qkv.heads, qkv.head_dim);
    let anchors = Layout::map(anchor_size, heads * d, 0, d);
    let a2w = Call {
        query_grid: anchor_grid,
        key_grid: grid,
        q: anchors,
        k: qkv.part(1),
        v: qkv.part(2),
        out: anchors,
        sources: [0, 1, if qkv.split { 2 } else { 1 }],
        items,
        heads,
        d,
        d_v: d,
        index: tables.index_a2w.rule(),
        id_windows: attn.shift.then(|| grid.windows()),
    };
    let w2a = Call {
        query_grid: grid,
        key_grid: anchor_grid,
        q: qkv.part(0),
        k: anchors,
        v: anchors,
        out: qkv.output(),
        sources: [0, 1, 2],
        index: tables.index_w2a.rule(),
        ..a2w
    };
    [a2w, w2a]
}

/// The output a launch writes, a token map `[B, H * W, stride]` (as `call.out` says), allocated
/// only when the launch is about to run: an allocation made earlier would hold its bytes through
/// the launches before.
fn output(call: &Call, device: &Device) -> Tensor<1> {
    let images = call.items / call.query_grid.windows();
    Tensor::empty([images * call.out.image], device)
}

/// Runs the window branch's launch (the mask's ids are read only when the call says the windows
/// are shifted). `qkv(p)` gives the tensor part `p` (0 q, 1 k, 2 v) is read from, as the call's
/// [`Packed`] says.
fn run_window(attn: &WindowAttention, qkv: impl Fn(usize) -> Tensor<1>, tables: &WindowTables, call: Call) -> Tensor<1> {
    let transform = &attn.attn_transform;
    let sources = [0, 1, 2].map(qkv);
    let out = output(&call, &sources[0].device());
    launch(sources, bias(transform, &tables.table), temperature(transform), tables.mask.kernel_ids(), out, call)
}

/// Runs the stripe branch's two launches: k and v are asked for before the first, q and the
/// output before the second (`qkv(p)` as in [`run_window`]).
///
/// # Shapes
///
/// - anchor: `[B, H / df, W / df, c]`
fn run_stripe(attn: &AnchorStripeAttention, qkv: impl Fn(usize) -> Tensor<1>, anchor: Tensor<4>, tables: &StripeTables, [a2w, w2a]: [Call; 2]) -> Tensor<1> {
    let [_, height, width, _] = anchor.dims();
    debug_assert_eq!(Size { height, width }, a2w.query_grid.size, "anchors of the size the launches were built for");
    let anchor = anchor.flatten::<1>(0, 3);
    let z = Tensor::<1>::empty(anchor.dims(), &anchor.device());
    let (first, second) = (&attn.attn_transform1, &attn.attn_transform2);
    let sources = [anchor.clone(), qkv(1), qkv(2)];
    let z = launch(sources, bias(first, &tables.table), temperature(first), tables.mask_a2w.kernel_ids(), z, a2w);
    let sources = [qkv(0), anchor, z];
    let out = output(&w2a, &sources[0].device());
    launch(sources, bias(second, &tables.table), temperature(second), tables.mask_w2a.kernel_ids(), out, w2a)
}

/// The transform's per-entry biases `[T, heads]` (cached per table).
fn bias(transform: &AffineTransform, table: &CoordTable) -> Tensor<2> {
    transform.cached_bias_per_entry(table)
}

/// The transform's temperatures, `[heads]`.
fn temperature(transform: &AffineTransform) -> Tensor<1> {
    transform.temperature().flatten(0, 3)
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::model::kernels::with_plain_ops;
    use crate::model::mixed_attention::every_variant;
    use burn::tensor::{Device, DeviceKind, Distribution, Tolerance};

    /// The kernel's route against its plain-ops twin on wgpu, for every combination of shifts
    /// and both stripe orientations, on a batch of two: both branches write into one map.
    #[test]
    fn gpu_route_matches_its_plain_ops_twin() {
        let device = Device::wgpu(DeviceKind::DefaultDevice);
        let (_, tables) = crate::model::tables::small_test_tables(&device);
        let x = Tensor::<3>::random([2, 128, 16], Distribution::Normal(0.0, 1.0), &device);
        for attn in every_variant(&device) {
            let fused = attn.forward_gpu(&x, tables.input_size, &tables, &mut None).expect("the kernel takes these shapes");
            let plain = with_plain_ops(|| attn.forward(x.clone(), tables.input_size, &tables, None));
            let largest = fused.clone().abs().max().into_scalar::<f32>();
            assert!(largest > 1e-3, "the fused output is all zeros (largest magnitude {largest})");
            fused.into_data().assert_approx_eq::<f32>(&plain.into_data(), Tolerance::absolute(1e-5));
        }
    }
}
