//! Window layouts on the CPU: the tokens of (shifted) windows or stripes gathered out of a
//! channels-last token map straight into the `[B * nW, heads, N, d]` layout the fused attention
//! reads ([`gather`]), and its output written back into a token map ([`scatter`]), one pass
//! each.
//!
//! Burn's operations (the plain-ops twin, [`super::window_attention`]) do the same as a chain
//! of whole-map copies: a roll, the partition's permute, the q/k/v channel split and the head
//! split, with the reverse after attention and the l2-normalisation's passes before it. Here
//! each token's head vector is read once, normalised while in registers where asked, and
//! written where the kernel reads it.

use super::cpu_parallel::{build_chunks, for_each_chunk};
use crate::Size;

/// How an `H x W` grid of tokens is cut into windows: rolled by `-shift` first (like
/// `torch.roll(x, -shift)`), then cut into `window` tiles, tiles row-major within each image,
/// tokens row-major within each tile (the reference's `window_partition`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WindowGrid {
    /// The map's size, a multiple of `window`.
    pub size: Size,
    /// Window height and width.
    pub window: [usize; 2],
    /// The roll, rows and columns, each below the map's side.
    pub shift: [usize; 2],
}

/// Which channels of each token of a `[B, H * W, stride]` map hold a tensor of heads: channel
/// `offset + h * head_dim + j` is component `j` of head `h`.
#[derive(Clone, Copy, Debug)]
pub struct Channels {
    pub stride: usize,
    pub offset: usize,
    pub heads: usize,
    pub head_dim: usize,
}

impl WindowGrid {
    /// Windows per image.
    pub fn windows(&self) -> usize {
        (self.size.height / self.window[0]) * (self.size.width / self.window[1])
    }

    /// Tokens per window.
    pub fn tokens(&self) -> usize {
        self.window[0] * self.window[1]
    }

    /// Position in the map (`y * W + x`) of token `t` of window `w`.
    fn position(&self, w: usize, t: usize) -> usize {
        let Size { height, width } = self.size;
        let per_row = width / self.window[1];
        let y = (w / per_row) * self.window[0] + t / self.window[1];
        let x = (w % per_row) * self.window[1] + t % self.window[1];
        ((y + self.shift[0]) % height) * width + (x + self.shift[1]) % width
    }

    /// The window and token at map position `p`: the inverse of [`WindowGrid::position`].
    fn window_of(&self, p: usize) -> (usize, usize) {
        let Size { height, width } = self.size;
        let y = (p / width + height - self.shift[0]) % height;
        let x = (p % width + width - self.shift[1]) % width;
        let w = (y / self.window[0]) * (width / self.window[1]) + x / self.window[1];
        (w, (y % self.window[0]) * self.window[1] + x % self.window[1])
    }

    /// The batch `B` of a `[B, H * W, stride]` map of `map_len` values, after checking that the
    /// windows tile the map, the shift stays inside it and the heads inside a token's channels
    /// (internal invariants: the tables and the model's widths guarantee them).
    fn check(&self, map_len: usize, channels: &Channels) -> usize {
        let Size { height, width } = self.size;
        assert!(height % self.window[0] == 0 && width % self.window[1] == 0, "{self:?}: windows must tile the map");
        assert!(self.shift[0] < height && self.shift[1] < width, "{self:?}: shift past the map");
        assert!(channels.offset + channels.heads * channels.head_dim <= channels.stride, "{channels:?}");
        let tokens = height * width * channels.stride;
        assert_eq!(map_len % tokens, 0, "a map of {map_len} values is not [B, {height} * {width}, {}]", channels.stride);
        map_len / tokens
    }
}

/// Gathers the heads in `channels` of every window of `map`, each head vector divided by its
/// l2 norm (`F.normalize`: by `max(|x|, 1e-12)`) when `normalize`.
///
/// # Shapes
///
/// - map: `[B, H * W, stride]`
/// - output: `[B * nW, heads, N, head_dim]`
pub fn gather(map: &[f32], grid: &WindowGrid, channels: Channels, normalize: bool) -> Vec<f32> {
    let batch = grid.check(map.len(), &channels);
    let Channels { stride, offset, heads, head_dim: d } = channels;
    let (windows, n, area) = (grid.windows(), grid.tokens(), grid.size.area());
    build_chunks(batch * windows * heads * n * d, n * d, &[0.0], |item, chunk| {
        let (bw, h) = (item / heads, item % heads);
        let (b, w) = (bw / windows, bw % windows);
        for (t, dst) in chunk.chunks_exact_mut(d).enumerate() {
            let src = &map[(b * area + grid.position(w, t)) * stride + offset + h * d..][..d];
            let factor = if normalize { 1.0 / src.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12) } else { 1.0 };
            for (o, &x) in dst.iter_mut().zip(src) {
                *o = x * factor;
            }
        }
    })
}

/// Writes window-layout heads into the `channels` of a token map, the inverse of [`gather`]
/// (without normalisation); the map's other channels are left as they are.
///
/// # Shapes
///
/// - windows: `[B * nW, heads, N, head_dim]`
/// - map: `[B, H * W, stride]`
pub fn scatter(windows: &[f32], grid: &WindowGrid, channels: Channels, map: &mut [f32]) {
    let batch = grid.check(map.len(), &channels);
    let Channels { stride, offset, heads, head_dim: d } = channels;
    let (per_image, n, area) = (grid.windows(), grid.tokens(), grid.size.area());
    assert_eq!(windows.len(), batch * per_image * heads * n * d, "windows for {batch} images of {grid:?}");
    for_each_chunk(map, stride, |token, row| {
        let (b, (w, t)) = (token / area, grid.window_of(token % area));
        for h in 0..heads {
            let src = &windows[(((b * per_image + w) * heads + h) * n + t) * d..][..d];
            row[offset + h * d..][..d].copy_from_slice(src);
        }
    });
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::model::window_attention::{roll_spatial, split_qkv, window_partition};
    use burn::tensor::{Device, Distribution, Tensor};

    /// The gather against the plain ops' roll, partition and q/k/v split, on a map whose
    /// stripes are not square and whose shift wraps both axes.
    #[test]
    fn gather_matches_roll_partition_and_split() {
        let device = Device::flex();
        let (b, size, heads, d) = (2, Size { height: 6, width: 8 }, 2, 3);
        let c3 = 3 * heads * d + 4; // 4 more channels before: the branch starts at offset 4
        let map = Tensor::<3>::random([b, size.area(), c3], Distribution::Normal(0.0, 1.0), &device);
        let values = map.clone().into_data().try_into_vec::<f32>().unwrap();
        for (window, shift) in [([2, 4], [0, 0]), ([3, 2], [1, 1]), ([6, 2], [3, 1])] {
            let grid = WindowGrid { size, window, shift };
            let rolled = roll_spatial(map.clone().slice_dim(2, 4..c3).reshape([b, 6, 8, c3 - 4]), [-(shift[0] as i64), -(shift[1] as i64)]);
            let expected = split_qkv(window_partition(rolled, window), heads);
            for (part, expected) in expected.into_iter().enumerate() {
                let channels = Channels { stride: c3, offset: 4 + part * heads * d, heads, head_dim: d };
                let got = gather(&values, &grid, channels, false);
                assert_eq!(got, expected.into_data().try_into_vec::<f32>().unwrap(), "{grid:?}, part {part}");
            }
        }
    }

    #[test]
    fn gather_normalises_each_head_vector() {
        let grid = WindowGrid { size: Size { height: 1, width: 2 }, window: [1, 2], shift: [0, 0] };
        let map = [3.0, 4.0, 0.0, 0.0];
        let got = gather(&map, &grid, Channels { stride: 2, offset: 0, heads: 1, head_dim: 2 }, true);
        assert_eq!(got, vec![0.6, 0.8, 0.0, 0.0]);
    }

    /// Scatter undoes gather, writing only its own channels.
    #[test]
    fn scatter_inverts_gather() {
        let size = Size { height: 4, width: 6 };
        let channels = Channels { stride: 7, offset: 2, heads: 2, head_dim: 2 };
        let map: Vec<f32> = (0..2 * size.area() * 7).map(|i| i as f32).collect();
        for (window, shift) in [([2, 2], [1, 1]), ([4, 3], [2, 0]), ([1, 6], [0, 5])] {
            let grid = WindowGrid { size, window, shift };
            let windows = gather(&map, &grid, channels, false);
            let mut back = vec![-1.0; map.len()];
            scatter(&windows, &grid, channels, &mut back);
            for (i, (&got, &want)) in back.iter().zip(&map).enumerate() {
                let channel = i % 7;
                assert_eq!(got, if (2..6).contains(&channel) { want } else { -1.0 }, "{grid:?}, value {i}");
            }
        }
    }

    #[test]
    #[should_panic(expected = "windows must tile the map")]
    fn windows_that_do_not_tile_are_refused() {
        let grid = WindowGrid { size: Size { height: 5, width: 4 }, window: [2, 2], shift: [0, 0] };
        gather(&[0.0; 20], &grid, Channels { stride: 1, offset: 0, heads: 1, head_dim: 1 }, false);
    }
}
