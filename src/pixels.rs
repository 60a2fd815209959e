//! Pixel conversion between interleaved RGBA images (8-bit canvas `ImageData`, 8- or 16-bit
//! decoded files) and the planar f32 values in [0, 1] that GRL takes. Colour models see RGB;
//! single-channel models see luma (BT.601 Y), and their output is recombined with the input's
//! chroma. Pure, native-testable.

/// BT.601 luma and chroma weights (full range, as JPEG uses).
use crate::Size;

const KR: f32 = 0.299;
const KB: f32 = 0.114;
const KG: f32 = 1.0 - KR - KB;

/// Checks that an interleaved RGBA buffer of `len` values holds the pixels of an `image`.
pub fn check_rgba_len(len: usize, image: Size) -> Result<(), String> {
    let Size { height, width } = image;
    if width == 0 || height == 0 {
        return Err(format!("image is {width}x{height}: expected at least 1x1 pixels"));
    }
    let expected = width.checked_mul(height).and_then(|n| n.checked_mul(4));
    if expected != Some(len) {
        return Err(format!(
            "pixel buffer has {len} values: expected {} for {width}x{height} RGBA",
            expected.map_or("more than fit in memory".to_string(), |e| e.to_string())
        ));
    }
    Ok(())
}

/// 8-bit values to [0, 1].
pub fn u8_to_unit(values: &[u8]) -> Vec<f32> {
    values.iter().map(|&v| v as f32 / 255.0).collect()
}

/// 16-bit values to [0, 1].
pub fn u16_to_unit(values: &[u16]) -> Vec<f32> {
    values.iter().map(|&v| v as f32 / 65535.0).collect()
}

/// [0, 1] to 8-bit, rounded and clamped (NaN becomes 0).
pub fn unit_to_u8(values: &[f32]) -> Vec<u8> {
    values.iter().map(|&v| (v * 255.0).round().clamp(0.0, 255.0) as u8).collect()
}

/// [0, 1] to 16-bit, rounded and clamped (NaN becomes 0).
pub fn unit_to_u16(values: &[f32]) -> Vec<u16> {
    values.iter().map(|&v| (v * 65535.0).round().clamp(0.0, 65535.0) as u16).collect()
}

/// RGB planes `[3, n]` of interleaved RGBA.
pub fn rgba_to_rgb_planes(rgba: &[f32]) -> Vec<f32> {
    let n = rgba.len() / 4;
    let mut planes = vec![0.0; 3 * n];
    for (i, px) in rgba.chunks_exact(4).enumerate() {
        for c in 0..3 {
            planes[c * n + i] = px[c];
        }
    }
    planes
}

/// (Y, Cb, Cr) of one RGB pixel in [0, 1]; Cb and Cr are centred on 0.
pub fn rgb_to_ycbcr(r: f32, g: f32, b: f32) -> (f32, f32, f32) {
    let y = KR * r + KG * g + KB * b;
    (y, (b - y) / (2.0 * (1.0 - KB)), (r - y) / (2.0 * (1.0 - KR)))
}

/// RGB (unclamped) of one (Y, Cb, Cr) pixel.
pub fn ycbcr_to_rgb(y: f32, cb: f32, cr: f32) -> (f32, f32, f32) {
    let r = y + 2.0 * (1.0 - KR) * cr;
    let b = y + 2.0 * (1.0 - KB) * cb;
    let g = (y - KR * r - KB * b) / KG;
    (r, g, b)
}

/// Y, Cb and Cr planes `[3, n]` of interleaved RGBA.
pub fn rgba_to_ycbcr_planes(rgba: &[f32]) -> Vec<f32> {
    let n = rgba.len() / 4;
    let mut planes = vec![0.0; 3 * n];
    for (i, px) in rgba.chunks_exact(4).enumerate() {
        let (y, cb, cr) = rgb_to_ycbcr(px[0], px[1], px[2]);
        (planes[i], planes[n + i], planes[2 * n + i]) = (y, cb, cr);
    }
    planes
}

/// The alpha plane `[n]` of interleaved RGBA.
pub fn rgba_alpha_plane(rgba: &[f32]) -> Vec<f32> {
    rgba.chunks_exact(4).map(|px| px[3]).collect()
}

/// Interleaved RGBA, clamped to [0, 1], from RGB planes `[3, n]` and an alpha plane `[n]`.
pub fn rgb_planes_to_rgba(rgb: &[f32], alpha: &[f32]) -> Vec<f32> {
    let n = alpha.len();
    assert_eq!(rgb.len(), 3 * n, "3 planes of {n} pixels");
    (0..n)
        .flat_map(|i| [rgb[i], rgb[n + i], rgb[2 * n + i], alpha[i]].map(|v| v.clamp(0.0, 1.0)))
        .collect()
}

/// Interleaved RGBA, clamped to [0, 1], from Y, Cb, Cr planes `[3, n]` and an alpha plane `[n]`.
pub fn ycbcr_planes_to_rgba(ycbcr: &[f32], alpha: &[f32]) -> Vec<f32> {
    let n = alpha.len();
    assert_eq!(ycbcr.len(), 3 * n, "3 planes of {n} pixels");
    (0..n)
        .flat_map(|i| {
            let (r, g, b) = ycbcr_to_rgb(ycbcr[i], ycbcr[n + i], ycbcr[2 * n + i]);
            [r, g, b, alpha[i]].map(|v| v.clamp(0.0, 1.0))
        })
        .collect()
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    fn sample_rgba8(pixels: usize) -> Vec<u8> {
        (0..4 * pixels).map(|i| (i * 97 % 256) as u8).collect()
    }

    #[test]
    fn rgba8_round_trips_through_rgb_planes() {
        let rgba = u8_to_unit(&sample_rgba8(6));
        let planes = rgba_to_rgb_planes(&rgba);
        assert_eq!(planes.len(), 18);
        assert_eq!(planes[6], rgba[1], "G plane, first pixel");
        let back = rgb_planes_to_rgba(&planes, &rgba_alpha_plane(&rgba));
        assert_eq!(unit_to_u8(&back), sample_rgba8(6));
    }

    #[test]
    fn rgba8_and_rgba16_round_trip_through_ycbcr() {
        let rgba = u8_to_unit(&sample_rgba8(64));
        let back = ycbcr_planes_to_rgba(&rgba_to_ycbcr_planes(&rgba), &rgba_alpha_plane(&rgba));
        assert_eq!(unit_to_u8(&back), sample_rgba8(64));
        let deep: Vec<u16> = (0..4 * 64).map(|i| (i * 40_009 % 65_536) as u16).collect();
        let rgba = u16_to_unit(&deep);
        let back = ycbcr_planes_to_rgba(&rgba_to_ycbcr_planes(&rgba), &rgba_alpha_plane(&rgba));
        let worst = unit_to_u16(&back).iter().zip(&deep).map(|(a, b)| a.abs_diff(*b)).max().unwrap();
        assert!(worst <= 1, "16-bit round trip off by {worst}");
    }

    #[test]
    fn luma_of_known_colours() {
        let (y, cb, cr) = rgb_to_ycbcr(1.0, 1.0, 1.0);
        assert!((y - 1.0).abs() < 1e-6 && cb.abs() < 1e-6 && cr.abs() < 1e-6);
        let (y, _, cr) = rgb_to_ycbcr(1.0, 0.0, 0.0);
        assert!((y - 0.299).abs() < 1e-6 && (cr - 0.5).abs() < 1e-6);
    }

    #[test]
    fn bad_buffers_are_named_and_values_clamped() {
        assert_eq!(check_rgba_len(16, Size::square(2)), Ok(()));
        assert_eq!(check_rgba_len(15, Size::square(2)), Err("pixel buffer has 15 values: expected 16 for 2x2 RGBA".into()));
        assert!(check_rgba_len(0, Size { height: 3, width: 0 }).unwrap_err().contains("0x3"));
        assert!(check_rgba_len(4, Size { height: 2, width: usize::MAX }).unwrap_err().contains("more than fit"));
        assert_eq!(unit_to_u8(&[f32::NAN, 1.7, -0.2]), vec![0, 255, 0]);
        assert_eq!(unit_to_u16(&[0.5]), vec![32768]);
    }
}
