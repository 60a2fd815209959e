//! Pixel conversion between RGBA8 images (canvas `ImageData`, decoded files) and the planar
//! f32 tensors in [0, 1] that GRL takes. Colour models see RGB; single-channel models see luma
//! (BT.601 Y), and their output is recombined with the input's chroma. Pure, native-testable.

/// BT.601 luma and chroma weights (full range, as JPEG uses).
const KR: f32 = 0.299;
const KB: f32 = 0.114;
const KG: f32 = 1.0 - KR - KB;

/// Checks that `rgba` holds `width x height` RGBA pixels.
pub fn check_rgba(rgba: &[u8], width: usize, height: usize) -> Result<(), String> {
    if width == 0 || height == 0 {
        return Err(format!("image is {width}x{height}: expected at least 1x1 pixels"));
    }
    let expected = width * height * 4;
    if rgba.len() != expected {
        return Err(format!(
            "pixel buffer has {} bytes: expected {expected} for {width}x{height} RGBA",
            rgba.len()
        ));
    }
    Ok(())
}

/// RGB planes in [0, 1], `[3, height, width]` flattened.
pub fn rgba_to_rgb_planes(rgba: &[u8]) -> Vec<f32> {
    let n = rgba.len() / 4;
    let mut planes = vec![0.0; 3 * n];
    for (i, px) in rgba.chunks_exact(4).enumerate() {
        for c in 0..3 {
            planes[c * n + i] = px[c] as f32 / 255.0;
        }
    }
    planes
}

/// (Y, Cb, Cr) of one RGB pixel in [0, 1]; Cb and Cr are centred on 0.
pub fn rgb_to_ycbcr(r: f32, g: f32, b: f32) -> (f32, f32, f32) {
    let y = KR * r + KG * g + KB * b;
    (y, (b - y) / (2.0 * (1.0 - KB)), (r - y) / (2.0 * (1.0 - KR)))
}

/// RGB in [0, 1] (unclamped) of one (Y, Cb, Cr) pixel.
pub fn ycbcr_to_rgb(y: f32, cb: f32, cr: f32) -> (f32, f32, f32) {
    let r = y + 2.0 * (1.0 - KR) * cr;
    let b = y + 2.0 * (1.0 - KB) * cb;
    let g = (y - KR * r - KB * b) / KG;
    (r, g, b)
}

/// Y, Cb and Cr planes of an RGBA image, each `[height, width]` flattened.
pub fn rgba_to_ycbcr_planes(rgba: &[u8]) -> [Vec<f32>; 3] {
    let n = rgba.len() / 4;
    let (mut y, mut cb, mut cr) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    for (i, px) in rgba.chunks_exact(4).enumerate() {
        let [r, g, b] = [px[0], px[1], px[2]].map(|v| v as f32 / 255.0);
        (y[i], cb[i], cr[i]) = rgb_to_ycbcr(r, g, b);
    }
    [y, cb, cr]
}

/// The alpha plane of an RGBA image in [0, 1].
pub fn rgba_alpha_plane(rgba: &[u8]) -> Vec<f32> {
    rgba.chunks_exact(4).map(|px| px[3] as f32 / 255.0).collect()
}

/// A float in [0, 1] to a byte, rounded and clamped (NaN becomes 0).
pub fn to_u8(v: f32) -> u8 {
    (v * 255.0).round().clamp(0.0, 255.0) as u8
}

/// RGBA8 from RGB planes `[3, n]` and an alpha plane `[n]`.
pub fn rgb_planes_to_rgba(rgb: &[f32], alpha: &[f32]) -> Vec<u8> {
    let n = alpha.len();
    assert_eq!(rgb.len(), 3 * n, "3 planes of {n} pixels");
    (0..n).flat_map(|i| [to_u8(rgb[i]), to_u8(rgb[n + i]), to_u8(rgb[2 * n + i]), to_u8(alpha[i])]).collect()
}

/// RGBA8 from a restored luma plane and the image's chroma and alpha planes, all `[n]`.
pub fn ycbcr_planes_to_rgba(y: &[f32], cb: &[f32], cr: &[f32], alpha: &[f32]) -> Vec<u8> {
    let n = y.len();
    assert!(cb.len() == n && cr.len() == n && alpha.len() == n, "planes of {n} pixels");
    (0..n)
        .flat_map(|i| {
            let (r, g, b) = ycbcr_to_rgb(y[i], cb[i], cr[i]);
            [to_u8(r), to_u8(g), to_u8(b), to_u8(alpha[i])]
        })
        .collect()
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn rgba_round_trips_through_rgb_planes() {
        let rgba: Vec<u8> = (0..4 * 6).map(|i| (i * 41 % 256) as u8).collect();
        let planes = rgba_to_rgb_planes(&rgba);
        assert_eq!(planes.len(), 18);
        assert!((planes[6] - rgba[1] as f32 / 255.0).abs() < 1e-7, "G plane, first pixel");
        assert_eq!(rgb_planes_to_rgba(&planes, &rgba_alpha_plane(&rgba)), rgba);
    }

    #[test]
    fn rgba_round_trips_through_ycbcr() {
        let rgba: Vec<u8> = (0..4 * 64).map(|i| (i * 97 % 256) as u8).collect();
        let [y, cb, cr] = rgba_to_ycbcr_planes(&rgba);
        assert_eq!(ycbcr_planes_to_rgba(&y, &cb, &cr, &rgba_alpha_plane(&rgba)), rgba);
    }

    #[test]
    fn luma_of_known_colours() {
        let (y, cb, cr) = rgb_to_ycbcr(1.0, 1.0, 1.0);
        assert!((y - 1.0).abs() < 1e-6 && cb.abs() < 1e-6 && cr.abs() < 1e-6);
        let (y, _, cr) = rgb_to_ycbcr(1.0, 0.0, 0.0);
        assert!((y - 0.299).abs() < 1e-6 && (cr - 0.5).abs() < 1e-6);
    }

    #[test]
    fn bad_buffers_are_named() {
        assert_eq!(check_rgba(&[0; 16], 2, 2), Ok(()));
        assert_eq!(
            check_rgba(&[0; 15], 2, 2),
            Err("pixel buffer has 15 bytes: expected 16 for 2x2 RGBA".into())
        );
        assert!(check_rgba(&[], 0, 3).unwrap_err().contains("0x3"));
        assert_eq!(to_u8(f32::NAN), 0);
        assert_eq!(to_u8(1.7), 255);
    }
}
