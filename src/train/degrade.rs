//! The synthetic degradations a model learns to undo, shared by training and evaluation:
//! additive Gaussian noise (denoising), bicubic downscaling (super-resolution) and JPEG
//! compression (artifact removal). Degraded images are clamped and rounded to 8 bits, as the
//! images users bring are.

use image::codecs::jpeg::JpegEncoder;
use rand::RngExt;
use rand::rngs::StdRng;
use rand_distr::StandardNormal;

use super::data::Planar;

/// The noise level of a denoiser's training pairs, on the 0-255 scale.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sigma {
    Fixed(f32),
    /// Uniform in `[low, high]` per patch: a blind denoiser.
    Range(f32, f32),
}

/// A degradation's level as written, `"A"` or `"A-B"`, each side read by `number`: the value,
/// or the range's bounds (`low <= high`, else an error naming `what`).
fn parse_level<T: PartialOrd>(text: &str, what: &str, number: impl Fn(&str) -> Result<T, String>) -> Result<(T, Option<T>), String> {
    let Some((low, high)) = text.split_once('-') else { return Ok((number(text)?, None)) };
    let (low, high) = (number(low)?, number(high)?);
    if low > high {
        return Err(format!("{what} range {text:?} is empty: expected low-high with low <= high"));
    }
    Ok((low, Some(high)))
}

impl Sigma {
    /// `"25"` or `"0-50"`.
    pub fn parse(text: &str) -> Result<Sigma, String> {
        let number = |s: &str| {
            s.trim().parse::<f32>().ok().filter(|v| v.is_finite() && *v >= 0.0 && *v <= 255.0).ok_or_else(|| {
                format!("sigma {text:?} is not a noise level: expected a number in 0-255 such as 25, or a range such as 0-50")
            })
        };
        Ok(match parse_level(text, "sigma", number)? {
            (sigma, None) => Sigma::Fixed(sigma),
            (low, Some(high)) => Sigma::Range(low, high),
        })
    }

    fn draw(self, rng: &mut StdRng) -> f32 {
        match self {
            Sigma::Fixed(s) => s,
            Sigma::Range(low, high) if low == high => low,
            Sigma::Range(low, high) => rng.random_range(low..=high),
        }
    }
}

impl std::fmt::Display for Sigma {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Sigma::Fixed(s) => write!(f, "sigma {s}"),
            Sigma::Range(low, high) => write!(f, "sigma {low}-{high}"),
        }
    }
}

/// The JPEG quality of an artifact-removal model's inputs (1-100, the encoder's scale).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quality {
    Fixed(u8),
    /// Uniform in `[low, high]` per patch: a blind model.
    Range(u8, u8),
}

impl Quality {
    /// `"20"` or `"10-50"`.
    pub fn parse(text: &str) -> Result<Quality, String> {
        let number = |s: &str| {
            s.trim().parse::<u8>().ok().filter(|q| (1..=100).contains(q)).ok_or_else(|| {
                format!("JPEG quality {text:?} is not a quality: expected a whole number in 1-100 such as 20, or a range such as 10-50")
            })
        };
        Ok(match parse_level(text, "JPEG quality", number)? {
            (quality, None) => Quality::Fixed(quality),
            (low, Some(high)) => Quality::Range(low, high),
        })
    }

    fn draw(self, rng: &mut StdRng) -> u8 {
        match self {
            Quality::Fixed(q) => q,
            Quality::Range(low, high) => rng.random_range(low..=high),
        }
    }
}

impl std::fmt::Display for Quality {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Quality::Fixed(q) => write!(f, "quality {q}"),
            Quality::Range(low, high) => write!(f, "quality {low}-{high}"),
        }
    }
}

/// A task's degradation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Degradation {
    /// Additive white Gaussian noise.
    Noise(Sigma),
    /// Bicubic downscaling by an integer factor.
    Bicubic { scale: usize },
    /// Colour JPEG compression (the image crate's encoder).
    Jpeg(Quality),
}

impl Degradation {
    /// `"noise:25"`, `"noise:0-50"` (sigma on the 0-255 scale), `"bicubic:2"` (the scale),
    /// `"jpeg:20"` or `"jpeg:10-50"` (the quality).
    pub fn parse(text: &str) -> Result<Degradation, String> {
        match text.split_once(':') {
            Some(("noise", sigma)) => Sigma::parse(sigma).map(Degradation::Noise).map_err(|e| format!("degradation {text:?}: {e}")),
            Some(("bicubic", scale)) => match scale.parse::<usize>() {
                Ok(scale @ 2..=8) => Ok(Degradation::Bicubic { scale }),
                _ => Err(format!("degradation {text:?}: the bicubic scale must be a whole number from 2 to 8")),
            },
            Some(("jpeg", quality)) => Quality::parse(quality).map(Degradation::Jpeg).map_err(|e| format!("degradation {text:?}: {e}")),
            _ => Err(format!(
                "degradation {text:?} is unknown: expected noise:SIGMA (25, 0-50), bicubic:SCALE (2, 3, 4) or jpeg:QUALITY (20, 10-50)"
            )),
        }
    }

    /// The model's output size over its input size.
    pub fn scale(&self) -> usize {
        match self {
            Degradation::Noise(_) | Degradation::Jpeg(_) => 1,
            Degradation::Bicubic { scale } => *scale,
        }
    }

    /// The degraded input for the clean `target` (whose sides must be multiples of
    /// [`Self::scale`]). Fails only for a JPEG of a side over 65,535 pixels.
    pub fn apply(&self, target: &Planar, rng: &mut StdRng) -> Result<Planar, String> {
        match *self {
            Degradation::Noise(sigma) => Ok(add_noise(target, sigma.draw(rng), rng)),
            Degradation::Bicubic { scale } => Ok(target.resize(target.width / scale, target.height / scale).quantized()),
            Degradation::Jpeg(quality) => jpeg(target, quality.draw(rng)),
        }
    }

    /// The trivial restoration a model must beat: the `degraded` input itself, or its bicubic
    /// upscaling (as 8-bit values).
    pub fn baseline(&self, degraded: &Planar) -> Planar {
        match *self {
            Degradation::Bicubic { scale } => degraded.resize(degraded.width * scale, degraded.height * scale).quantized(),
            Degradation::Noise(_) | Degradation::Jpeg(_) => degraded.clone(),
        }
    }
}

/// `clean` encoded as a colour JPEG at `quality` (1-100) by the image crate's encoder, then
/// decoded: what a photo saved at that quality holds.
pub fn jpeg(clean: &Planar, quality: u8) -> Result<Planar, String> {
    let mut bytes = Vec::new();
    JpegEncoder::new_with_quality(&mut bytes, quality)
        .encode_image(&clean.to_rgb8())
        .map_err(|e| format!("cannot encode a {}x{} JPEG: {e}", clean.width, clean.height))?;
    let decoded = image::load_from_memory_with_format(&bytes, image::ImageFormat::Jpeg)
        .map_err(|e| format!("cannot decode the JPEG just encoded: {e}"))?;
    Ok(Planar::from_rgb8(&decoded.to_rgb8()))
}

/// `clean` plus Gaussian noise of standard deviation `sigma` / 255, clamped and rounded to 8 bits.
pub fn add_noise(clean: &Planar, sigma: f32, rng: &mut StdRng) -> Planar {
    let sigma = sigma / 255.0;
    let planes = clean.planes.iter().map(|v| v + sigma * rng.sample::<f32, _>(StandardNormal)).collect();
    Planar { planes, ..*clean }.quantized()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn sigma_parses_numbers_and_ranges_and_names_bad_values() {
        assert_eq!(Sigma::parse("25").unwrap(), Sigma::Fixed(25.0));
        assert_eq!(Sigma::parse("0-50").unwrap(), Sigma::Range(0.0, 50.0));
        for bad in ["", "x", "-3", "50-0", "300"] {
            let e = Sigma::parse(bad).unwrap_err();
            assert!(e.contains(&format!("{bad:?}")), "{e}");
        }
    }

    #[test]
    fn degradations_parse() {
        assert_eq!(Degradation::parse("noise:0-50").unwrap(), Degradation::Noise(Sigma::Range(0.0, 50.0)));
        assert_eq!(Degradation::parse("bicubic:2").unwrap(), Degradation::Bicubic { scale: 2 });
        assert_eq!(Degradation::parse("jpeg:20").unwrap(), Degradation::Jpeg(Quality::Fixed(20)));
        assert_eq!(Degradation::parse("jpeg:10-50").unwrap(), Degradation::Jpeg(Quality::Range(10, 50)));
        assert_eq!(Degradation::parse("jpeg:10-50").unwrap().scale(), 1);
        for bad in ["bicubic:1", "bicubic:x", "blur:3", "noise", "noise:x", "jpeg:0", "jpeg:101", "jpeg:50-10", "jpeg:q"] {
            assert!(Degradation::parse(bad).unwrap_err().contains(bad), "{bad}");
        }
    }

    /// A smooth colour image with one sharp edge: JPEG's blocks and ringing show on it.
    fn scene(side: usize) -> Planar {
        let n = side * side;
        let mut planes = vec![0.0; 3 * n];
        for y in 0..side {
            for x in 0..side {
                let edge = if x > side / 2 { 0.6 } else { 0.0 };
                planes[y * side + x] = 0.2 + 0.5 * x as f32 / side as f32;
                planes[n + y * side + x] = 0.3 + edge * 0.5;
                planes[2 * n + y * side + x] = 0.8 - 0.6 * y as f32 / side as f32;
            }
        }
        Planar { width: side, height: side, planes }.quantized()
    }

    fn mse(a: &Planar, b: &Planar) -> f32 {
        a.planes.iter().zip(&b.planes).map(|(x, y)| (x - y).powi(2)).sum::<f32>() / a.planes.len() as f32
    }

    #[test]
    fn jpeg_keeps_the_size_loses_more_at_low_quality_and_is_deterministic() {
        let clean = scene(48);
        let (q10, q50, q95) = (jpeg(&clean, 10).unwrap(), jpeg(&clean, 50).unwrap(), jpeg(&clean, 95).unwrap());
        assert_eq!((q10.width, q10.height, q10.planes.len()), (48, 48, 3 * 48 * 48));
        let (e10, e50, e95) = (mse(&q10, &clean), mse(&q50, &clean), mse(&q95, &clean));
        assert!(e10 > e50 && e50 > e95 && e95 > 0.0, "errors at quality 10, 50, 95: {e10} {e50} {e95}");
        // PSNR of quality 95 well above 35 dB, of quality 10 well below.
        assert!(-10.0 * e95.log10() > 35.0 && -10.0 * e10.log10() < 35.0, "{e95} {e10}");
        assert_eq!(jpeg(&clean, 30).unwrap(), jpeg(&clean, 30).unwrap());
        assert!(q10.planes.iter().all(|v| (v * 255.0 - (v * 255.0).round()).abs() < 1e-3), "8-bit values");
    }

    #[test]
    fn a_jpeg_range_draws_qualities_within_it() {
        let clean = scene(32);
        let degradation = Degradation::Jpeg(Quality::Range(10, 50));
        let mut rng = StdRng::seed_from_u64(3);
        let drawn: Vec<Planar> = (0..12).map(|_| degradation.apply(&clean, &mut rng).unwrap()).collect();
        let (low, high) = (mse(&jpeg(&clean, 10).unwrap(), &clean), mse(&jpeg(&clean, 50).unwrap(), &clean));
        assert!(drawn.iter().all(|d| (high..=low).contains(&mse(d, &clean))), "errors outside the quality range");
        assert!(drawn.iter().any(|d| d != &drawn[0]), "a range draws more than one quality");
        let mut rng = StdRng::seed_from_u64(3);
        assert_eq!(degradation.apply(&clean, &mut rng).unwrap(), drawn[0], "seeded");
    }

    #[test]
    fn baselines_are_the_input_or_its_bicubic_upscaling() {
        let clean = scene(16);
        let mut rng = StdRng::seed_from_u64(0);
        let jpeg = Degradation::Jpeg(Quality::Fixed(20));
        let degraded = jpeg.apply(&clean, &mut rng).unwrap();
        assert_eq!(jpeg.baseline(&degraded), degraded);
        let sr = Degradation::Bicubic { scale: 2 };
        let low = sr.apply(&clean, &mut rng).unwrap();
        let up = sr.baseline(&low);
        assert_eq!((up.width, up.height), (16, 16));
        assert!(mse(&up, &clean) < 0.01, "bicubic upscaling of a smooth image stays close");
    }

    #[test]
    fn noise_has_the_asked_standard_deviation() {
        let clean = Planar { width: 100, height: 100, planes: vec![0.5; 30_000] };
        let noisy = add_noise(&clean, 25.0, &mut StdRng::seed_from_u64(1));
        let var = noisy.planes.iter().map(|v| (v - 0.5).powi(2)).sum::<f32>() / 30_000.0;
        let sd = var.sqrt() * 255.0;
        assert!((sd - 25.0).abs() < 0.5, "standard deviation {sd}");
        assert!(noisy.planes.iter().all(|v| (v * 255.0 - (v * 255.0).round()).abs() < 1e-3), "8-bit values");
    }

    #[test]
    fn bicubic_degradation_divides_the_size() {
        let clean = Planar { width: 12, height: 8, planes: vec![51.0 / 255.0; 288] };
        let low = Degradation::Bicubic { scale: 2 }.apply(&clean, &mut StdRng::seed_from_u64(0)).unwrap();
        assert_eq!((low.width, low.height), (6, 4));
        assert!(low.planes.iter().all(|v| (v - 51.0 / 255.0).abs() < 1e-6), "{:?}", low.planes);
    }
}
