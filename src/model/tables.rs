//! Relative-coordinate tables, relative-position indices and shift masks.
//!
//! They depend only on the configuration and on the padded input size, so they are computed
//! (never loaded) once per padded shape: [`TableIndexMask::new`] builds all of them, and the
//! model takes them as an argument, so a caller that runs many tiles of one shape builds them
//! once. The pure functions return plain `Vec`s (row-major) and are unit-tested on hand-worked
//! cases; the masks are built on the device from small region-id tensors, and only for the
//! windows that need one ([`ShiftMask`]): a full mask is large (`nW * N * N` values, 256 MiB
//! for a 256x256 input with 32x32 windows) and zero everywhere but in the last row and the
//! last column of windows.

use burn::tensor::{Device, Int, Tensor, TensorData};

use super::config::GrlConfig;

/// Value added to the attention logits of token pairs from different regions of a shifted
/// window (Swin's convention; not `-inf`, so it is part of the computation to reproduce).
pub const MASK_VALUE: f64 = -100.0;

/// Stripe size and shift size on each axis, for one stripe orientation and input size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StripeGeometry {
    /// Stripe (height, width) in pixels.
    pub size: [usize; 2],
    /// Shift (height, width) applied when the block shifts its stripes.
    pub shift: [usize; 2],
}

/// The stripe geometry for an input of `input` pixels (reference `_get_stripe_info` with
/// `stripe_shift = True`): an axis with a group count g spans `input / g` pixels and shifts by
/// `input / (2 g)` (0 when g is 1); otherwise the stripe size s is used and shifts by `s / 2`.
///
/// # Panics
///
/// If an axis has neither a size nor a group count ([`GrlConfig::validate`] rejects that).
pub fn stripe_geometry(size: [Option<usize>; 2], groups: [Option<usize>; 2], input: [usize; 2]) -> StripeGeometry {
    let mut out = StripeGeometry { size: [0; 2], shift: [0; 2] };
    for axis in 0..2 {
        match groups[axis] {
            Some(g) => {
                out.size[axis] = input[axis] / g;
                out.shift[axis] = if g == 1 { 0 } else { input[axis] / (g * 2) };
            }
            None => {
                let s = size[axis].expect("stripe size or stripe groups must be set on every axis");
                out.size[axis] = s;
                out.shift[axis] = s / 2;
            }
        }
    }
    out
}

/// Relative coordinates between the tokens of a `window` and those of its anchor window
/// (`window / df`), log-spaced (reference `get_relative_coords_table_all`).
///
/// Per axis with `a = w / df`, coordinates run from `-(a - 1) - (w - a) / 2` to
/// `w - 1 - (w - a) / 2`, are divided by the upper end (or by the same quantity computed from
/// `pretrained` when `pretrained[0] > 0`), multiplied by 8 and mapped by
/// `sign(t) * log2(|t| + 1) / 3`. With `df = 1` this is the Swin-V2 table of a square window.
///
/// # Shapes
///
/// - output: `[w0 + a0 - 1, w1 + a1 - 1, 2]`, row-major, the last axis (height, width).
pub fn coords_table(window: [usize; 2], pretrained: [usize; 2], df: usize) -> (Vec<f32>, [usize; 2]) {
    let w = window.map(|w| w as i64);
    let a = window.map(|w| (w / df) as i64);
    let upper = [0, 1].map(|i| w[i] - 1 - (w[i] - a[i]) / 2);
    let lower = [0, 1].map(|i| -(a[i] - 1) - (w[i] - a[i]) / 2);
    let p = pretrained.map(|p| p as i64);
    let pa = pretrained.map(|p| (p / df) as i64);
    let pretrained_upper = [0, 1].map(|i| p[i] - 1 - (p[i] - pa[i]) / 2);
    let norm = if pretrained_upper[0] > 0 { pretrained_upper } else { upper };
    let dims = [0, 1].map(|i| (upper[i] - lower[i] + 1) as usize);

    let log_map = |c: i64, n: i64| -> f32 {
        // The reference's float32 order of operations: c / n, * 8, sign * log2(|t| + 1), / 3.
        let t = (c as f32 / n as f32) * 8.0;
        let sign = if t > 0.0 {
            1.0
        } else if t < 0.0 {
            -1.0
        } else {
            0.0
        };
        sign * (t.abs() + 1.0).log2() / 3.0
    };
    let mut out = Vec::with_capacity(dims[0] * dims[1] * 2);
    for ch in lower[0]..=upper[0] {
        for cw in lower[1]..=upper[1] {
            out.push(log_map(ch, norm[0]));
            out.push(log_map(cw, norm[1]));
        }
    }
    (out, dims)
}

/// Which token set indexes the rows of a relative-position index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexDirection {
    /// Rows are window tokens, columns anchor tokens (queries are window tokens).
    WindowToAnchor,
    /// Rows are anchor tokens, columns window tokens (queries are anchors).
    AnchorToWindow,
}

/// Index of each (query, key) token pair into the flattened [`coords_table`] of `window` and
/// its anchor window `window / df`; both token sets start at coordinate 0 (reference
/// `get_relative_position_index_simple`). With `a = window / df` and row width
/// `a1 + w1 - 1`:
/// - window to anchor: `(wh - ah + a0 - 1) * (a1 + w1 - 1) + (ww - aw + a1 - 1)`
/// - anchor to window: `(ah - wh + w0 - 1) * (a1 + w1 - 1) + (aw - ww + w1 - 1)`
///
/// With `df = 1` this is Swin's `(dh + w - 1) * (2w - 1) + (dw + w - 1)`.
///
/// # Shapes
///
/// - output: `[w0 * w1, a0 * a1]` (window to anchor) or `[a0 * a1, w0 * w1]`, row-major.
pub fn relative_position_index(window: [usize; 2], df: usize, direction: IndexDirection) -> Vec<i64> {
    let w = window.map(|w| w as i64);
    let a = window.map(|w| (w / df) as i64);
    let row_width = a[1] + w[1] - 1;
    let tokens =
        |size: [i64; 2]| -> Vec<(i64, i64)> { (0..size[0]).flat_map(|h| (0..size[1]).map(move |x| (h, x))).collect() };
    let (rows, cols, offset) = match direction {
        IndexDirection::WindowToAnchor => (tokens(w), tokens(a), [a[0] - 1, a[1] - 1]),
        IndexDirection::AnchorToWindow => (tokens(a), tokens(w), [w[0] - 1, w[1] - 1]),
    };
    let mut out = Vec::with_capacity(rows.len() * cols.len());
    for &(rh, rw) in &rows {
        for &(ch, cw) in &cols {
            out.push((rh - ch + offset[0]) * row_width + (rw - cw + offset[1]));
        }
    }
    out
}

/// Python's `slice(start, stop)` on a sequence of `len` items, as a range.
fn py_slice(start: i64, stop: Option<i64>, len: usize) -> std::ops::Range<usize> {
    let len = len as i64;
    let resolve = |i: i64| if i < 0 { (i + len).max(0) } else { i.min(len) };
    let (start, stop) = (resolve(start), stop.map_or(len, resolve));
    start as usize..stop.max(start) as usize
}

/// Region id (0..9) of every token, window by window, for a cyclically shifted partition
/// (reference `_fill_window`): each axis is cut by the slices `[0, -w)`, `[-w, -shift)` and
/// `[-shift, end)` (Python semantics, so a zero shift makes the last slice the whole axis),
/// the id is `3 * region_h + region_w`, and the image is split into `window` tiles.
///
/// # Shapes
///
/// - output: `[nW, w0 * w1]` with `nW = (input0 / w0) * (input1 / w1)`, windows row-major.
pub fn region_ids(input: [usize; 2], window: [usize; 2], shift: [usize; 2]) -> Vec<i64> {
    let axis_regions = |axis: usize| -> Vec<i64> {
        let (n, w, s) = (input[axis], window[axis] as i64, shift[axis] as i64);
        let mut region = vec![0; n];
        let slices = [py_slice(0, Some(-w), n), py_slice(-w, Some(-s), n), py_slice(-s, None, n)];
        for (id, range) in slices.into_iter().enumerate() {
            region[range].fill(id as i64);
        }
        region
    };
    let (rh, rw) = (axis_regions(0), axis_regions(1));
    let (nh, nw) = (input[0] / window[0], input[1] / window[1]);
    let mut out = Vec::with_capacity(nh * nw * window[0] * window[1]);
    for bh in 0..nh {
        for bw in 0..nw {
            for i in 0..window[0] {
                for j in 0..window[1] {
                    out.push(3 * rh[bh * window[0] + i] + rw[bw * window[1] + j]);
                }
            }
        }
    }
    out
}

/// The shift mask from row and column region ids: [`MASK_VALUE`] where the ids differ, 0
/// elsewhere (host version of what [`TableIndexMask`] builds on the device).
///
/// # Shapes
///
/// - rows: `[nW, n_rows]`, cols: `[nW, n_cols]`
/// - output: `[nW, n_rows, n_cols]`
pub fn mask_from_ids(rows: &[i64], cols: &[i64], n_windows: usize) -> Vec<f32> {
    let (nr, nc) = (rows.len() / n_windows, cols.len() / n_windows);
    let mut out = Vec::with_capacity(n_windows * nr * nc);
    for w in 0..n_windows {
        for i in 0..nr {
            for j in 0..nc {
                let differ = rows[w * nr + i] != cols[w * nc + j];
                out.push(if differ { MASK_VALUE as f32 } else { 0.0 });
            }
        }
    }
    out
}

/// Builds the mask on the device from region ids.
///
/// # Shapes
///
/// - rows: `[nW, n_rows]`, cols: `[nW, n_cols]`
/// - output: `[nW, n_rows, n_cols]`
fn device_mask(rows: Tensor<2, Int>, cols: Tensor<2, Int>) -> Tensor<3> {
    let [n, nr] = rows.dims();
    let [_, nc] = cols.dims();
    let rows = rows.unsqueeze_dim::<3>(2).expand([n, nr, nc]);
    let cols = cols.unsqueeze_dim::<3>(1).expand([n, nr, nc]);
    rows.not_equal(cols).float() * MASK_VALUE
}

/// The shift mask of a window partition, kept only where it is not zero.
///
/// A cyclic shift by less than a window only mixes regions inside the windows of the last
/// row and the last column of the partition (Swin's regions are `[0, -w)`, `[-w, -shift)`,
/// `[-shift, end)` on each axis), so every other window has an all-zero mask. The attention
/// ([`super::affine_transform::AffineTransform::forward`]) runs those windows
/// unmasked and only the border windows with these masks.
#[derive(Debug, Clone)]
pub struct ShiftMask {
    /// Windows per axis `[rows, columns]`; `nW = rows * columns`, row-major.
    pub grid: [usize; 2],
    /// Masks of the last column without its bottom window, `[rows - 1, n_q, n_k]`
    /// (`None` for a single row of windows).
    pub last_column: Option<Tensor<3>>,
    /// Masks of the last row of windows, `[columns, n_q, n_k]`.
    pub last_row: Tensor<3>,
    /// Region ids of the query tokens, `[nW, n_q]`.
    query_ids: Tensor<2, Int>,
    /// Region ids of the key tokens, `[nW, n_k]`.
    key_ids: Tensor<2, Int>,
}

impl ShiftMask {
    /// Builds the border masks from the region ids of queries and keys.
    ///
    /// # Shapes
    ///
    /// - query_ids: `[rows * columns, n_q]`; key_ids: `[rows * columns, n_k]`
    pub fn new(grid: [usize; 2], query_ids: Tensor<2, Int>, key_ids: Tensor<2, Int>) -> Self {
        let [rows, cols] = grid;
        let border = |ids: &Tensor<2, Int>, last_row: bool| {
            let n = ids.dims()[1];
            let ids = ids.clone().reshape([rows, cols, n]);
            let part = if last_row {
                ids.slice_dim(0, rows - 1..rows)
            } else {
                ids.slice_dim(0, 0..rows - 1).slice_dim(1, cols - 1..cols)
            };
            let windows = part.dims()[0] * part.dims()[1];
            part.reshape([windows, n])
        };
        let last_column = (rows > 1).then(|| device_mask(border(&query_ids, false), border(&key_ids, false)));
        let last_row = device_mask(border(&query_ids, true), border(&key_ids, true));
        Self { grid, last_column, last_row, query_ids, key_ids }
    }

    /// The full mask of every window (the reference's `mask_*` buffer).
    ///
    /// # Shapes
    ///
    /// - output: `[nW, n_q, n_k]`
    pub fn full(&self) -> Tensor<3> {
        device_mask(self.query_ids.clone(), self.key_ids.clone())
    }
}

fn int_tensor<const D: usize>(values: Vec<i64>, shape: [usize; D], device: &Device) -> Tensor<D, Int> {
    Tensor::from_data(TensorData::new(values, shape), device)
}

fn float_tensor<const D: usize>(values: Vec<f32>, shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::from_data(TensorData::new(values, shape), device)
}

/// Tables of the square-window branch.
#[derive(Debug, Clone)]
pub struct WindowTables {
    /// Window side.
    pub window_size: usize,
    /// Cyclic shift of the shifted blocks (`window_size / 2`).
    pub shift_size: usize,
    /// Log-spaced relative coordinates, `[(2ws - 1)^2, 2]`.
    pub table: Tensor<2>,
    /// Index into `table` for each (query, key) pair, `[ws^2 * ws^2]`.
    pub index: Tensor<1, Int>,
    /// Shift mask of the shifted blocks (full: `[nW, ws^2, ws^2]`).
    pub mask: ShiftMask,
}

/// Tables of one orientation of the anchored stripe branch.
#[derive(Debug, Clone)]
pub struct StripeTables {
    /// Stripe and shift sizes of the window tokens.
    pub geometry: StripeGeometry,
    /// Anchor stripe size, `geometry.size / df`.
    pub anchor_size: [usize; 2],
    /// Anchor shift size, `geometry.shift / df`.
    pub anchor_shift: [usize; 2],
    /// Shape of the coordinate table before flattening.
    pub table_dims: [usize; 2],
    /// Log-spaced relative coordinates, `[(s0 + a0 - 1) * (s1 + a1 - 1), 2]`.
    pub table: Tensor<2>,
    /// Index for anchor queries over stripe keys, `[N_anchor * N_stripe]`.
    pub index_a2w: Tensor<1, Int>,
    /// Index for stripe queries over anchor keys, `[N_stripe * N_anchor]`.
    pub index_w2a: Tensor<1, Int>,
    /// Shift mask for anchor queries (full: `[nS, N_anchor, N_stripe]`).
    pub mask_a2w: ShiftMask,
    /// Shift mask for stripe queries (full: `[nS, N_stripe, N_anchor]`).
    pub mask_w2a: ShiftMask,
}

/// Stripe orientation of a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum StripeOrientation {
    /// Stripe size `(s0, s1)` (reference stripe type "H", even blocks).
    Horizontal,
    /// Stripe size `(s1, s0)` (reference stripe type "W", odd blocks).
    Vertical,
}

/// Everything the attention branches need for one padded input size.
#[derive(Debug, Clone)]
pub struct TableIndexMask {
    /// Padded input (height, width) these were built for.
    pub input_size: [usize; 2],
    /// Square-window branch.
    pub window: WindowTables,
    /// Stripe branch of the horizontal blocks (reference `*_sh`).
    pub horizontal: StripeTables,
    /// Stripe branch of the vertical blocks (reference `*_sv`). Built from the reversed stripe
    /// size and groups on the unreversed input, which is the geometry the reference's vertical
    /// blocks attend with; the reference builds its `*_sv` buffers from the reversed
    /// horizontal geometry instead. The two agree unless `stripe_groups` is set on a
    /// non-square input (no released model does that).
    pub vertical: StripeTables,
}

/// One of the reference's 13 buffers, flattened, for comparisons.
#[derive(Debug, Clone)]
pub struct ReferenceBuffer {
    /// Reference buffer name without the `model.` prefix, e.g. `table_w`, `mask_sv_a2w`.
    pub name: &'static str,
    /// Reference shape.
    pub shape: Vec<usize>,
    /// The values, row-major.
    pub values: BufferValues,
}

/// Values of a [`ReferenceBuffer`].
#[derive(Debug, Clone)]
pub enum BufferValues {
    /// Tables and masks.
    Float(Tensor<1>),
    /// Indices.
    Int(Tensor<1, Int>),
}

impl TableIndexMask {
    /// Builds the tables, indices and masks of `config` for a padded input of
    /// `input_size = [height, width]` (multiples of [`GrlConfig::pad_size`]).
    pub fn new(config: &GrlConfig, input_size: [usize; 2], device: &Device) -> Self {
        let ws = config.window_size;
        let (table, dims) = coords_table([ws, ws], config.pretrained_window_size, 1);
        let window_ids = region_ids(input_size, [ws, ws], [ws / 2, ws / 2]);
        let n_windows = window_ids.len() / (ws * ws);
        let window_ids = int_tensor(window_ids, [n_windows, ws * ws], device);
        let window = WindowTables {
            window_size: ws,
            shift_size: ws / 2,
            table: float_tensor(table, [dims[0] * dims[1], 2], device),
            index: int_tensor(
                relative_position_index([ws, ws], 1, IndexDirection::WindowToAnchor),
                [ws.pow(4)],
                device,
            ),
            mask: ShiftMask::new([input_size[0] / ws, input_size[1] / ws], window_ids.clone(), window_ids),
        };
        let reversed = |a: [Option<usize>; 2]| [a[1], a[0]];
        let horizontal = stripe_geometry(config.stripe_size, config.stripe_groups, input_size);
        let vertical = stripe_geometry(reversed(config.stripe_size), reversed(config.stripe_groups), input_size);
        Self {
            input_size,
            window,
            horizontal: Self::stripe_tables(config, horizontal, input_size, device),
            vertical: Self::stripe_tables(config, vertical, input_size, device),
        }
    }

    fn stripe_tables(config: &GrlConfig, geometry: StripeGeometry, input: [usize; 2], device: &Device) -> StripeTables {
        let df = config.anchor_window_down_factor;
        let size = geometry.size;
        let anchor_size = size.map(|s| s / df);
        let anchor_shift = geometry.shift.map(|s| s / df);
        let (n_stripe, n_anchor) = (size[0] * size[1], anchor_size[0] * anchor_size[1]);
        let (table, table_dims) = coords_table(size, config.pretrained_stripe_size, df);
        let stripe_ids = region_ids(input, size, geometry.shift);
        let anchor_ids = region_ids(input.map(|s| s / df), anchor_size, anchor_shift);
        let n_stripes = stripe_ids.len() / n_stripe;
        assert_eq!(
            n_stripes,
            anchor_ids.len() / n_anchor.max(1),
            "input {input:?} gives different stripe and anchor-stripe counts for stripe {size:?}, df {df}"
        );
        let grid = [input[0] / size[0], input[1] / size[1]];
        let stripe_ids = int_tensor(stripe_ids, [n_stripes, n_stripe], device);
        let anchor_ids = int_tensor(anchor_ids, [n_stripes, n_anchor], device);
        let index = |direction| int_tensor(relative_position_index(size, df, direction), [n_stripe * n_anchor], device);
        StripeTables {
            geometry,
            anchor_size,
            anchor_shift,
            table_dims,
            table: float_tensor(table, [table_dims[0] * table_dims[1], 2], device),
            index_a2w: index(IndexDirection::AnchorToWindow),
            index_w2a: index(IndexDirection::WindowToAnchor),
            mask_a2w: ShiftMask::new(grid, anchor_ids.clone(), stripe_ids.clone()),
            mask_w2a: ShiftMask::new(grid, stripe_ids, anchor_ids),
        }
    }

    /// The stripe tables of an orientation.
    pub fn stripe(&self, orientation: StripeOrientation) -> &StripeTables {
        match orientation {
            StripeOrientation::Horizontal => &self.horizontal,
            StripeOrientation::Vertical => &self.vertical,
        }
    }

    /// The 13 buffers under the reference's names and shapes (`table_w`, `table_sh`,
    /// `table_sv`, `index_w`, `index_sh_a2w`, ..., `mask_sv_w2a`), for comparison with a
    /// reference state dict.
    pub fn reference_buffers(&self) -> Vec<ReferenceBuffer> {
        let flat3 = |mask: &ShiftMask| {
            let t = mask.full();
            let n = t.dims().iter().product::<usize>();
            (t.dims().to_vec(), BufferValues::Float(t.reshape([n])))
        };
        let table = |t: &Tensor<2>, dims: [usize; 2]| {
            let n = dims[0] * dims[1] * 2;
            (vec![1, dims[0], dims[1], 2], BufferValues::Float(t.clone().reshape([n])))
        };
        let index = |t: &Tensor<1, Int>, rows: usize, cols: usize| (vec![rows, cols], BufferValues::Int(t.clone()));
        let ws = self.window.window_size;
        let w_dims = [2 * ws - 1, 2 * ws - 1];
        let n = |s: [usize; 2]| s[0] * s[1];
        let (sh, sv) = (&self.horizontal, &self.vertical);
        let entries = [
            ("table_w", table(&self.window.table, w_dims)),
            ("table_sh", table(&sh.table, sh.table_dims)),
            ("table_sv", table(&sv.table, sv.table_dims)),
            ("index_w", index(&self.window.index, ws * ws, ws * ws)),
            ("index_sh_a2w", index(&sh.index_a2w, n(sh.anchor_size), n(sh.geometry.size))),
            ("index_sh_w2a", index(&sh.index_w2a, n(sh.geometry.size), n(sh.anchor_size))),
            ("index_sv_a2w", index(&sv.index_a2w, n(sv.anchor_size), n(sv.geometry.size))),
            ("index_sv_w2a", index(&sv.index_w2a, n(sv.geometry.size), n(sv.anchor_size))),
            ("mask_w", flat3(&self.window.mask)),
            ("mask_sh_a2w", flat3(&sh.mask_a2w)),
            ("mask_sh_w2a", flat3(&sh.mask_w2a)),
            ("mask_sv_a2w", flat3(&sv.mask_a2w)),
            ("mask_sv_w2a", flat3(&sv.mask_w2a)),
        ];
        entries.into_iter().map(|(name, (shape, values))| ReferenceBuffer { name, shape, values }).collect()
    }
}

/// A small geometry for unit tests: 4x4 windows, 4x8 stripes, df 2, tables for an 8x16 input.
#[cfg(all(test, not(target_arch = "wasm32")))]
pub(crate) fn small_test_tables(device: &Device) -> (GrlConfig, TableIndexMask) {
    let config = GrlConfig {
        window_size: 4,
        stripe_size: [Some(4), Some(8)],
        anchor_window_down_factor: 2,
        ..GrlConfig::default()
    };
    let tables = TableIndexMask::new(&config, [8, 16], device);
    (config, tables)
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn python_slices() {
        assert_eq!(py_slice(0, Some(-2), 4), 0..2);
        assert_eq!(py_slice(-2, Some(-1), 4), 2..3);
        assert_eq!(py_slice(-1, None, 4), 3..4);
        // A zero shift: slice(-2, -0) is empty and slice(-0, None) is everything.
        assert_eq!(py_slice(-2, Some(0), 4), 2..2);
        assert_eq!(py_slice(0, None, 4), 0..4);
        // Out of range bounds clamp.
        assert_eq!(py_slice(-8, Some(-6), 4), 0..0);
    }

    #[test]
    fn coords_table_of_a_2x2_window() {
        let (table, dims) = coords_table([2, 2], [0, 0], 1);
        assert_eq!(dims, [3, 3]);
        // Coordinates -1, 0, 1 divided by 1, times 8, log map: +-log2(9) / 3.
        let e = 9f32.log2() / 3.0;
        let expected = [-e, -e, -e, 0.0, -e, e, 0.0, -e, 0.0, 0.0, 0.0, e, e, -e, e, 0.0, e, e];
        assert_eq!(table, expected);
    }

    #[test]
    fn coords_table_of_an_anchored_stripe() {
        // Stripe (4, 8), df 2: anchor (2, 4). Height axis: from -(2-1) - 1 = -2 to 4-1-1 = 2,
        // divided by 2. Width axis: from -(4-1) - 2 = -5 to 8-1-2 = 5, divided by 5.
        let (table, dims) = coords_table([4, 8], [0, 0], 2);
        assert_eq!(dims, [5, 11]);
        let map = |t: f32| t.signum() * (t.abs() * 8.0 + 1.0).log2() / 3.0;
        assert_eq!(table[0], map(-1.0)); // (-2 / 2, -5 / 5)
        assert_eq!(table[1], map(-1.0));
        assert_eq!(table[(1 * 11 + 6) * 2], map(-0.5)); // h = -1
        assert!((table[(1 * 11 + 6) * 2 + 1] - map(0.2)).abs() < 1e-7); // w = 1
        assert_eq!(table[(2 * 11 + 5) * 2], 0.0); // the centre
    }

    #[test]
    fn window_index_is_swins() {
        let index = relative_position_index([2, 2], 1, IndexDirection::WindowToAnchor);
        assert_eq!(index, vec![4, 3, 1, 0, 5, 4, 2, 1, 7, 6, 4, 3, 8, 7, 5, 4]);
    }

    #[test]
    fn stripe_indices_by_hand() {
        // Stripe (2, 4), df 2: anchor (1, 2); row width a1 + s1 - 1 = 5.
        let w2a = relative_position_index([2, 4], 2, IndexDirection::WindowToAnchor);
        assert_eq!(w2a.len(), 8 * 2);
        // Window token (1, 3) against anchor token (0, 1): (1 - 0 + 0) * 5 + (3 - 1 + 1) = 8.
        assert_eq!(w2a[(4 + 3) * 2 + 1], 8);
        // Window token (0, 0) against anchor (0, 1): 0 * 5 + (0 - 1 + 1) = 0.
        assert_eq!(w2a[1], 0);
        let a2w = relative_position_index([2, 4], 2, IndexDirection::AnchorToWindow);
        // Anchor token (0, 1) against window token (1, 3): (0 - 1 + 1) * 5 + (1 - 3 + 3) = 1.
        assert_eq!(a2w[8 + 7], 1);
        // Anchor (0, 0) against window (0, 0): (0 + 1) * 5 + 3 = 8.
        assert_eq!(a2w[0], 8);
        // All indices land inside the (2 + 1 - 1) x (4 + 2 - 1) table.
        assert!(w2a.iter().chain(&a2w).all(|&i| (0..10).contains(&i)));
    }

    #[test]
    fn region_ids_of_a_shifted_4x4() {
        let ids = region_ids([4, 4], [2, 2], [1, 1]);
        #[rustfmt::skip]
        let expected = vec![
            0, 0, 0, 0, // window (0, 0)
            1, 2, 1, 2, // window (0, 1)
            3, 3, 6, 6, // window (1, 0)
            4, 5, 7, 8, // window (1, 1)
        ];
        assert_eq!(ids, expected);
        let mask = mask_from_ids(&ids, &ids, 4);
        assert!(mask[..16].iter().all(|&m| m == 0.0));
        // Window (0, 1): tokens 0 and 2 share id 1.
        assert_eq!(&mask[16..20], &[0.0, -100.0, 0.0, -100.0]);
        // Window (1, 1): all ids differ, only the diagonal is 0.
        let last = &mask[48..];
        for i in 0..4 {
            for j in 0..4 {
                assert_eq!(last[i * 4 + j], if i == j { 0.0 } else { -100.0 });
            }
        }
    }

    #[test]
    fn border_masks_hold_every_nonzero_entry() {
        let device = Device::flex();
        // 3 x 4 windows of 2 x 2 tokens, shifted by 1.
        let ids = region_ids([6, 8], [2, 2], [1, 1]);
        let full = mask_from_ids(&ids, &ids, 12);
        for w in 0..12 {
            let zero = full[w * 16..(w + 1) * 16].iter().all(|&m| m == 0.0);
            assert_eq!(zero, w / 4 < 2 && w % 4 < 3, "window {w}");
        }
        let ids = int_tensor(ids, [12, 4], &device);
        let mask = ShiftMask::new([3, 4], ids.clone(), ids);
        let column = mask.last_column.unwrap().into_data().try_to_vec::<f32>().unwrap();
        let row = mask.last_row.into_data().try_to_vec::<f32>().unwrap();
        // Windows 3 and 7 form the last column above the last row; windows 8..12 the last row.
        assert_eq!(column, [&full[3 * 16..4 * 16], &full[7 * 16..8 * 16]].concat());
        assert_eq!(row, full[8 * 16..].to_vec());
    }

    #[test]
    fn zero_shift_gives_one_region() {
        // A stripe spanning the whole axis with no shift (stripe_groups = 1).
        let ids = region_ids([2, 4], [2, 4], [0, 0]);
        assert!(ids.iter().all(|&i| i == ids[0]));
    }

    #[test]
    fn stripe_geometry_with_and_without_groups() {
        let g = stripe_geometry([Some(8), None], [None, Some(4)], [32, 64]);
        assert_eq!(g, StripeGeometry { size: [8, 16], shift: [4, 8] });
        let g = stripe_geometry([Some(8), Some(16)], [None, Some(1)], [32, 64]);
        assert_eq!(g, StripeGeometry { size: [8, 64], shift: [4, 0] });
    }

    #[test]
    fn device_masks_match_the_host_ones() {
        let device = Device::flex();
        let (_, tables) = crate::model::tables::small_test_tables(&device);
        let ids = region_ids([8, 16], [4, 4], [2, 2]);
        let expected = mask_from_ids(&ids, &ids, 8);
        let got = tables.window.mask.full().into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(got, expected);
        assert_eq!(tables.horizontal.mask_w2a.full().dims(), [4, 32, 8]);
        assert_eq!(tables.vertical.mask_a2w.full().dims(), [4, 8, 32]);
        let names: Vec<_> = tables.reference_buffers().iter().map(|b| b.name).collect();
        assert_eq!(names.len(), 13);
    }
}
