//! Training images: loading a folder, and random patches with flips and rotations.

use std::path::Path;

use rand::RngExt;
use rand::rngs::StdRng;

/// An RGB image as planar f32 in [0, 1]: plane `c` holds `height * width` values, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Planar {
    pub width: usize,
    pub height: usize,
    /// `[3, height, width]`.
    pub planes: Vec<f32>,
}

impl Planar {
    /// An 8-bit RGB image's pixels.
    pub fn from_rgb8(image: &image::RgbImage) -> Planar {
        let (width, height) = (image.width() as usize, image.height() as usize);
        let mut planes = vec![0.0; 3 * width * height];
        for (i, pixel) in image.pixels().enumerate() {
            for c in 0..3 {
                planes[c * width * height + i] = pixel[c] as f32 / 255.0;
            }
        }
        Planar { width, height, planes }
    }

    /// Rounded to 8 bits (values clamped to [0, 1] first).
    pub fn to_rgb8(&self) -> image::RgbImage {
        let n = self.width * self.height;
        image::RgbImage::from_fn(self.width as u32, self.height as u32, |x, y| {
            let i = y as usize * self.width + x as usize;
            image::Rgb(std::array::from_fn(|c| (self.planes[c * n + i].clamp(0.0, 1.0) * 255.0).round() as u8))
        })
    }

    /// The value of channel `c` at (`x`, `y`).
    pub fn at(&self, c: usize, x: usize, y: usize) -> f32 {
        self.planes[(c * self.height + y) * self.width + x]
    }

    /// The `size`-pixel square at (`x`, `y`), transformed by one of the 8 symmetries of the
    /// square (`symmetry & 1`: mirror left-right; `& 2`: mirror top-bottom; `& 4`: transpose).
    pub fn patch(&self, x: usize, y: usize, size: usize, symmetry: u8) -> Planar {
        let mut planes = Vec::with_capacity(3 * size * size);
        for c in 0..3 {
            for row in 0..size {
                for col in 0..size {
                    let (mut u, mut v) = if symmetry & 4 != 0 { (row, col) } else { (col, row) };
                    if symmetry & 1 != 0 {
                        u = size - 1 - u;
                    }
                    if symmetry & 2 != 0 {
                        v = size - 1 - v;
                    }
                    planes.push(self.at(c, x + u, y + v));
                }
            }
        }
        Planar { width: size, height: size, planes }
    }

    /// Bicubic resize (Catmull-Rom, the a = -0.5 kernel of MATLAB's `imresize`, widened when
    /// shrinking so that it also low-passes).
    pub fn resize(&self, width: usize, height: usize) -> Planar {
        let n = self.width * self.height;
        let source = image::Rgb32FImage::from_fn(self.width as u32, self.height as u32, |x, y| {
            let i = y as usize * self.width + x as usize;
            image::Rgb(std::array::from_fn(|c| self.planes[c * n + i]))
        });
        let resized = image::imageops::resize(&source, width as u32, height as u32, image::imageops::FilterType::CatmullRom);
        let mut planes = vec![0.0; 3 * width * height];
        for (i, pixel) in resized.pixels().enumerate() {
            for c in 0..3 {
                planes[c * width * height + i] = pixel[c];
            }
        }
        Planar { width, height, planes }
    }

    /// Clamped to [0, 1] and rounded to 8 bits, as an image file would hold it.
    pub fn quantized(mut self) -> Planar {
        self.planes.iter_mut().for_each(|v| *v = (v.clamp(0.0, 1.0) * 255.0).round() / 255.0);
        self
    }
}

/// Every PNG, JPEG and WebP image of `dir` as 8-bit RGB, sorted by file name.
pub fn load_folder(dir: &Path) -> Result<Vec<(String, image::RgbImage)>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("cannot read the folder {}: {e}", dir.display()))?;
    let mut paths: Vec<_> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| {
            let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
            ["png", "jpg", "jpeg", "webp"].contains(&ext.as_str())
        })
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(format!("{} holds no PNG, JPEG or WebP image", dir.display()));
    }
    paths
        .iter()
        .map(|path| {
            let image = image::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
            Ok((name, image.to_rgb8()))
        })
        .collect()
}

/// Draws random square patches from a set of images: an image with probability proportional
/// to its area, a uniform position, one of the 8 symmetries of the square.
pub struct PatchSampler {
    images: Vec<Planar>,
    /// Cumulative pixel counts, for area-weighted choice.
    cumulative: Vec<usize>,
}

impl PatchSampler {
    /// Fails when an image is smaller than `size`.
    pub fn new(images: Vec<Planar>, size: usize) -> Result<PatchSampler, String> {
        if let Some(small) = images.iter().find(|im| im.width < size || im.height < size) {
            return Err(format!("a {}x{} training image is smaller than the {size}-pixel patches", small.width, small.height));
        }
        let cumulative = images
            .iter()
            .scan(0, |total, im| {
                *total += im.width * im.height;
                Some(*total)
            })
            .collect();
        Ok(PatchSampler { images, cumulative })
    }

    pub fn sample(&self, size: usize, rng: &mut StdRng) -> Planar {
        let pick = rng.random_range(0..*self.cumulative.last().expect("at least one image"));
        let image = &self.images[self.cumulative.partition_point(|&c| c <= pick)];
        let x = rng.random_range(0..=image.width - size);
        let y = rng.random_range(0..=image.height - size);
        image.patch(x, y, size, rng.random_range(0..8u8))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn ramp(width: usize, height: usize) -> Planar {
        let planes = (0..3 * width * height).map(|i| i as f32 / (3 * width * height) as f32).collect();
        Planar { width, height, planes }
    }

    #[test]
    fn the_8_symmetries_are_distinct_and_keep_the_pixels() {
        let image = ramp(5, 4);
        let patches: Vec<Planar> = (0..8).map(|s| image.patch(1, 0, 3, s)).collect();
        for (i, a) in patches.iter().enumerate() {
            let mut sorted = a.planes.clone();
            let mut expected = image.patch(1, 0, 3, 0).planes;
            sorted.sort_by(f32::total_cmp);
            expected.sort_by(f32::total_cmp);
            assert_eq!(sorted, expected, "symmetry {i} changed the pixels");
            for b in &patches[i + 1..] {
                assert_ne!(a, b);
            }
        }
        // Mirror left-right: the first row reversed.
        assert_eq!(patches[1].at(0, 0, 0), image.at(0, 3, 0));
        // Transpose: (x, y) <- (y, x).
        assert_eq!(patches[4].at(2, 2, 0), image.at(2, 1, 2));
    }

    #[test]
    fn sampling_is_seeded_and_stays_inside() {
        let sampler = PatchSampler::new(vec![ramp(40, 30), ramp(20, 60)], 16).unwrap();
        let draw = |seed| {
            let mut rng = StdRng::seed_from_u64(seed);
            (0..20).map(|_| sampler.sample(16, &mut rng)).collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
        assert!(PatchSampler::new(vec![ramp(10, 30)], 16).is_err());
    }

    #[test]
    fn rgb8_round_trip_and_quantization() {
        let image = image::RgbImage::from_fn(4, 3, |x, y| image::Rgb([x as u8 * 60, y as u8 * 100, 7]));
        assert_eq!(Planar::from_rgb8(&image).to_rgb8(), image);
        let q = Planar { width: 1, height: 1, planes: vec![-0.2, 0.5, 1.3] }.quantized();
        assert_eq!(q.planes, vec![0.0, 128.0 / 255.0, 1.0]);
    }

    #[test]
    fn bicubic_halving_of_a_constant_is_the_constant() {
        let flat = Planar { width: 8, height: 8, planes: vec![0.25; 192] };
        let half = flat.resize(4, 4);
        assert!(half.planes.iter().all(|v| (v - 0.25).abs() < 1e-6), "{:?}", half.planes);
    }
}
