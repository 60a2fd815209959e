//! Reading and writing images (PNG 8/16-bit, JPEG, WebP); written whole or not at all.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use image::{DynamicImage, ImageError, ImageFormat, ImageReader, Limits};

use crate::Size;
use crate::atomic_write::write_atomically;
use crate::pixels::{u8_to_unit, u16_to_unit, unit_to_u8, unit_to_u16};

/// The longest image side read: JPEG's own maximum (a PNG header may claim 2^31 - 1).
pub const MAX_SIDE: usize = 65_535;
/// The most the decoder may allocate for one image: 1 GiB, a 16-bit RGBA image of 134 MP.
/// Bounds decompression bombs in the decoder itself, whatever the header check said.
const MAX_DECODE_BYTES: u64 = 1 << 30;

/// An image as interleaved RGBA in [0, 1], and whether it had 16 bits per channel.
pub struct LoadedImage {
    pub size: Size,
    pub rgba: Vec<f32>,
    pub sixteen_bit: bool,
}

/// The decoder's bounds: [`MAX_DECODE_BYTES`], and [`MAX_SIDE`] when `sides` (left out to
/// read a header's size, so that the error names it).
fn limits(sides: bool) -> Limits {
    let mut limits = Limits::default();
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    if sides {
        limits.max_image_width = Some(MAX_SIDE as u32);
        limits.max_image_height = Some(MAX_SIDE as u32);
    }
    limits
}

/// A reader of the image at `path`, its format told by its first bytes (else its extension).
fn reader(path: &Path, limits: Limits) -> Result<ImageReader<BufReader<File>>, String> {
    let cannot = |e: &dyn std::fmt::Display| format!("cannot read {}: {e}", path.display());
    let mut reader = ImageReader::open(path).map_err(|e| cannot(&e))?.with_guessed_format().map_err(|e| cannot(&e))?;
    reader.limits(limits);
    Ok(reader)
}

/// The size in an image's header, read without decoding its pixels; refused past
/// [`MAX_SIDE`] or empty.
pub fn image_size(path: &Path) -> Result<Size, String> {
    let (width, height) = reader(path, limits(false))?
        .into_dimensions()
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let size = Size { height: height as usize, width: width as usize };
    if size.area() == 0 || size.max_side() > MAX_SIDE {
        return Err(format!("{} is {size}: expected sides of 1 to {MAX_SIDE} pixels", path.display()));
    }
    Ok(size)
}

/// Decodes the image at `path` within the decoder's bounds (see [`image_size`] to check its
/// size first).
pub fn read_image(path: &Path) -> Result<LoadedImage, String> {
    let image = reader(path, limits(true))?.decode().map_err(|e| match e {
        ImageError::Limits(_) => format!(
            "cannot read {}: {e} (the decoder allows {MAX_SIDE} pixels a side and {} MiB an image)",
            path.display(),
            MAX_DECODE_BYTES >> 20
        ),
        _ => format!("cannot read {}: {e}", path.display()),
    })?;
    let size = Size { height: image.height() as usize, width: image.width() as usize };
    let sixteen_bit = image.color().bytes_per_pixel() / image.color().channel_count() > 1;
    let rgba = if sixteen_bit { u16_to_unit(image.to_rgba16().as_raw()) } else { u8_to_unit(image.to_rgba8().as_raw()) };
    Ok(LoadedImage { size, rgba, sixteen_bit })
}

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

/// Creates the output folder `dir` when missing, and checks, before any work, that it takes
/// new files (tried with a temporary file, removed at once).
pub fn check_output_folder(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create the folder {}: {e}", dir.display()))?;
    tempfile::NamedTempFile::new_in(dir)
        .map(drop)
        .map_err(|e| format!("cannot write in the folder {}: {e}", dir.display()))
}

/// Writes RGBA in [0, 1] in the format of `path`'s extension: 16-bit PNG when asked and the
/// format allows it; JPEG drops alpha.
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

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    /// CRC-32 (ISO-HDLC, PNG's), bit by bit: enough for a few chunks.
    fn crc32(bytes: &[u8]) -> u32 {
        !bytes.iter().fold(!0u32, |crc, &b| {
            (0..8).fold(crc ^ b as u32, |c, _| if c & 1 == 1 { (c >> 1) ^ 0xEDB8_8320 } else { c >> 1 })
        })
    }

    /// A PNG whose header claims `width x height` RGBA16 pixels, with no pixel data: what a
    /// decompression bomb looks like to a decoder before it inflates anything.
    fn claimed_png(width: u32, height: u32) -> Vec<u8> {
        let chunk = |kind: &[u8], data: &[u8]| {
            let body = [kind, data].concat();
            [&(data.len() as u32).to_be_bytes()[..], &body, &crc32(&body).to_be_bytes()].concat()
        };
        let ihdr = [&width.to_be_bytes()[..], &height.to_be_bytes(), &[16, 6, 0, 0, 0]].concat();
        // An empty zlib stream: the pixels would run out at once.
        let idat = [0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01];
        [&b"\x89PNG\r\n\x1a\n"[..], &chunk(b"IHDR", &ihdr), &chunk(b"IDAT", &idat), &chunk(b"IEND", &[])].concat()
    }

    #[test]
    fn the_header_gives_the_size_and_the_decoder_refuses_what_passes_its_bounds() {
        let dir = tempfile::tempdir().unwrap();
        let path = |name: &str, width, height| {
            let path = dir.path().join(name);
            std::fs::write(&path, claimed_png(width, height)).unwrap();
            path
        };
        let (small, bomb, wide) = (path("small.png", 3, 2), path("bomb.png", 20_000, 20_000), path("wide.png", 70_000, 1));
        assert_eq!(image_size(&small).unwrap(), Size { height: 2, width: 3 });
        // 20000 x 20000 x 8 bytes = 3.2 GB: refused before any pixel is inflated.
        assert_eq!(image_size(&bomb).unwrap(), Size::square(20_000));
        let error = read_image(&bomb).err().unwrap();
        assert!(error.contains("1024 MiB an image") && error.contains("bomb.png"), "{error}");
        assert_eq!(image_size(&wide).err().unwrap(), format!("{} is 70000x1: expected sides of 1 to 65535 pixels", wide.display()));
        let error = read_image(&wide).err().unwrap();
        assert!(error.contains("65535 pixels a side"), "{error}");
        // The small one's pixels are missing: an ordinary decoding error, not a limit.
        let error = read_image(&small).err().unwrap();
        assert!(error.starts_with("cannot read") && !error.contains("decoder allows"), "{error}");
    }
}
