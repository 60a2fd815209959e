//! Test pairs from clean images, the one way `grl eval` and `grl degrade` make them: each image
//! cropped (to a centre square when asked; to a multiple of the scale always) and degraded with
//! a seed of its own.

use image::RgbImage;
use image::imageops::crop_imm;
use rand::SeedableRng;
use rand::rngs::StdRng;

use super::data::Planar;
use super::degrade::Degradation;

/// The clean target and the degraded input made from `image` (named `name` in errors): the
/// centre `crop`-pixel square when given (rounded down to a multiple of the scale), else the
/// whole image less the rows and columns past a multiple of the scale; degraded with `seed`.
pub fn pair(name: &str, image: &RgbImage, degradation: &Degradation, crop: Option<u32>, seed: u64) -> Result<(RgbImage, Planar), String> {
    let scale = degradation.scale() as u32;
    let (w, h) = image.dimensions();
    let clean = match crop {
        Some(side) => {
            let side = side / scale * scale;
            if side == 0 || w < side || h < side {
                return Err(format!("{name} is {w}x{h}: too small for a {side}-pixel crop (at least {scale} and at most the image's sides)"));
            }
            crop_imm(image, (w - side) / 2, (h - side) / 2, side, side).to_image()
        }
        None => {
            let (w, h) = (w / scale * scale, h / scale * scale);
            if w == 0 || h == 0 {
                return Err(format!("{name} is {}x{}: smaller than the scale {scale}", image.width(), image.height()));
            }
            crop_imm(image, 0, 0, w, h).to_image()
        }
    };
    let degraded = degradation.apply(&Planar::from_rgb8(&clean), &mut StdRng::seed_from_u64(seed))?;
    Ok((clean, degraded))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::degrade::Quality;

    fn ramp(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8, y as u8, (x + y) as u8]))
    }

    #[test]
    fn crops_to_the_centre_and_the_scale() {
        let image = ramp(21, 15);
        let sr = Degradation::Bicubic { scale: 2 };
        let (clean, low) = pair("a", &image, &sr, None, 0).unwrap();
        assert_eq!((clean.dimensions(), low.width, low.height), ((20, 14), 10, 7));
        assert_eq!(clean.get_pixel(19, 13), image.get_pixel(19, 13), "the top-left corner is kept");
        let (clean, low) = pair("a", &image, &sr, Some(11), 0).unwrap();
        // 11 rounds down to 10: the square at ((21 - 10) / 2, (15 - 10) / 2) = (5, 2).
        assert_eq!((clean.dimensions(), low.width), ((10, 10), 5));
        assert_eq!(clean.get_pixel(0, 0), image.get_pixel(5, 2));
    }

    #[test]
    fn seeded_and_sized_errors_name_the_image() {
        let image = ramp(32, 32);
        let jpeg = Degradation::Jpeg(Quality::Range(10, 50));
        assert_eq!(pair("a", &image, &jpeg, None, 4).unwrap(), pair("a", &image, &jpeg, None, 4).unwrap());
        let e = pair("tiny.png", &image, &jpeg, Some(40), 0).unwrap_err();
        assert!(e.contains("tiny.png is 32x32"), "{e}");
        let e = pair("one.png", &ramp(1, 5), &Degradation::Bicubic { scale: 2 }, None, 0).unwrap_err();
        assert!(e.contains("one.png is 1x5"), "{e}");
    }
}
