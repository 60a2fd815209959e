//! [`MixedAttention`] on the fused CPU kernels: both branches read their q, k and v straight
//! out of the shared projection's output ([`cpu_windows::gather`], normalised on the way), the
//! attention runs on [`cpu_attention::attend_slices`] with the temperature as its scale and the
//! bias read through the index tables, and each branch writes its half of the output channels
//! in place ([`cpu_windows::scatter`]): no roll, partition, split, slice or concatenation
//! copies, no gathered `[heads, N, N]` bias.
//!
//! The plain-ops twin is [`MixedAttention::forward`]'s path through
//! [`super::window_attention`] and [`super::stripe_attention`]; the tests compare the two.

use burn::tensor::{Tensor, TensorData};

use super::affine_transform::AffineTransform;
use super::cpu_attention::{Dims, Operands, RegionIds, attend_slices, entries_by_head, floats};
use super::cpu_linear::{Activation, linear_slice};
use super::cpu_values::with_values;
use super::cpu_windows::{Channels, WindowGrid, gather, scatter};
use super::intermediates::{Probe, record_map};
use super::mixed_attention::MixedAttention;
use super::stripe_attention::AnchorStripeAttention;
use super::tables::{CoordTable, PositionIndex, StripeTables, TableIndexMask, WindowTables};
use super::window_attention::WindowAttention;
use crate::Size;

/// One branch's packed q, k and v in the projection's output `[B, H * W, stride]`: component
/// `j` of head `h` of part `p` (0 q, 1 k, 2 v) is channel `offset + (p * heads + h) * head_dim + j`.
struct Packed<'a> {
    map: &'a [f32],
    stride: usize,
    offset: usize,
    heads: usize,
    head_dim: usize,
}

impl Packed<'_> {
    fn part(&self, part: usize) -> Channels {
        let Packed { stride, offset, heads, head_dim, .. } = *self;
        Channels { stride, offset: offset + part * heads * head_dim, heads, head_dim }
    }

    /// q and k normalised, v as it is: `[B * nW, heads, N, head_dim]` each.
    fn gather_qkv(&self, grid: &WindowGrid) -> [Vec<f32>; 3] {
        [(0, true), (1, true), (2, false)].map(|(part, normalise)| gather(self.map, grid, self.part(part), normalise))
    }
}

impl MixedAttention {
    /// [`MixedAttention::forward`] on the fused CPU kernels.
    ///
    /// # Shapes
    ///
    /// - x: `[B, H * W, C]`
    /// - size: `H x W`, the padded size `tables` was built for
    /// - output: `[B, H * W, C]`
    pub(super) fn forward_cpu(&self, x: Tensor<3>, size: Size, tables: &TableIndexMask, mut probe: Option<Probe<'_>>) -> Tensor<3> {
        let device = x.device();
        let [b, l, c] = x.dims();
        let qkv = with_values(&x, |values| linear_slice(&self.qkv.body, values, Activation::Identity));
        let anchor = self.anchor.forward(x, size);
        record_map(&mut probe, "anchor", &anchor);

        let half = c / 2;
        let branch = |offset, heads: usize| Packed { map: &qkv, stride: 3 * c, offset, heads, head_dim: half / heads };
        let mut out = vec![0.0f32; b * l * c];
        let window = branch(0, self.window_attn.num_heads);
        let (y, grid) = window_branch(&self.window_attn, &window, size, &tables.window);
        scatter(&y, &grid, Channels { stride: c, offset: 0, ..window.part(0) }, &mut out);
        let stripe = branch(3 * half, self.stripe_attn.num_heads);
        let stripe_tables = tables.stripe(self.stripe_attn.orientation);
        let (y, grid) = stripe_branch(&self.stripe_attn, &stripe, anchor, size, stripe_tables);
        scatter(&y, &grid, Channels { stride: c, offset: half, ..stripe.part(0) }, &mut out);
        let out = linear_slice(&self.proj, &out, Activation::Identity);
        Tensor::from_data(TensorData::new(out, [b, l, c]), &device)
    }
}

/// The window branch ([`WindowAttention::forward`]): its output in window layout, and the grid
/// to write it back with.
fn window_branch(attn: &WindowAttention, qkv: &Packed<'_>, size: Size, tables: &WindowTables) -> (Vec<f32>, WindowGrid) {
    let (ws, shift) = (tables.window_size, if attn.shift { tables.shift_size } else { 0 });
    let grid = WindowGrid { size, window: [ws, ws], shift: [shift, shift] };
    let [q, k, v] = qkv.gather_qkv(&grid);
    let (n, d) = (grid.tokens(), qkv.head_dim);
    let dims = Dims { windows: q.len() / (qkv.heads * n * d), heads: qkv.heads, n_q: n, n_k: n, d, d_v: d };
    let ids = attn.shift.then(|| tables.mask.ids());
    (attend(&attn.attn_transform, [&q, &k, &v], dims, &tables.table, &tables.index, ids), grid)
}

/// The anchored stripe branch ([`AnchorStripeAttention::forward`]): the anchors attend to the
/// stripe, then the stripe to the anchors; its output in stripe layout, and the grid.
///
/// # Shapes
///
/// - anchor: `[B, H / df, W / df, C / 2]`
fn stripe_branch(
    attn: &AnchorStripeAttention,
    qkv: &Packed<'_>,
    anchor: Tensor<4>,
    size: Size,
    tables: &StripeTables,
) -> (Vec<f32>, WindowGrid) {
    let [_, height, width, _] = anchor.dims();
    let shifted = |shift: [usize; 2]| if attn.shift { shift } else { [0, 0] };
    let grid = WindowGrid { size, window: tables.geometry.size, shift: shifted(tables.geometry.shift) };
    let anchor_grid = WindowGrid { size: Size { height, width }, window: tables.anchor_size, shift: shifted(tables.anchor_shift) };
    assert_eq!(grid.windows(), anchor_grid.windows(), "one anchor window per stripe");
    let [q, k, v] = qkv.gather_qkv(&grid);
    let (heads, d) = (qkv.heads, qkv.head_dim);
    let a = with_values(&anchor, |anchor| gather(anchor, &anchor_grid, Channels { stride: heads * d, offset: 0, heads, head_dim: d }, true));
    let (n_s, n_a) = (grid.tokens(), anchor_grid.tokens());
    let windows = q.len() / (heads * n_s * d);
    let a2w = Dims { windows, heads, n_q: n_a, n_k: n_s, d, d_v: d };
    let z = attend(&attn.attn_transform1, [&a, &k, &v], a2w, &tables.table, &tables.index_a2w, attn.shift.then(|| tables.mask_a2w.ids()));
    let w2a = Dims { windows, heads, n_q: n_s, n_k: n_a, d, d_v: d };
    let y = attend(&attn.attn_transform2, [&q, &a, &z], w2a, &tables.table, &tables.index_w2a, attn.shift.then(|| tables.mask_w2a.ids()));
    (y, grid)
}

/// One attention call of `transform` on window-layout operands: q and k normalised, the
/// temperature applied as the kernel's scale, the bias read from the per-entry values (of the
/// coordinate table, kept in its cache).
fn attend(
    transform: &AffineTransform,
    [q, k, v]: [&[f32]; 3],
    dims: Dims,
    table: &CoordTable,
    index: &PositionIndex,
    ids: Option<RegionIds<'_>>,
) -> Vec<f32> {
    let scale = floats(transform.temperature().into_data());
    let entries = entries_by_head(transform.cached_bias_per_entry(table));
    attend_slices(Operands { q, k, v, entries: &entries, index: index.values(), scale: &scale }, dims, ids)
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::model::kernels::with_plain_ops;
    use crate::model::mixed_attention::every_variant;
    use burn::tensor::{Device, Distribution, Tolerance};

    /// The fused route against its plain-ops twin, for every combination of shifts and both
    /// stripe orientations, on a batch of two.
    #[test]
    fn fused_route_matches_its_plain_ops_twin() {
        let device = Device::flex();
        let (_, tables) = crate::model::tables::small_test_tables(&device);
        let x = Tensor::<3>::random([2, 128, 16], Distribution::Normal(0.0, 1.0), &device);
        for attn in every_variant(&device) {
            let fused = attn.forward(x.clone(), tables.input_size, &tables, None);
            let plain = with_plain_ops(|| attn.forward(x.clone(), tables.input_size, &tables, None));
            fused.into_data().assert_approx_eq::<f32>(&plain.into_data(), Tolerance::absolute(1e-5));
        }
    }
}
