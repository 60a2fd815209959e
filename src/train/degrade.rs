//! The synthetic degradations a model learns to undo, shared by training and evaluation:
//! additive Gaussian noise (denoising) and bicubic downscaling (super-resolution). Degraded
//! images are clamped and rounded to 8 bits, as the images users bring are.

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

impl Sigma {
    /// `"25"` or `"0-50"`.
    pub fn parse(text: &str) -> Result<Sigma, String> {
        let number = |s: &str| {
            s.trim().parse::<f32>().ok().filter(|v| v.is_finite() && *v >= 0.0 && *v <= 255.0).ok_or_else(|| {
                format!("sigma {text:?} is not a noise level: expected a number in 0-255 such as 25, or a range such as 0-50")
            })
        };
        match text.split_once('-') {
            Some((low, high)) => {
                let (low, high) = (number(low)?, number(high)?);
                if low > high {
                    return Err(format!("sigma range {text:?} is empty: expected low-high with low <= high"));
                }
                Ok(Sigma::Range(low, high))
            }
            None => Ok(Sigma::Fixed(number(text)?)),
        }
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

/// A task's degradation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Degradation {
    /// Additive white Gaussian noise.
    Noise(Sigma),
    /// Bicubic downscaling by an integer factor.
    Bicubic { scale: usize },
}

impl Degradation {
    /// `"noise:25"`, `"noise:0-50"` (sigma on the 0-255 scale) or `"bicubic:2"` (the scale).
    pub fn parse(text: &str) -> Result<Degradation, String> {
        match text.split_once(':') {
            Some(("noise", sigma)) => Ok(Degradation::Noise(Sigma::parse(sigma)?)),
            Some(("bicubic", scale)) => match scale.parse::<usize>() {
                Ok(scale @ 2..=8) => Ok(Degradation::Bicubic { scale }),
                _ => Err(format!("degradation {text:?}: the bicubic scale must be a whole number from 2 to 8")),
            },
            _ => Err(format!("degradation {text:?} is unknown: expected noise:SIGMA (25, 0-50) or bicubic:SCALE (2, 3, 4)")),
        }
    }

    /// The model's output size over its input size.
    pub fn scale(&self) -> usize {
        match self {
            Degradation::Noise(_) => 1,
            Degradation::Bicubic { scale } => *scale,
        }
    }

    /// The degraded input for the clean `target` (whose sides must be multiples of
    /// [`Self::scale`]).
    pub fn apply(&self, target: &Planar, rng: &mut StdRng) -> Planar {
        match *self {
            Degradation::Noise(sigma) => add_noise(target, sigma.draw(rng), rng),
            Degradation::Bicubic { scale } => target.resize(target.width / scale, target.height / scale).quantized(),
        }
    }
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
        for bad in ["bicubic:1", "bicubic:x", "blur:3", "noise"] {
            assert!(Degradation::parse(bad).unwrap_err().contains(bad));
        }
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
        let low = Degradation::Bicubic { scale: 2 }.apply(&clean, &mut StdRng::seed_from_u64(0));
        assert_eq!((low.width, low.height), (6, 4));
        assert!(low.planes.iter().all(|v| (v - 51.0 / 255.0).abs() < 1e-6), "{:?}", low.planes);
    }
}
