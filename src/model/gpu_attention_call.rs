//! One launch of the fused attention kernel (`shaders/attention.wgsl`, launched by
//! [`super::gpu_attention`]): where its operands lie ([`Layout`] on a [`WindowGrid`]), what it
//! computes ([`Call`]), and the parameters the shader reads (`Params` there).

use super::cpu_windows::WindowGrid;
use super::tables::RelativeIndex;
use crate::Size;

/// Bytes of the kernel's parameters (`Params` in the shader), which it keeps in workgroup memory.
pub const PARAMS_BYTES: usize = 40 * 4;

/// Where one operand's values lie in its buffer: channel `j` of head `h` of token `t` of window
/// `w` of image `i` (on the operand's [`WindowGrid`]) is element
/// `offset + i * image + position(w, t) * token + h * head + j`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    pub offset: usize,
    pub image: usize,
    pub token: usize,
    pub head: usize,
}

impl Layout {
    /// Heads in channels `offset + h * head_dim + j` of a token map `[B, H * W, stride]` of `size`.
    pub fn map(size: Size, stride: usize, offset: usize, head_dim: usize) -> Self {
        Layout { offset, image: size.area() * stride, token: stride, head: head_dim }
    }

    /// A window-layout tensor `[B', heads, n, d]`, each of its B' items an image of one window.
    pub fn windows(heads: usize, n: usize, d: usize) -> Self {
        Layout { offset: 0, image: heads * n * d, token: d, head: n * d }
    }
}

/// One launch of the kernel: `items` (images times windows) times `heads` problems, the queries
/// (and the output rows) on `query_grid`, the keys on `key_grid`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Call {
    pub query_grid: WindowGrid,
    pub key_grid: WindowGrid,
    pub q: Layout,
    pub k: Layout,
    pub v: Layout,
    pub out: Layout,
    /// Which of the launch's source tensors q, k and v each read, numbered in order of first
    /// use: `[0, 0, 0]` when the three are one tensor, `[0, 1, 1]` when k and v are.
    pub sources: [usize; 3],
    pub items: usize,
    pub heads: usize,
    /// Channels per head of q and k, and of v.
    pub d: usize,
    pub d_v: usize,
    pub index: RelativeIndex,
    /// With a shift mask: the windows its region ids cover (the mask of item b is b's modulo).
    pub id_windows: Option<usize>,
}

impl Call {
    /// A window-layout call: q `[B', heads, n_q, d]`, k `[B', heads, n_k, d]`, v and the output
    /// `[B', heads, _, d_v]`, three separate tensors, each item a window of `index`'s grids.
    pub fn windows(items: usize, heads: usize, [d, d_v]: [usize; 2], index: RelativeIndex, id_windows: Option<usize>) -> Self {
        let grid = |window: [usize; 2]| WindowGrid { size: Size { height: window[0], width: window[1] }, window, shift: [0, 0] };
        let (n_q, n_k) = index.tokens();
        Call {
            query_grid: grid(index.query),
            key_grid: grid(index.key),
            q: Layout::windows(heads, n_q, d),
            k: Layout::windows(heads, n_k, d),
            v: Layout::windows(heads, n_k, d_v),
            out: Layout::windows(heads, n_q, d_v),
            sources: [0, 1, 2],
            items,
            heads,
            d,
            d_v,
            index,
            id_windows,
        }
    }

    /// The kernel's `Params`, as u32s in the shader's order.
    pub(super) fn params(&self) -> Vec<u32> {
        let grid = |g: &WindowGrid| {
            let Size { height, width } = g.size;
            [height, width, g.window[0], g.window[1], g.shift[0], g.shift[1], width / g.window[1], g.windows()]
        };
        let layout = |l: &Layout| [l.offset, l.image, l.token, l.head];
        let (n_q, n_k) = self.index.tokens();
        let scalars = [
            n_q,
            n_k,
            self.heads,
            self.id_windows.is_some() as usize,
            self.id_windows.unwrap_or(1),
            self.index.row_width(),
            self.index.query_part(0),
            0,
        ];
        let values: Vec<usize> = [grid(&self.query_grid), grid(&self.key_grid)]
            .concat()
            .into_iter()
            .chain([self.q, self.k, self.v, self.out].iter().flat_map(layout))
            .chain(scalars)
            .collect();
        debug_assert_eq!(values.len() * 4, PARAMS_BYTES);
        values.into_iter().map(|v| v as u32).collect()
    }

    /// How many distinct source tensors the launch binds.
    pub(super) fn source_count(&self) -> usize {
        self.sources.iter().max().map_or(0, |&s| s + 1)
    }
}
