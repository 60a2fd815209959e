//! The web weight format: one self-describing safetensors file that loads from bytes (no file
//! system, so it works in the browser).
//!
//! - Tensors: every parameter of [`Grl`] under its Burn module path
//!   (`layers.0.blocks.0.attn.qkv.body.weight`, ...) in PyTorch layout (Linear weights
//!   `[out, in]`), stored as f32 or f16; the model computes in f32 whatever the storage.
//! - Metadata (string values): `format` = `grl-wasm`, `format_version` = [`FORMAT_VERSION`],
//!   `config` = the [`GrlConfig`] as JSON (reference argument names), and the provenance
//!   ([`Provenance`]: name, task, scale, noise level or JPEG quality, source, licence).
//!
//! Reading checks everything before any tensor is built, so that a bad file is an error that
//! says what is wrong, never a panic: length, header size, format and version, the
//! configuration (bounded, then valid), the tensors' names and shapes against the ones the
//! configuration implies (from the header alone), dtypes and finite values. Writing refuses
//! what reading would.

mod read;

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::model::presets::{LICENSE, Release, Task};
use crate::model::{Grl, GrlConfig};

pub use read::{inspect, read_info};

/// The `format` metadata value.
pub const FORMAT: &str = "grl-wasm";
/// The format version this build writes and the newest it reads.
pub const FORMAT_VERSION: u32 = 1;
/// The largest safetensors header accepted (the real ones are tens of kilobytes).
pub const MAX_HEADER_BYTES: u64 = 16 << 20;

/// Where a model comes from and what it is for.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// Model name, e.g. the released checkpoint's (`sr_grl_small_c3x4`).
    pub name: String,
    /// Task: `sr`, `dn` (denoising), `jpeg`, `dm` (demosaicking), `bsr` (real-world SR),
    /// `db_motion`, `db_defocus` or `unknown`.
    pub task: Task,
    /// Noise level (sigma on the 0-255 scale) of a denoiser; 0 for blind or other tasks.
    pub noise_level: u32,
    /// JPEG quality of a JPEG artifact remover; 0 otherwise.
    pub jpeg_quality: u32,
    /// The file converted, or how the weights were made.
    pub source: String,
    /// The weights' licence.
    pub license: String,
}

impl Provenance {
    /// The provenance a released checkpoint's name tells ([`Release::of_name`]:
    /// `dn_grl_small_c3s25` is denoising at sigma 25, `jpeg_grl_small_c1q10` JPEG quality 10,
    /// ...), released under the reference repository's MIT licence.
    pub fn from_release_name(name: &str, source: &str) -> Provenance {
        let Release { task, noise_level, jpeg_quality } = Release::of_name(name);
        Provenance {
            name: name.to_string(),
            task,
            noise_level,
            jpeg_quality,
            source: source.to_string(),
            license: LICENSE.to_string(),
        }
    }

    /// The provenance with every string made [`printable`]: a name with escape codes or
    /// newlines must not reach a terminal (or a page) raw, where it could fake output lines.
    pub fn printable(self) -> Provenance {
        Provenance {
            name: printable(&self.name),
            source: printable(&self.source),
            license: printable(&self.license),
            ..self
        }
    }
}

/// `text` with its control characters (escape codes, newlines, ...) and its invisible
/// formatting characters (bidirectional overrides, zero-width marks) escaped as Rust writes
/// them (`\n`, `\u{1b}`, `\u{202e}`): what reaches a terminal shows what the text holds.
pub fn printable(text: &str) -> String {
    let invisible = |c: char| matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}');
    if !text.chars().any(|c| c.is_control() || invisible(c)) {
        return text.to_string();
    }
    text.chars()
        .map(|c| if c.is_control() || invisible(c) { c.escape_default().to_string() } else { c.to_string() })
        .collect()
}

/// A string from a file, quoted for an error message: escaped as Rust's `{:?}` does and cut
/// to 100 characters (a metadata value can be megabytes long).
pub fn quoted(text: &str) -> String {
    match text.char_indices().nth(100) {
        Some((at, _)) => format!("{:?}...", &text[..at]),
        None => format!("{text:?}"),
    }
}

/// How the tensors are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageDType {
    F32,
    F16,
}

/// What a web-format file says about itself.
#[derive(Debug, Clone, PartialEq)]
pub struct WebModelInfo {
    pub config: GrlConfig,
    pub provenance: Provenance,
    pub dtype: StorageDType,
    /// Number of parameters (scalars).
    pub params: usize,
    pub format_version: u32,
}

/// Loads a web-format file into a model on `device`. The weight store owns its bytes: pass
/// a `Vec<u8>` to hand it over without a copy (a slice is copied once).
pub fn load(bytes: impl Into<Vec<u8>>, device: &Device) -> Result<(Grl, WebModelInfo), String> {
    let bytes = bytes.into();
    let info = read_info(&bytes)?;
    let (grl, _) = Grl::load_safetensors_bytes(bytes, &info.config, device)?;
    Ok((grl, info))
}

/// Writes `grl` in the web format, its tensors stored as `dtype`.
pub fn save(grl: &Grl, provenance: &Provenance, dtype: StorageDType) -> Result<Vec<u8>, String> {
    use burn::store::{BurnToPyTorchAdapter, FloatCastAdapter, ModuleAdapter, ModuleSnapshot, SafetensorsStore};
    use burn::tensor::DType;

    let cast = FloatCastAdapter::to(match dtype {
        StorageDType::F32 => DType::F32,
        StorageDType::F16 => DType::F16,
    });
    let config = serde_json::to_string(&grl.config).map_err(|e| e.to_string())?;
    let provenance = serde_json::to_string(provenance).map_err(|e| e.to_string())?;
    let mut store = SafetensorsStore::from_bytes(None)
        .with_to_adapter(BurnToPyTorchAdapter.chain(cast))
        .metadata("format", FORMAT)
        .metadata("format_version", FORMAT_VERSION.to_string())
        .metadata("config", config)
        .metadata("provenance", provenance);
    grl.save_into(&mut store).map_err(|e| format!("cannot write the model: {e}"))?;
    let bytes = store.get_bytes().map_err(|e| format!("cannot write the model: {e}"))?;
    // What is written must read back: NaN or infinite weights (a diverged training, a
    // corrupt checkpoint, values past f16's range of 65504) are refused here, at the source.
    read_info(&bytes).map_err(|e| {
        let past_f16 = dtype == StorageDType::F16 && e.contains("NaN or infinite");
        let hint = if past_f16 { " (f16 storage holds values up to 65504: --dtype f32 keeps larger ones)" } else { "" };
        format!("refusing to write a model that could not be loaded: {e}{hint}")
    })?;
    Ok(bytes)
}

#[cfg(all(test, not(target_arch = "wasm32")))]
pub(crate) mod tests {
    use super::*;
    use safetensors::SafeTensors;

    #[test]
    fn release_names_tell_task_and_level() {
        let p = Provenance::from_release_name("dn_grl_small_c3s25", "x.ckpt");
        assert_eq!((p.task.as_str(), p.noise_level, p.jpeg_quality), ("dn", 25, 0));
        let p = Provenance::from_release_name("jpeg_grl_small_c1q10", "x.ckpt");
        assert_eq!((p.task.as_str(), p.noise_level, p.jpeg_quality), ("jpeg", 0, 10));
        let p = Provenance::from_release_name("db_motion_grl_base_gopro", "x.ckpt");
        assert_eq!(p.task.as_str(), "db_motion");
        assert_eq!(Provenance::from_release_name("sr_grl_tiny_c3x4", "").task.as_str(), "sr");
        assert_eq!(p.license, "MIT (GRL reference release, Yawei Li 2023)");
    }

    #[test]
    fn saved_provenance_reads_back_to_the_same_json() {
        // The `provenance` metadata of models/denoise.safetensors, as written when the task
        // was a string.
        let json = r#"{"name":"grl-wasm denoise c3s25","task":"dn","noise_level":25,"jpeg_quality":0,"source":"trained by grl-wasm","license":"MIT"}"#;
        let p: Provenance = serde_json::from_str(json).unwrap();
        assert_eq!(p.task, Task::Dn);
        assert_eq!(serde_json::to_string(&p).unwrap(), json);
        let unknown = Provenance::from_release_name("sr2_ps", "");
        assert!(serde_json::to_string(&unknown).unwrap().contains(r#""task":"unknown""#));
    }

    pub(crate) fn tiny_config() -> GrlConfig {
        let mut config = GrlConfig::preset("dn_grl_tiny_c3s25").unwrap();
        config.embed_dim = 16;
        config.depths = vec![2];
        config.num_heads_window = vec![1];
        config.num_heads_stripe = vec![1];
        config
    }

    pub(crate) fn tiny_model_bytes(dtype: StorageDType) -> Vec<u8> {
        let grl = tiny_config().init(&Device::flex());
        save(&grl, &Provenance::from_release_name("dn_grl_tiny_c3s25", "test"), dtype).unwrap()
    }

    #[test]
    fn a_saved_model_reads_back_with_its_metadata() {
        for dtype in [StorageDType::F32, StorageDType::F16] {
            let bytes = tiny_model_bytes(dtype);
            let info = read_info(&bytes).unwrap();
            assert_eq!(info.dtype, dtype);
            assert_eq!(info.config.embed_dim, 16);
            assert_eq!(info.provenance.noise_level, 25);
            assert_eq!(info.format_version, FORMAT_VERSION);
            let (grl, _) = load(bytes, &Device::flex()).unwrap();
            assert_eq!(grl.config, info.config);
        }
    }

    #[test]
    fn f16_storage_is_about_half_the_size() {
        let (f32_len, f16_len) = (tiny_model_bytes(StorageDType::F32).len(), tiny_model_bytes(StorageDType::F16).len());
        assert!(f16_len * 10 < f32_len * 6, "f16 {f16_len} bytes vs f32 {f32_len}");
    }

    /// Rewrites the metadata of a file (same tensors).
    pub(crate) fn with_metadata(bytes: &[u8], edit: impl Fn(&mut std::collections::HashMap<String, String>)) -> Vec<u8> {
        let st = SafeTensors::deserialize(bytes).unwrap();
        let (_, header) = SafeTensors::read_metadata(bytes).unwrap();
        let mut metadata = header.metadata().clone().unwrap();
        edit(&mut metadata);
        let tensors: Vec<(String, safetensors::tensor::TensorView<'_>)> = st.tensors();
        safetensors::serialize(tensors, Some(metadata)).unwrap()
    }


    #[test]
    fn printable_escapes_control_and_invisible_characters() {
        assert_eq!(printable("plain name, é ü 漢"), "plain name, é ü 漢");
        assert_eq!(quoted("a\u{1b}b"), r#""a\u{1b}b""#);
        assert_eq!(quoted(&"x".repeat(1000)), format!("{:?}...", "x".repeat(100)));
        assert_eq!(printable("a\nfake: line\u{1b}[2K\r\u{202e}x\u{7f}"), "a\\nfake: line\\u{1b}[2K\\r\\u{202e}x\\u{7f}");
        let p = Provenance { name: "n\u{1b}[31m".into(), source: "s\n".into(), license: "l\t".into(), ..Provenance::default() };
        let p = p.printable();
        assert_eq!((p.name.as_str(), p.source.as_str(), p.license.as_str()), ("n\\u{1b}[31m", "s\\n", "l\\t"));
    }

    #[test]
    fn non_finite_weights_are_never_written() {
        use burn::module::{Module, ModuleMapper, Param};
        use burn::tensor::Tensor;
        struct Poison;
        impl ModuleMapper for Poison {
            fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
                param.map(|t| t.mul_scalar(f32::NAN))
            }
        }
        let grl = tiny_config().init(&Device::flex());
        let provenance = Provenance::from_release_name("dn_grl_tiny_c3s25", "test");
        let err = save(&grl.clone().map(&mut Poison), &provenance, StorageDType::F32).unwrap_err();
        assert!(err.starts_with("refusing to write a model that could not be loaded: tensor "), "{err}");
        assert!(err.contains("holds NaN or infinite values"), "{err}");
        struct Huge;
        impl ModuleMapper for Huge {
            fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
                param.map(|t| t.add_scalar(1e6))
            }
        }
        let huge = grl.map(&mut Huge);
        let err = save(&huge, &provenance, StorageDType::F16).unwrap_err();
        assert!(err.ends_with("--dtype f32 keeps larger ones)"), "{err}");
        assert!(save(&huge, &provenance, StorageDType::F32).is_ok(), "1e6 fits f32");
    }
}
