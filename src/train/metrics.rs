//! Image quality: PSNR and SSIM on 8-bit RGB, as restoration papers report them.

/// The smallest side SSIM scores: its Gaussian window's.
pub const MIN_SSIM_SIDE: usize = WINDOW;

/// PSNR in dB between two 8-bit RGB images of one size over all three channels, ignoring
/// `shave` pixels at each border (the convention for SR: `shave` = scale). Identical images
/// give infinity.
///
/// # Errors
///
/// Images of different sizes, or nothing left after shaving.
pub fn psnr(a: &image::RgbImage, b: &image::RgbImage, shave: u32) -> Result<f64, String> {
    let (sum, count) = pixels(a, b, shave)?.fold((0.0, 0usize), |(sum, count), (x, y)| {
        (sum + (x - y).powi(2), count + 1)
    });
    Ok(10.0 * (255.0f64.powi(2) / (sum / count as f64)).log10())
}

/// The size of two images once `shave` pixels are dropped at each border.
fn shaved_size(a: &image::RgbImage, b: &image::RgbImage, shave: u32) -> Result<(u32, u32), String> {
    let (w, h) = a.dimensions();
    if (w, h) != b.dimensions() {
        let (bw, bh) = b.dimensions();
        return Err(format!("images of different sizes: {w}x{h} and {bw}x{bh}"));
    }
    match (w.checked_sub(shave.saturating_mul(2)), h.checked_sub(shave.saturating_mul(2))) {
        (Some(sw), Some(sh)) if sw > 0 && sh > 0 => Ok((sw, sh)),
        _ => Err(format!("a {w}x{h} image has nothing left after shaving {shave} pixels at each border")),
    }
}

/// All channel values of the shaved images, paired.
fn pixels<'a>(a: &'a image::RgbImage, b: &'a image::RgbImage, shave: u32) -> Result<impl Iterator<Item = (f64, f64)> + 'a, String> {
    let (w, h) = shaved_size(a, b, shave)?;
    let (end_x, end_y) = (w + shave, h + shave);
    Ok((shave..end_y).flat_map(move |y| {
        (shave..end_x).flat_map(move |x| {
            let (p, q) = (a.get_pixel(x, y), b.get_pixel(x, y));
            (0..3).map(move |c| (p[c] as f64, q[c] as f64))
        })
    }))
}

/// SSIM (Wang et al. 2004) between two 8-bit RGB images: an 11x11 Gaussian window of sigma
/// 1.5 over the valid region, K1 = 0.01, K2 = 0.03, L = 255, the mean over positions and then
/// over channels; `shave` pixels are dropped at each border first.
///
/// # Errors
///
/// Images of different sizes, or smaller than the window once shaved (evaluation tools
/// refuse those too rather than shrink the window).
pub fn ssim(a: &image::RgbImage, b: &image::RgbImage, shave: u32) -> Result<f64, String> {
    let (w, h) = shaved_size(a, b, shave)?;
    let (w, h) = (w as usize, h as usize);
    if w < WINDOW || h < WINDOW {
        return Err(format!("SSIM needs at least {WINDOW}x{WINDOW} pixels, got {w}x{h} after shaving {shave} at each border"));
    }
    let channel = |image: &image::RgbImage, c: usize| -> Vec<f64> {
        let mut out = Vec::with_capacity(w * h);
        for y in 0..h {
            for x in 0..w {
                out.push(image.get_pixel(x as u32 + shave, y as u32 + shave)[c] as f64);
            }
        }
        out
    };
    Ok((0..3).map(|c| ssim_plane(&channel(a, c), &channel(b, c), w, h)).sum::<f64>() / 3.0)
}

const WINDOW: usize = 11;

fn gaussian_window() -> [f64; WINDOW] {
    let weights: [f64; WINDOW] = std::array::from_fn(|i| {
        let d = i as f64 - (WINDOW / 2) as f64;
        (-d * d / (2.0 * 1.5 * 1.5)).exp()
    });
    let total: f64 = weights.iter().sum();
    weights.map(|v| v / total)
}

/// Separable Gaussian filtering over the valid region: `(w - 10) x (h - 10)` values.
fn filter_valid(plane: &[f64], w: usize, h: usize) -> Vec<f64> {
    let g = gaussian_window();
    let (ow, oh) = (w - WINDOW + 1, h - WINDOW + 1);
    let rows: Vec<f64> = (0..h)
        .flat_map(|y| (0..ow).map(move |x| (y, x)))
        .map(|(y, x)| (0..WINDOW).map(|k| g[k] * plane[y * w + x + k]).sum())
        .collect();
    (0..oh)
        .flat_map(|y| (0..ow).map(move |x| (y, x)))
        .map(|(y, x)| (0..WINDOW).map(|k| g[k] * rows[(y + k) * ow + x]).sum())
        .collect()
}

fn ssim_plane(a: &[f64], b: &[f64], w: usize, h: usize) -> f64 {
    let (c1, c2) = ((0.01f64 * 255.0).powi(2), (0.03f64 * 255.0).powi(2));
    let product = |f: fn(f64, f64) -> f64| a.iter().zip(b).map(|(&x, &y)| f(x, y)).collect::<Vec<_>>();
    let (mu_a, mu_b) = (filter_valid(a, w, h), filter_valid(b, w, h));
    let aa = filter_valid(&product(|x, _| x * x), w, h);
    let bb = filter_valid(&product(|_, y| y * y), w, h);
    let ab = filter_valid(&product(|x, y| x * y), w, h);
    let total: f64 = (0..mu_a.len())
        .map(|i| {
            let (ma, mb) = (mu_a[i], mu_b[i]);
            let (va, vb, cov) = (aa[i] - ma * ma, bb[i] - mb * mb, ab[i] - ma * mb);
            ((2.0 * ma * mb + c1) * (2.0 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2))
        })
        .sum();
    total / mu_a.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise_image(w: u32, h: u32, seed: u32) -> image::RgbImage {
        image::RgbImage::from_fn(w, h, |x, y| {
            let v = (x * 7919 + y * 104_729 + seed * 31).wrapping_mul(2_654_435_761) >> 24;
            image::Rgb([v as u8, (v * 3) as u8, (255 - v) as u8])
        })
    }

    #[test]
    fn psnr_of_a_known_error() {
        let a = image::RgbImage::from_pixel(20, 10, image::Rgb([100, 100, 100]));
        let b = image::RgbImage::from_pixel(20, 10, image::Rgb([110, 100, 100]));
        // MSE = 100 / 3 on every pixel.
        let expected = 10.0 * (255.0f64 * 255.0 / (100.0 / 3.0)).log10();
        assert!((psnr(&a, &b, 0).unwrap() - expected).abs() < 1e-9);
        assert!(psnr(&a, &a, 0).unwrap().is_infinite());
        // A border that differs does not count once shaved.
        let mut c = a.clone();
        c.put_pixel(0, 0, image::Rgb([0, 0, 0]));
        assert!(psnr(&a, &c, 1).unwrap().is_infinite());
    }

    #[test]
    fn ssim_is_one_for_equal_images_and_drops_with_noise() {
        let a = noise_image(40, 30, 1);
        assert!((ssim(&a, &a, 0).unwrap() - 1.0).abs() < 1e-12);
        let b = noise_image(40, 30, 2);
        let s = ssim(&a, &b, 0).unwrap();
        assert!(s < 0.5, "ssim of unrelated images {s}");
        // A constant offset of 10 grey levels keeps the structure: SSIM stays near 1.
        let c = image::RgbImage::from_fn(40, 30, |x, y| image::Rgb(a.get_pixel(x, y).0.map(|v| v.saturating_add(10).min(250))));
        assert!(ssim(&a, &c, 0).unwrap() > 0.9);
    }

    #[test]
    fn images_too_small_or_of_different_sizes_are_errors() {
        let a = noise_image(10, 30, 1);
        assert_eq!(ssim(&a, &a, 0).unwrap_err(), "SSIM needs at least 11x11 pixels, got 10x30 after shaving 0 at each border");
        assert!(psnr(&a, &a, 0).unwrap().is_infinite(), "PSNR has no window");
        assert_eq!(psnr(&a, &a, 5).unwrap_err(), "a 10x30 image has nothing left after shaving 5 pixels at each border");
        let b = noise_image(30, 10, 1);
        assert_eq!(psnr(&a, &b, 0).unwrap_err(), "images of different sizes: 10x30 and 30x10");
        assert!(ssim(&noise_image(15, 15, 1), &noise_image(15, 15, 2), 2).is_ok(), "11x11 once shaved");
    }
}
