//! [`TableIndexMask`]: the tables, indices and masks of both attention branches for one padded
//! input size, and the stripe geometry they follow.

use burn::tensor::{Device, Int, Tensor, TensorData};

use super::bias_cache::CoordTable;
use super::coords::{IndexDirection, RelativeIndex, coords_table};
use super::position_index::PositionIndex;
use super::shift_mask::{ShiftMask, region_ids};
use crate::Size;
use crate::model::config::GrlConfig;

/// Stripe size and shift size on each axis, for one stripe orientation and input size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StripeGeometry {
    /// Stripe (height, width) in pixels.
    pub size: [usize; 2],
    /// Shift (height, width) applied when the block shifts its stripes.
    pub shift: [usize; 2],
}

/// The stripe geometry for an `input`-sized map (reference `_get_stripe_info` with
/// `stripe_shift = True`): an axis with a group count g spans `input / g` pixels and shifts by
/// `input / (2 g)` (0 when g is 1); otherwise the stripe size s is used and shifts by `s / 2`.
/// `size` and `groups` are `[height, width]`, like the result.
///
/// # Panics
///
/// If an axis has neither a size nor a group count ([`GrlConfig::validate`] rejects that).
pub fn stripe_geometry(size: [Option<usize>; 2], groups: [Option<usize>; 2], input: Size) -> StripeGeometry {
    let input = [input.height, input.width];
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
    /// Log-spaced relative coordinates, `[(2ws - 1)^2, 2]`, with their biases.
    pub table: CoordTable,
    /// Index into `table` for each (query, key) pair, `[ws^2 * ws^2]`.
    pub index: PositionIndex,
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
    /// Log-spaced relative coordinates, `[(s0 + a0 - 1) * (s1 + a1 - 1), 2]`, with the
    /// biases of both of a block's transforms.
    pub table: CoordTable,
    /// Index for anchor queries over stripe keys, `[N_anchor * N_stripe]`.
    pub index_a2w: PositionIndex,
    /// Index for stripe queries over anchor keys, `[N_stripe * N_anchor]`.
    pub index_w2a: PositionIndex,
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
    /// Padded input size these were built for.
    pub input_size: Size,
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

impl TableIndexMask {
    /// Builds the tables, indices and masks of `config` for a padded input of `input_size`
    /// (sides multiples of [`GrlConfig::pad_size`]).
    pub fn new(config: &GrlConfig, input_size: Size, device: &Device) -> Self {
        let ws = config.window_size;
        let (table, dims) = coords_table([ws, ws], config.pretrained_window_size, 1);
        let window_ids = region_ids(input_size, [ws, ws], [ws / 2, ws / 2]);
        let n_windows = window_ids.len() / (ws * ws);
        let window_ids = int_tensor(window_ids, [n_windows, ws * ws], device);
        let window = WindowTables {
            window_size: ws,
            shift_size: ws / 2,
            table: CoordTable::new(float_tensor(table, [dims[0] * dims[1], 2], device)),
            index: PositionIndex::new(RelativeIndex::new([ws, ws], 1, IndexDirection::WindowToAnchor), device),
            mask: ShiftMask::new([input_size.height / ws, input_size.width / ws], window_ids.clone(), window_ids),
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

    fn stripe_tables(config: &GrlConfig, geometry: StripeGeometry, input: Size, device: &Device) -> StripeTables {
        let df = config.anchor_window_down_factor;
        let size = geometry.size;
        let anchor_size = size.map(|s| s / df);
        let anchor_shift = geometry.shift.map(|s| s / df);
        let (n_stripe, n_anchor) = (size[0] * size[1], anchor_size[0] * anchor_size[1]);
        let (table, table_dims) = coords_table(size, config.pretrained_stripe_size, df);
        let stripe_ids = region_ids(input, size, geometry.shift);
        let anchor_input = Size { height: input.height / df, width: input.width / df };
        let anchor_ids = region_ids(anchor_input, anchor_size, anchor_shift);
        let n_stripes = stripe_ids.len() / n_stripe;
        assert_eq!(
            n_stripes,
            anchor_ids.len() / n_anchor.max(1),
            "input {input} gives different stripe and anchor-stripe counts for stripe {size:?}, df {df}"
        );
        let grid = [input.height / size[0], input.width / size[1]];
        let stripe_ids = int_tensor(stripe_ids, [n_stripes, n_stripe], device);
        let anchor_ids = int_tensor(anchor_ids, [n_stripes, n_anchor], device);
        let index = |direction| PositionIndex::new(RelativeIndex::new(size, df, direction), device);
        StripeTables {
            geometry,
            anchor_size,
            anchor_shift,
            table_dims,
            table: CoordTable::new(float_tensor(table, [table_dims[0] * table_dims[1], 2], device)),
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
    let tables = TableIndexMask::new(&config, Size { height: 8, width: 16 }, device);
    (config, tables)
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::model::tables::mask_from_ids;

    #[test]
    fn stripe_geometry_with_and_without_groups() {
        let input = Size { height: 32, width: 64 };
        let g = stripe_geometry([Some(8), None], [None, Some(4)], input);
        assert_eq!(g, StripeGeometry { size: [8, 16], shift: [4, 8] });
        let g = stripe_geometry([Some(8), Some(16)], [None, Some(1)], input);
        assert_eq!(g, StripeGeometry { size: [8, 64], shift: [4, 0] });
    }

    #[test]
    fn device_masks_match_the_host_ones() {
        let device = Device::flex();
        let (_, tables) = small_test_tables(&device);
        let ids = region_ids(Size { height: 8, width: 16 }, [4, 4], [2, 2]);
        let expected = mask_from_ids(&ids, &ids, 8);
        let got = tables.window.mask.full().into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(got, expected);
        assert_eq!(tables.horizontal.mask_w2a.full().dims(), [4, 32, 8]);
        assert_eq!(tables.vertical.mask_a2w.full().dims(), [4, 8, 32]);
        let names: Vec<_> = tables.reference_buffers().iter().map(|b| b.name).collect();
        assert_eq!(names.len(), 13);
    }
}
