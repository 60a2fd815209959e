//! Seamless blending of overlapping tile outputs: each output pixel is the weighted mean of
//! the tiles covering it. Along an inner edge (one shared with a neighbour, never an image
//! border) a tile's weight is 0 in a guard band of a quarter of the overlap, where its output
//! saw mirrored pixels instead of the real neighbourhood, then rises as a raised cosine over
//! the middle half of the overlap. Neighbours share at least the overlap, so every pixel keeps
//! a positive weight, and a network whose receptive field fits in the guard band is blended
//! exactly (its tiled output equals its whole-image output).

use super::geometry::TileRect;
use crate::Size;

/// Weight of position `i` along a tile axis of length `len` for an overlap of `ramp` pixels;
/// `ramp_start` / `ramp_end` say whether that edge is inside the image (shared with a neighbour).
/// The raised cosine is sampled at pixel centres.
fn axis_weight(i: usize, len: usize, ramp: usize, ramp_start: bool, ramp_end: bool) -> f32 {
    let guard = ramp / 4;
    let rise = |d: usize| {
        if d < guard {
            0.0
        } else if d >= ramp - guard {
            1.0
        } else {
            let t = (d - guard) as f32 + 0.5;
            0.5 - 0.5 * (std::f32::consts::PI * t / (ramp - 2 * guard) as f32).cos()
        }
    };
    let from_start = if ramp_start { rise(i) } else { 1.0 };
    let from_end = if ramp_end { rise(len - 1 - i) } else { 1.0 };
    from_start * from_end
}

/// Accumulates tile outputs (`channels` planes, output coordinates) into a weighted sum and
/// turns it into the blended image.
#[derive(Debug)]
pub struct Blender {
    size: Size,
    channels: usize,
    ramp: usize,
    /// Weighted sums, planar `[channels, height, width]`.
    sum: Vec<f32>,
    /// Sum of weights, `[height, width]`.
    weight: Vec<f32>,
}

impl Blender {
    /// A blender for an output of `size` and `channels` planes, for tiles that overlap by at
    /// least `ramp` output pixels (the overlap times the model's scale).
    pub fn new(size: Size, channels: usize, ramp: usize) -> Self {
        Blender { size, channels, ramp, sum: vec![0.0; channels * size.area()], weight: vec![0.0; size.area()] }
    }

    /// Adds one tile's output, planar `[channels, rect.h, rect.w]` in output coordinates; the
    /// parts of the tile outside the image (mirror padding) are dropped.
    pub fn add(&mut self, rect: TileRect, planes: &[f32]) {
        assert_eq!(planes.len(), self.channels * rect.h * rect.w, "tile output size");
        let ramp_top = rect.y > 0;
        let ramp_left = rect.x > 0;
        let Size { height, width } = self.size;
        let ramp_bottom = rect.y + rect.h < height;
        let ramp_right = rect.x + rect.w < width;
        let rows = rect.h.min(height - rect.y);
        let cols = rect.w.min(width - rect.x);
        let col_weights: Vec<f32> =
            (0..cols).map(|c| axis_weight(c, rect.w, self.ramp, ramp_left, ramp_right)).collect();
        for r in 0..rows {
            let wr = axis_weight(r, rect.h, self.ramp, ramp_top, ramp_bottom);
            let out_row = (rect.y + r) * width + rect.x;
            for (c, &wc) in col_weights.iter().enumerate() {
                let w = wr * wc;
                self.weight[out_row + c] += w;
                for ch in 0..self.channels {
                    let src = (ch * rect.h + r) * rect.w + c;
                    self.sum[ch * height * width + out_row + c] += w * planes[src];
                }
            }
        }
    }

    /// The blended image, planar `[channels, height, width]`; `None` if a pixel got no weight
    /// (a plan that does not cover the image).
    pub fn finish(self) -> Option<Vec<f32>> {
        if self.weight.iter().any(|&w| w <= 0.0) {
            return None;
        }
        let plane = self.size.area();
        let mut out = self.sum;
        for (i, v) in out.iter_mut().enumerate() {
            *v /= self.weight[i % plane];
        }
        Some(out)
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::tiling::geometry::plan_tiles;

    #[test]
    fn weights_fall_towards_inner_edges_only() {
        // Overlap 8: guard band 0..2 at 0, ramp over 2..6, then 1.
        assert_eq!(axis_weight(0, 16, 8, false, false), 1.0);
        let w: Vec<f32> = (0..8).map(|i| axis_weight(i, 32, 8, true, false)).collect();
        assert_eq!(&w[..2], &[0.0, 0.0]);
        assert!(w[2] > 0.0 && w[2] < 0.2 && w[5] > 0.8 && w[5] < 1.0, "{w:?}");
        assert!(w.windows(2).all(|p| p[0] <= p[1]), "rising: {w:?}");
        assert_eq!(&w[6..], &[1.0, 1.0]);
        // Two tiles sharing exactly the overlap: weights add up to a positive sum everywhere.
        for d in 0..8 {
            let left = axis_weight(32 - 8 + d, 32, 8, false, true);
            let right = axis_weight(d, 32, 8, true, false);
            assert!(left + right > 0.5, "pixel {d} of the overlap: {left} + {right}");
        }
        assert!((axis_weight(29, 32, 8, false, true) - w[2]).abs() < 1e-7, "symmetric");
    }

    #[test]
    fn blending_tiles_of_a_constant_image_gives_it_back() {
        // Any weighted mean of equal values is that value: checks normalisation and coverage.
        let (h, w, scale) = (70, 95, 2);
        let image = Size { height: h, width: w };
        let plan = plan_tiles(image, 32, 8, 8).unwrap();
        let mut blender = Blender::new(image.scaled(scale), 3, 8 * scale);
        for t in &plan.tiles {
            let r = t.scaled(scale);
            let planes: Vec<f32> = (0..3).flat_map(|c| vec![c as f32 + 0.25; r.h * r.w]).collect();
            blender.add(r, &planes);
        }
        let out = blender.finish().expect("every pixel covered");
        for c in 0..3 {
            let plane = &out[c * h * scale * w * scale..(c + 1) * h * scale * w * scale];
            assert!(plane.iter().all(|&v| (v - (c as f32 + 0.25)).abs() < 1e-6));
        }
    }

    #[test]
    fn blending_tiles_cut_from_an_image_gives_it_back() {
        // Tiles that agree where they overlap (crops of one image) blend to that image exactly.
        let (h, w) = (50, 61);
        let image: Vec<f32> = (0..h * w).map(|i| ((i * 37) % 101) as f32 / 101.0).collect();
        let size = Size { height: h, width: w };
        let plan = plan_tiles(size, 24, 6, 8).unwrap();
        let mut blender = Blender::new(size, 1, 6);
        for t in &plan.tiles {
            let planes: Vec<f32> = (0..t.h * t.w)
                .map(|i| {
                    let (y, x) = (t.y + i / t.w, t.x + i % t.w);
                    if y < h && x < w { image[y * w + x] } else { -1.0 }
                })
                .collect();
            blender.add(*t, &planes);
        }
        let out = blender.finish().unwrap();
        let err = out.iter().zip(&image).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
        assert!(err < 1e-6, "max error {err}");
    }

    #[test]
    fn an_uncovered_pixel_is_reported() {
        let mut blender = Blender::new(Size::square(4), 1, 0);
        blender.add(TileRect { y: 0, x: 0, h: 2, w: 4 }, &[1.0; 8]);
        assert!(blender.finish().is_none());
    }
}
