//! Log-spaced relative-coordinate tables and the relative-position indices into them: both
//! depend on a window (or stripe) and its anchor down factor only, not on the input size.

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

/// The rule of a relative-position index: query token `(qh, qw)` of a `query` grid against key
/// token `(kh, kw)` of a `key` grid (both starting at coordinate 0) has the entry
/// `(qh - kh + key[0] - 1) * row_width + (qw - kw + key[1] - 1)` of a coordinate table with
/// `row_width = query[1] + key[1] - 1` (reference `get_relative_position_index_simple`).
///
/// Being a rule rather than a table, it is what the WGSL kernel takes: it computes each entry
/// from the token positions instead of reading an `n_q x n_k` table of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelativeIndex {
    /// Query grid (height, width).
    pub query: [usize; 2],
    /// Key grid (height, width).
    pub key: [usize; 2],
}

impl RelativeIndex {
    /// The index into the [`coords_table`] of `window` and its anchor window `window / df`:
    /// window tokens against anchor tokens, or the reverse. With `df = 1` this is Swin's
    /// `(dh + w - 1) * (2w - 1) + (dw + w - 1)`.
    pub fn new(window: [usize; 2], df: usize, direction: IndexDirection) -> Self {
        let anchor = window.map(|w| w / df);
        match direction {
            IndexDirection::WindowToAnchor => Self { query: window, key: anchor },
            IndexDirection::AnchorToWindow => Self { query: anchor, key: window },
        }
    }

    /// Width of the table's rows, `query[1] + key[1] - 1`.
    pub fn row_width(&self) -> usize {
        self.query[1] + self.key[1] - 1
    }

    /// Entries of the table it indexes, `(query[0] + key[0] - 1) * row_width`.
    pub fn table_len(&self) -> usize {
        (self.query[0] + self.key[0] - 1) * self.row_width()
    }

    /// `(n_q, n_k)`: query and key token counts.
    pub fn tokens(&self) -> (usize, usize) {
        (self.query[0] * self.query[1], self.key[0] * self.key[1])
    }

    /// The entry of query token `i` against key token `j` (row-major token numbers) is
    /// `query_part(i) - key_part(j)`: the two halves of the rule, which the kernel computes once
    /// per query row and once per key.
    pub fn query_part(&self, i: usize) -> usize {
        let w = self.row_width();
        (i / self.query[1]) * w + i % self.query[1] + (self.key[0] - 1) * w + self.key[1] - 1
    }

    /// See [`RelativeIndex::query_part`].
    pub fn key_part(&self, j: usize) -> usize {
        (j / self.key[1]) * self.row_width() + j % self.key[1]
    }

    /// The whole index, `[n_q * n_k]`, row-major: what the plain ops and the CPU kernel read.
    pub fn values(&self) -> Vec<u32> {
        let (n_q, n_k) = self.tokens();
        let keys: Vec<usize> = (0..n_k).map(|j| self.key_part(j)).collect();
        let mut out = Vec::with_capacity(n_q * n_k);
        for i in 0..n_q {
            let row = self.query_part(i);
            out.extend(keys.iter().map(|&key| (row - key) as u32));
        }
        out
    }
}

/// Index of each (query, key) token pair into the flattened [`coords_table`] of `window` and
/// its anchor window `window / df` ([`RelativeIndex`] written out, for the tests: the model
/// reads a [`super::PositionIndex`]). With `a = window / df` and row width `a1 + w1 - 1`:
/// - window to anchor: `(wh - ah + a0 - 1) * (a1 + w1 - 1) + (ww - aw + a1 - 1)`
/// - anchor to window: `(ah - wh + w0 - 1) * (a1 + w1 - 1) + (aw - ww + w1 - 1)`
///
/// # Shapes
///
/// - output: `[w0 * w1, a0 * a1]` (window to anchor) or `[a0 * a1, w0 * w1]`, row-major.
#[cfg(all(test, not(target_arch = "wasm32")))]
pub(crate) fn relative_position_index(window: [usize; 2], df: usize, direction: IndexDirection) -> Vec<i64> {
    RelativeIndex::new(window, df, direction).values().into_iter().map(i64::from).collect()
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

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
    fn the_rule_agrees_with_the_written_out_formulas() {
        // The formulas of the reference, written out for each direction, against the rule.
        for (window, df) in [([2, 4], 2), ([8, 8], 1), ([4, 8], 2), ([6, 4], 2)] {
            let (w, a) = (window.map(|x| x as i64), window.map(|x| (x / df) as i64));
            let row_width = a[1] + w[1] - 1;
            let tokens = |g: [i64; 2]| -> Vec<(i64, i64)> { (0..g[0]).flat_map(|h| (0..g[1]).map(move |x| (h, x))).collect() };
            let mut w2a = vec![];
            for &(wh, ww) in &tokens(w) {
                for &(ah, aw) in &tokens(a) {
                    w2a.push((wh - ah + a[0] - 1) * row_width + (ww - aw + a[1] - 1));
                }
            }
            let mut a2w = vec![];
            for &(ah, aw) in &tokens(a) {
                for &(wh, ww) in &tokens(w) {
                    a2w.push((ah - wh + w[0] - 1) * row_width + (aw - ww + w[1] - 1));
                }
            }
            assert_eq!(relative_position_index(window, df, IndexDirection::WindowToAnchor), w2a);
            assert_eq!(relative_position_index(window, df, IndexDirection::AnchorToWindow), a2w);
            let rule = RelativeIndex::new(window, df, IndexDirection::AnchorToWindow);
            assert_eq!(rule.table_len(), coords_table(window, [0, 0], df).0.len() / 2);
            assert!(rule.values().iter().all(|&i| (i as usize) < rule.table_len()));
        }
    }
}
