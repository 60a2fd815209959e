//! The tables, indices and masks under the reference's buffer names and shapes, for
//! comparison with a reference state dict.

use burn::tensor::{Int, Tensor};

use super::index_mask::TableIndexMask;
use super::position_index::PositionIndex;
use super::shift_mask::ShiftMask;

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
        let index = |t: &PositionIndex, rows: usize, cols: usize| (vec![rows, cols], BufferValues::Int(t.tensor()));
        let ws = self.window.window_size;
        let w_dims = [2 * ws - 1, 2 * ws - 1];
        let n = |s: [usize; 2]| s[0] * s[1];
        let (sh, sv) = (&self.horizontal, &self.vertical);
        let entries = [
            ("table_w", table(&self.window.table.coords, w_dims)),
            ("table_sh", table(&sh.table.coords, sh.table_dims)),
            ("table_sv", table(&sv.table.coords, sv.table_dims)),
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
