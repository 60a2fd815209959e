//! Shift masks: the region ids of a cyclically shifted window (or stripe) partition, and the
//! masks that keep attention inside a region, built on the device only for the border windows
//! that need one.

use burn::tensor::{Int, Tensor};

use crate::Size;
use crate::model::cpu_attention::RegionIds;
use crate::model::{gpu_attention, kernels};

/// Value added to the attention logits of token pairs from different regions of a shifted
/// window (Swin's convention; not `-inf`, so it is part of the computation to reproduce).
pub const MASK_VALUE: f64 = -100.0;

/// Python's `slice(start, stop)` on a sequence of `len` items, as a range.
fn py_slice(start: i64, stop: Option<i64>, len: usize) -> std::ops::Range<usize> {
    let len = len as i64;
    let resolve = |i: i64| if i < 0 { (i + len).max(0) } else { i.min(len) };
    let (start, stop) = (resolve(start), stop.map_or(len, resolve));
    start as usize..stop.max(start) as usize
}

/// Region id (0..9) of every token, window by window, for a cyclically shifted partition
/// of an `input`-sized map (reference `_fill_window`): each axis is cut by the slices
/// `[0, -w)`, `[-w, -shift)` and `[-shift, end)` (Python semantics, so a zero shift makes the
/// last slice the whole axis), the id is `3 * region_h + region_w`, and the map is split into
/// `window` tiles (`[height, width]`, like `shift`).
///
/// # Shapes
///
/// - output: `[nW, w0 * w1]` with `nW = (height / w0) * (width / w1)`, windows row-major.
pub fn region_ids(input: Size, window: [usize; 2], shift: [usize; 2]) -> Vec<i64> {
    let input = [input.height, input.width];
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
/// elsewhere (host version of what [`ShiftMask`] builds on the device).
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
/// ([`crate::model::affine_transform::AffineTransform::forward`]) runs those windows
/// unmasked and only the border windows with these masks.
#[derive(Debug, Clone)]
pub struct ShiftMask {
    /// Windows per axis `[rows, columns]`; `nW = rows * columns`, row-major.
    pub grid: [usize; 2],
    /// Region ids of the query tokens, `[nW, n_q]`.
    query_ids: Tensor<2, Int>,
    /// Region ids of the key tokens, `[nW, n_k]`.
    key_ids: Tensor<2, Int>,
    /// Both, as the WGSL kernel reads them ([`gpu_attention::kernel_ids`]): built with the
    /// tables where the kernel will run, rather than on each of its launches.
    kernel_ids: Option<Tensor<1, Int>>,
}

impl ShiftMask {
    /// The region ids of queries and keys, for kernels that mask from them directly.
    pub fn ids(&self) -> RegionIds<'_> {
        RegionIds { query: &self.query_ids, key: &self.key_ids }
    }

    /// A mask over the region ids of queries and keys. The border masks are built when the
    /// plain path asks for them ([`ShiftMask::last_row`], [`ShiftMask::last_column`]): the
    /// fused kernels read the ids, and building masks they never read cost device memory
    /// (about 76 MiB for GRL-S at 128x128).
    ///
    /// # Shapes
    ///
    /// - query_ids: `[rows * columns, n_q]`; key_ids: `[rows * columns, n_k]`
    pub fn new(grid: [usize; 2], query_ids: Tensor<2, Int>, key_ids: Tensor<2, Int>) -> Self {
        let kernel_ids = kernels::fused_gpu(&query_ids.device())
            .then(|| gpu_attention::kernel_ids(RegionIds { query: &query_ids, key: &key_ids }));
        Self { grid, query_ids, key_ids, kernel_ids }
    }

    /// The region ids as the WGSL kernel reads them: `[nW * n_q]` then `[nW * n_k]`, i32.
    pub fn kernel_ids(&self) -> Tensor<1, Int> {
        self.kernel_ids.clone().unwrap_or_else(|| gpu_attention::kernel_ids(self.ids()))
    }

    /// Masks of the last row of windows, `[columns, n_q, n_k]`.
    pub fn last_row(&self) -> Tensor<3> {
        device_mask(self.border(&self.query_ids, true), self.border(&self.key_ids, true))
    }

    /// Masks of the last column without its bottom window, `[rows - 1, n_q, n_k]` (`None` for
    /// a single row of windows).
    pub fn last_column(&self) -> Option<Tensor<3>> {
        (self.grid[0] > 1).then(|| device_mask(self.border(&self.query_ids, false), self.border(&self.key_ids, false)))
    }

    /// The ids of the last row's windows (`last_row`), or of the last column's but the bottom
    /// one: `[windows, n]`.
    fn border(&self, ids: &Tensor<2, Int>, last_row: bool) -> Tensor<2, Int> {
        let [rows, cols] = self.grid;
        let n = ids.dims()[1];
        let ids = ids.clone().reshape([rows, cols, n]);
        let part = if last_row {
            ids.slice_dim(0, rows - 1..rows)
        } else {
            ids.slice_dim(0, 0..rows - 1).slice_dim(1, cols - 1..cols)
        };
        let windows = part.dims()[0] * part.dims()[1];
        part.reshape([windows, n])
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

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

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
    fn region_ids_of_a_shifted_4x4() {
        let ids = region_ids(Size::square(4), [2, 2], [1, 1]);
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
        let ids = region_ids(Size { height: 6, width: 8 }, [2, 2], [1, 1]);
        let full = mask_from_ids(&ids, &ids, 12);
        for w in 0..12 {
            let zero = full[w * 16..(w + 1) * 16].iter().all(|&m| m == 0.0);
            assert_eq!(zero, w / 4 < 2 && w % 4 < 3, "window {w}");
        }
        let ids = Tensor::<2, Int>::from_data(TensorData::new(ids, [12, 4]), &device);
        let mask = ShiftMask::new([3, 4], ids.clone(), ids);
        let column = mask.last_column().unwrap().into_data().try_to_vec::<f32>().unwrap();
        let row = mask.last_row().into_data().try_to_vec::<f32>().unwrap();
        // Windows 3 and 7 form the last column above the last row; windows 8..12 the last row.
        assert_eq!(column, [&full[3 * 16..4 * 16], &full[7 * 16..8 * 16]].concat());
        assert_eq!(row, full[8 * 16..].to_vec());
    }

    #[test]
    fn zero_shift_gives_one_region() {
        // A stripe spanning the whole axis with no shift (stripe_groups = 1).
        let ids = region_ids(Size { height: 2, width: 4 }, [2, 4], [0, 0]);
        assert!(ids.iter().all(|&i| i == ids[0]));
    }
}
