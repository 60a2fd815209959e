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
pub const BUNDLED: [Bundled; 2] = [
    Bundled {
        name: "denoise",
        description: "colour denoising, Gaussian noise sigma 25",
        bytes: include_bytes!("../../models/denoise.safetensors"),
    },
    Bundled {
        name: "sr-x2",
        description: "super-resolution x2 (bicubic degradation)",
        bytes: include_bytes!("../../models/sr-x2.safetensors"),
    },
];

/// The bundled model called `name`.
pub fn find(name: &str) -> Option<&'static Bundled> {
    BUNDLED.iter().find(|b| b.name == name)
}

/// The bytes of `model`: a file, or else the bundled model of that name.
pub fn read_model(model: &Path) -> Result<Cow<'static, [u8]>, String> {
    match std::fs::read(model) {
        Ok(bytes) => Ok(bytes.into()),
        Err(e) => match model.to_str().and_then(find) {
            Some(b) if e.kind() == std::io::ErrorKind::NotFound => Ok(b.bytes.into()),
            _ => {
                let names: Vec<_> = BUNDLED.iter().map(|b| b.name).collect();
                Err(format!("cannot read {}: {e} (bundled models: {})", model.display(), names.join(", ")))
            }
        },
    }
}
