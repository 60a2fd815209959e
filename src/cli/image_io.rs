//! Reading and writing images (PNG 8/16-bit, JPEG, WebP); written whole or not at all.

use std::path::Path;

use image::{DynamicImage, ImageFormat};

use crate::Size;
use crate::atomic_write::write_atomically;
use crate::pixels::{u8_to_unit, u16_to_unit, unit_to_u8, unit_to_u16};

/// An image as interleaved RGBA in [0, 1], and whether it had 16 bits per channel.
pub struct LoadedImage {
    pub size: Size,
    pub rgba: Vec<f32>,
    pub sixteen_bit: bool,
}

pub fn read_image(path: &Path) -> Result<LoadedImage, String> {
    let image = image::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let size = Size { height: image.height() as usize, width: image.width() as usize };
    let sixteen_bit = image.color().bytes_per_pixel() / image.color().channel_count() > 1;
    let rgba = if sixteen_bit { u16_to_unit(image.to_rgba16().as_raw()) } else { u8_to_unit(image.to_rgba8().as_raw()) };
    Ok(LoadedImage { size, rgba, sixteen_bit })
}

/// Writes RGBA in [0, 1] in the format of `path`'s extension: 16-bit PNG when asked and the
/// format allows it; JPEG drops alpha.
/// The format of an output path, or an error naming the path.
fn output_format(path: &Path) -> Result<ImageFormat, String> {
    ImageFormat::from_path(path)
        .map_err(|_| format!("{}: unknown output format: expected .png, .jpg, .jpeg or .webp", path.display()))
}

/// Checks, before any work, that an image can be written to `path`: a known format and a
/// folder that exists and takes a new file (tried with a temporary file, removed at once).
pub fn check_output(path: &Path) -> Result<(), String> {
    output_format(path)?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(format!("cannot write {}: the folder {} does not exist", path.display(), dir.display()));
    }
    tempfile::NamedTempFile::new_in(dir)
        .map(drop)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

pub fn write_image(path: &Path, size: Size, rgba: &[f32], sixteen_bit: bool) -> Result<(), String> {
    let format = output_format(path)?;
    let (w, h) = (size.width as u32, size.height as u32);
    let image = if sixteen_bit && format == ImageFormat::Png {
        DynamicImage::ImageRgba16(image::ImageBuffer::from_raw(w, h, unit_to_u16(rgba)).expect("buffer size"))
    } else {
        DynamicImage::ImageRgba8(image::ImageBuffer::from_raw(w, h, unit_to_u8(rgba)).expect("buffer size"))
    };
    let image = if format == ImageFormat::Jpeg { DynamicImage::ImageRgb8(image.to_rgb8()) } else { image };
    let mut encoded = std::io::Cursor::new(Vec::new());
    image.write_to(&mut encoded, format).map_err(|e| format!("cannot encode {}: {e}", path.display()))?;
    write_atomically(path, encoded.get_ref())
}
