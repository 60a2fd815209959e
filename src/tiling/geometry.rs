//! Tile geometry: where the tiles of an image go. Pure integer logic, native-testable.
//!
//! Rules (SwinIR / chaiNNer style): one tile shape for the whole image, so tables, masks and
//! kernels are built once; each side a multiple of the model's `pad_size`; tiles spread evenly
//! with at least `overlap` pixels shared by neighbours; the last tile flush with the border.
//! An image side shorter than the tile gets a tile of that side rounded up to `pad_size`, and
//! the reader mirrors the image into the rest (see [`super::lanes::cut_tile`]).

use std::fmt;

use crate::Size;

/// A rectangle in image pixels: rows `y..y + h`, columns `x..x + w`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TileRect {
    pub y: usize,
    pub x: usize,
    pub h: usize,
    pub w: usize,
}

impl TileRect {
    /// This rectangle in output coordinates of a model that upscales by `scale`.
    pub fn scaled(&self, scale: usize) -> TileRect {
        TileRect { y: self.y * scale, x: self.x * scale, h: self.h * scale, w: self.w * scale }
    }
}

/// Where the tiles of one image go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TilePlan {
    /// The image.
    pub image: Size,
    /// The one tile shape, each side a multiple of `pad_size`.
    pub tile: Size,
    /// The overlap asked for; neighbouring tiles share at least this many pixels.
    pub overlap: usize,
    /// Tiles, row by row. Tiles may extend past the image where the image is smaller than a tile.
    pub tiles: Vec<TileRect>,
}

/// The largest tile side asked for (a tile larger than the image shrinks to it anyway): past
/// it, a request is a mistake, and sums of sides could wrap.
pub const MAX_TILE: usize = 1 << 16;
/// The largest overlap asked for; it must also stay below half the tile.
pub const MAX_OVERLAP: usize = MAX_TILE / 2 - 1;

/// Why a plan cannot be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TilingError {
    EmptyImage(Size),
    ZeroMultiple,
    TileTooSmall { tile: usize, pad_size: usize },
    /// A tile or overlap past [`MAX_TILE`] or [`MAX_OVERLAP`].
    OutOfRange { name: &'static str, value: usize, min: usize, max: usize },
    OverlapTooLarge { overlap: usize, tile: usize },
}

impl fmt::Display for TilingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TilingError::EmptyImage(image) => write!(f, "image is {image}: expected at least 1x1 pixels"),
            TilingError::ZeroMultiple => write!(f, "pad_size is 0: expected at least 1"),
            TilingError::TileTooSmall { tile, pad_size } => {
                write!(f, "tile size {tile} is smaller than the model's pad size {pad_size}")
            }
            TilingError::OutOfRange { name, value, min, max } => {
                write!(f, "{name} {value} is out of range: expected {min} to {max}")
            }
            TilingError::OverlapTooLarge { overlap, tile } => write!(
                f,
                "overlap {overlap} leaves no progress with tile {tile}: expected overlap < tile / 2"
            ),
        }
    }
}

impl std::error::Error for TilingError {}

/// The tile shape [`plan_tiles`] uses for `image`: each side `tile` rounded down to a
/// multiple of `pad_size`, or the image's side rounded up to one where that is smaller.
/// `pad_size` must not be 0.
pub fn tile_shape(image: Size, tile: usize, pad_size: usize) -> Size {
    let side = tile / pad_size * pad_size; // the largest allowed side not above `tile`
    let padded = image.next_multiple_of(pad_size);
    Size { height: side.min(padded.height), width: side.min(padded.width) }
}

/// Checks a tile side and an overlap against [`MAX_TILE`] and [`MAX_OVERLAP`], so that no
/// sum or product of them (times a scale of at most 16) can wrap.
fn check_options(tile: usize, overlap: usize) -> Result<(), TilingError> {
    for (name, value, min, max) in [("tile size", tile, 1, MAX_TILE), ("overlap", overlap, 0, MAX_OVERLAP)] {
        if value > max {
            return Err(TilingError::OutOfRange { name, value, min, max });
        }
    }
    Ok(())
}

/// Starts of the tiles along one axis of length `len`, for tiles of length `tile`: evenly
/// spread, first at 0, last at `len - tile` (flush), neighbours sharing at least `overlap`
/// (`overlap < tile / 2`, checked by the caller).
fn axis_starts(len: usize, tile: usize, overlap: usize) -> Vec<usize> {
    if len <= tile {
        return vec![0];
    }
    let stride = tile - overlap;
    let count = (len - overlap).div_ceil(stride); // smallest count whose tiles cover len
    let span = len - tile;
    (0..count).map(|i| (i * span + (count - 1) / 2) / (count - 1)).collect()
}

/// Plans the tiles of an image for tiles of at most `tile` pixels a side, each side a
/// multiple of `pad_size`, sharing at least `overlap` pixels with neighbours.
pub fn plan_tiles(image: Size, tile: usize, overlap: usize, pad_size: usize) -> Result<TilePlan, TilingError> {
    if image.area() == 0 {
        return Err(TilingError::EmptyImage(image));
    }
    if pad_size == 0 {
        return Err(TilingError::ZeroMultiple);
    }
    check_options(tile, overlap)?;
    let side = tile / pad_size * pad_size;
    if side == 0 {
        return Err(TilingError::TileTooSmall { tile, pad_size });
    }
    let shape = tile_shape(image, tile, pad_size);
    // One tile has no neighbours: the overlap does not matter.
    let one_tile = image.height <= shape.height && image.width <= shape.width;
    if overlap >= side.div_ceil(2) && !one_tile {
        return Err(TilingError::OverlapTooLarge { overlap, tile: side });
    }
    let rows = axis_starts(image.height, shape.height, overlap);
    let cols = axis_starts(image.width, shape.width, overlap);
    let tiles = rows
        .iter()
        .flat_map(|&y| cols.iter().map(move |&x| TileRect { y, x, h: shape.height, w: shape.width }))
        .collect();
    Ok(TilePlan { image, tile: shape, overlap, tiles })
}

/// The tile side for an image whose longer side is `side`, cut into tiles of about `target`
/// pixels a side: as many tiles per axis as `target` needs, each the smallest multiple of
/// `pad_size` that covers `side` with that many tiles sharing `overlap` pixels. Even tiles cost
/// less than `target`-sized ones with a thin last tile (a 512 side with target 256: two tiles of
/// 272 rather than three of 256). `pad_size` must not be 0. Saturating: an absurd overlap gives
/// an absurd tile, which [`plan_tiles`] then refuses with the value.
pub fn even_tile(side: usize, target: usize, overlap: usize, pad_size: usize) -> usize {
    let count = side.div_ceil(target.max(1)).max(1);
    let covered = side.saturating_add((count - 1).saturating_mul(overlap));
    covered.div_ceil(count).checked_next_multiple_of(pad_size).unwrap_or(usize::MAX)
}

/// The image coordinate read for tile coordinate `i` on an axis of length `len`: mirror
/// (reflect, without repeating the edge) past the border, as the model's own padding does.
pub fn mirror(i: usize, len: usize) -> usize {
    if len == 1 {
        return 0;
    }
    let period = 2 * (len - 1);
    let m = i % period;
    if m < len { m } else { period - m }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    /// Checks the properties every plan must have, for one image and setting.
    fn check_plan(h: usize, w: usize, tile: usize, overlap: usize, pad: usize) {
        let plan = plan_tiles(Size { height: h, width: w }, tile, overlap, pad).unwrap();
        let Size { height: th, width: tw } = plan.tile;
        assert!(th % pad == 0 && tw % pad == 0, "tile {th}x{tw} not a multiple of {pad}");
        assert!(th <= tile.max(pad) && tw <= tile.max(pad));
        let mut covered = vec![0u32; h * w];
        for t in &plan.tiles {
            assert_eq!((t.h, t.w), (th, tw), "one tile shape for the whole image");
            // Inside the image, or starting at 0 where the image is smaller than the tile.
            assert!(t.y + t.h <= h.max(th) && t.x + t.w <= w.max(tw), "{t:?} outside {h}x{w}");
            for y in t.y..(t.y + t.h).min(h) {
                for x in t.x..(t.x + t.w).min(w) {
                    covered[y * w + x] += 1;
                }
            }
        }
        assert!(covered.iter().all(|&c| c > 0), "{h}x{w} tile {tile} overlap {overlap}: a pixel is not covered");
        // The last tile of each axis is flush with the border.
        let last = plan.tiles.last().unwrap();
        assert_eq!(last.y + last.h, h.max(th));
        assert_eq!(last.x + last.w, w.max(tw));
    }

    #[test]
    fn plans_cover_every_pixel_with_flush_last_tiles() {
        for &(h, w) in &[(1, 1), (37, 53), (64, 64), (65, 64), (200, 301), (1000, 17), (4000, 6000)] {
            for &(tile, overlap, pad) in &[(64, 8, 16), (128, 16, 32), (256, 32, 64), (96, 0, 8), (100, 10, 8)] {
                check_plan(h, w, tile, overlap, pad);
            }
        }
    }

    #[test]
    fn tiles_are_evenly_spread_and_share_the_overlap() {
        let starts = axis_starts(300, 128, 16);
        assert_eq!(starts, vec![0, 86, 172]); // 3 tiles: 0..128, 86..214, 172..300
        let gaps: Vec<usize> = starts.windows(2).map(|p| p[1] - p[0]).collect();
        assert!(gaps.iter().all(|&g| g <= 128 - 16), "overlap kept: {gaps:?}");
        assert!(gaps.iter().max().unwrap() - gaps.iter().min().unwrap() <= 1, "even: {gaps:?}");
    }

    #[test]
    fn small_images_get_one_padded_tile() {
        let plan = plan_tiles(Size { height: 37, width: 53 }, 256, 16, 16).unwrap();
        assert_eq!(plan.tile, Size { height: 48, width: 64 });
        assert_eq!(plan.tiles, vec![TileRect { y: 0, x: 0, h: 48, w: 64 }]);
    }

    #[test]
    fn bad_settings_are_errors_that_name_the_values() {
        let empty = Size { height: 0, width: 5 };
        assert_eq!(plan_tiles(empty, 64, 8, 16), Err(TilingError::EmptyImage(empty)));
        assert_eq!(TilingError::EmptyImage(empty).to_string(), "image is 5x0: expected at least 1x1 pixels");
        let e = plan_tiles(Size::square(64), 8, 0, 16).unwrap_err();
        assert_eq!(e.to_string(), "tile size 8 is smaller than the model's pad size 16");
        let e = plan_tiles(Size { height: 65, width: 64 }, 64, 32, 16).unwrap_err();
        assert!(e.to_string().contains("overlap 32"), "{e}");
        // One tile has no neighbours: any overlap will do.
        assert_eq!(plan_tiles(Size::square(16), 16, 16, 8).unwrap().tiles.len(), 1);
    }

    #[test]
    fn huge_options_are_refused_before_any_arithmetic() {
        let image = Size { height: 300, width: 200 };
        let e = plan_tiles(image, 64, 1 << 63, 16).unwrap_err();
        assert_eq!(e.to_string(), "overlap 9223372036854775808 is out of range: expected 0 to 32767");
        let e = plan_tiles(image, usize::MAX, 16, 16).unwrap_err();
        assert_eq!(e.to_string(), format!("tile size {} is out of range: expected 1 to 65536", usize::MAX));
        // At the bounds, and at odd sides, the overlap check is exact: overlap < tile / 2.
        assert_eq!(plan_tiles(Size::square(1 << 17), MAX_TILE, MAX_OVERLAP, 16).unwrap().tiles.len(), 9);
        assert!(plan_tiles(image, 40, 19, 5).is_ok());
        assert!(matches!(plan_tiles(image, 40, 20, 5), Err(TilingError::OverlapTooLarge { overlap: 20, tile: 40 })));
        assert!(matches!(plan_tiles(image, 45, 23, 5), Err(TilingError::OverlapTooLarge { overlap: 23, tile: 45 })));
        assert!(plan_tiles(image, 45, 22, 5).is_ok());
    }

    #[test]
    fn even_tiles_split_a_side_into_as_few_tiles_as_the_target_needs() {
        assert_eq!(even_tile(512, 256, 16, 16), 272);
        assert_eq!(plan_tiles(Size::square(512), 272, 16, 16).unwrap().tiles.len(), 4);
        assert_eq!(even_tile(600, 256, 16, 8), 216); // 3 tiles: ceil((600 + 32) / 3) = 211 -> 216
        assert_eq!(plan_tiles(Size { height: 300, width: 600 }, 216, 16, 8).unwrap().tiles.len(), 2 * 3);
        assert_eq!(even_tile(100, 256, 16, 16), 112, "one tile: the side padded");
        for side in [1, 17, 255, 256, 257, 511, 1000, 4097] {
            let tile = even_tile(side, 128, 16, 16);
            let plan = plan_tiles(Size { height: 1, width: side }, tile, 16, 16).unwrap();
            assert!(plan.tiles.len() <= side.div_ceil(128), "side {side}: tile {tile}");
            assert!(tile <= 128 + 16 + 16, "side {side}: tile {tile}");
        }
    }

    #[test]
    fn mirror_reflects_without_repeating_the_edge() {
        let got: Vec<usize> = (0..10).map(|i| mirror(i, 4)).collect();
        assert_eq!(got, vec![0, 1, 2, 3, 2, 1, 0, 1, 2, 3]);
        assert_eq!(mirror(5, 1), 0);
    }
}
