//! The models bundled with `grl`: the project's own, trained with `grl train` (see
//! `models/README.md` for how and how well), compiled into the binary so that `grl restore`
//! works with nothing else.

use std::borrow::Cow;
use std::path::Path;

/// A bundled model.
pub struct Bundled {
    /// What `--model` accepts.
    pub name: &'static str,
    pub description: &'static str,
    /// The web-format file.
    pub bytes: &'static [u8],
}

/// The bundled models; the first is the default.
pub const BUNDLED: [Bundled; 4] = [
    Bundled {
        name: "denoise",
        description: "colour denoising, Gaussian noise of any sigma from 0 to 50 (blind)",
        bytes: include_bytes!("../../models/denoise.safetensors"),
    },
    Bundled {
        name: "sr-x2",
        description: "super-resolution x2 (bicubic degradation)",
        bytes: include_bytes!("../../models/sr-x2.safetensors"),
    },
    Bundled {
        name: "sr-x4",
        description: "super-resolution x4 (bicubic degradation)",
        bytes: include_bytes!("../../models/sr-x4.safetensors"),
    },
    Bundled {
        name: "jpeg",
        description: "JPEG artefact removal, colour, any quality from 10 to 50",
        bytes: include_bytes!("../../models/jpeg.safetensors"),
    },
];

/// The bundled model called `name`.
pub fn find(name: &str) -> Option<&'static Bundled> {
    BUNDLED.iter().find(|b| b.name == name)
}

/// The largest model file read (GRL-B, the largest release, is 80 MB in f32).
const MAX_MODEL_BYTES: u64 = 1 << 30;

/// The bytes of `model`: a file, or else the bundled model of that name.
pub fn read_model(model: &Path) -> Result<Cow<'static, [u8]>, String> {
    match read_bounded(model) {
        Ok(bytes) => Ok(bytes.into()),
        Err(ReadError::Io(e)) => match model.to_str().and_then(find) {
            Some(b) if e.kind() == std::io::ErrorKind::NotFound => Ok(b.bytes.into()),
            _ => {
                let names: Vec<_> = BUNDLED.iter().map(|b| b.name).collect();
                Err(format!("cannot read {}: {e} (bundled models: {})", model.display(), names.join(", ")))
            }
        },
        Err(ReadError::NotAModel(why)) => Err(format!("{}: {why}", model.display())),
    }
}

enum ReadError {
    Io(std::io::Error),
    NotAModel(String),
}

/// Reads a model file, checking its first 8 bytes (the safetensors header length) before the
/// rest and never reading past [`MAX_MODEL_BYTES`]: a device such as `/dev/zero` or a huge
/// file is refused at once instead of filling memory.
fn read_bounded(path: &Path) -> Result<Vec<u8>, ReadError> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(ReadError::Io)?;
    let mut bytes = Vec::new();
    let mut reader = file.take(MAX_MODEL_BYTES + 1);
    (&mut reader).take(8).read_to_end(&mut bytes).map_err(ReadError::Io)?;
    if bytes.len() == 8 {
        let header = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"));
        if header == 0 || header > crate::web_format::MAX_HEADER_BYTES {
            return Err(ReadError::NotAModel(format!(
                "not a model: its header length is {header} bytes (a safetensors file's is 1 to {})",
                crate::web_format::MAX_HEADER_BYTES
            )));
        }
    }
    reader.read_to_end(&mut bytes).map_err(ReadError::Io)?;
    if bytes.len() as u64 > MAX_MODEL_BYTES {
        return Err(ReadError::NotAModel(format!("not a model: larger than {MAX_MODEL_BYTES} bytes")));
    }
    Ok(bytes)
}
