//! Reading and writing images (PNG 8/16-bit, JPEG, WebP) and files that are never left
//! half-written.

use std::path::Path;

use image::{DynamicImage, ImageFormat};

use crate::Size;
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
pub fn write_image(path: &Path, size: Size, rgba: &[f32], sixteen_bit: bool) -> Result<(), String> {
    let format = ImageFormat::from_path(path).map_err(|_| {
        format!("{}: unknown output format: expected .png, .jpg, .jpeg or .webp", path.display())
    })?;
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

/// Writes `bytes` to a temporary file next to `path` and renames it over `path`, so that an
/// existing file is either replaced whole or left as it was.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), String> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    // Temporary files are private (0600) by default: the result gets the permissions of the
    // file it replaces, or those of any new file (0666 less the umask).
    let mut builder = tempfile::Builder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let new_file = std::fs::Permissions::from_mode(0o666);
        builder.permissions(std::fs::metadata(path).map(|m| m.permissions()).unwrap_or(new_file));
    }
    let mut tmp = builder.tempfile_in(dir).map_err(|e| format!("cannot write in {}: {e}", dir.display()))?;
    tmp.write_all(bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    tmp.persist(path).map_err(|e| format!("cannot write {}: {}", path.display(), e.error))?;
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn written_files_get_ordinary_permissions_and_keep_existing_ones() {
        let dir = tempfile::tempdir().unwrap();
        let (plain, atomic) = (dir.path().join("plain"), dir.path().join("atomic"));
        std::fs::write(&plain, b"x").unwrap();
        write_atomically(&atomic, b"y").unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&atomic), mode(&plain), "like any new file (umask applied)");
        std::fs::set_permissions(&atomic, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_atomically(&atomic, b"z").unwrap();
        assert_eq!((mode(&atomic), std::fs::read(&atomic).unwrap()), (0o640, b"z".to_vec()));
    }
}
