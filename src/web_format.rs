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
//! says what is wrong, never a panic: length, header size, format and version, dtypes, finite
//! values, and the configuration; tensor names and shapes are then checked against the
//! configuration by the loader.

use std::collections::HashMap;

use burn::tensor::Device;
use safetensors::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};

use crate::model::presets::{LICENSE, Release, Task};
use crate::model::{Grl, GrlConfig};

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

fn metadata_string<'a>(metadata: &'a HashMap<String, String>, key: &str) -> Result<&'a str, String> {
    metadata
        .get(key)
        .map(String::as_str)
        .ok_or_else(|| format!("not a grl-wasm model: the metadata has no {key:?}"))
}

/// Checks the first 8 bytes (the header length) against the file size.
fn check_header_length(bytes: &[u8]) -> Result<(), String> {
    if bytes.len() < 8 {
        return Err(format!("file is {} bytes: too short for a safetensors file", bytes.len()));
    }
    let header = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"));
    let available = bytes.len() as u64 - 8;
    if header > MAX_HEADER_BYTES || header > available {
        return Err(format!(
            "header length {header} is not plausible for a file of {} bytes (truncated or not safetensors)",
            bytes.len()
        ));
    }
    Ok(())
}

/// The tensors' storage dtype, and a check that every value is finite.
fn check_tensors(st: &SafeTensors<'_>) -> Result<(StorageDType, usize), String> {
    let mut dtypes = Vec::new();
    let mut params = 0;
    for (name, view) in st.iter() {
        let dtype = match view.dtype() {
            Dtype::F32 => StorageDType::F32,
            Dtype::F16 => StorageDType::F16,
            other => return Err(format!("tensor {name} is {other:?}: expected F32 or F16")),
        };
        let finite = match dtype {
            StorageDType::F32 => view.data().chunks_exact(4).all(|b| f32::from_le_bytes(b.try_into().unwrap()).is_finite()),
            StorageDType::F16 => view.data().chunks_exact(2).all(|b| half::f16::from_le_bytes([b[0], b[1]]).is_finite()),
        };
        if !finite {
            return Err(format!("tensor {name} holds NaN or infinite values"));
        }
        params += view.shape().iter().product::<usize>();
        if !dtypes.contains(&dtype) {
            dtypes.push(dtype);
        }
    }
    match dtypes.as_slice() {
        [dtype] => Ok((*dtype, params)),
        [] => Err("the file holds no tensors".into()),
        _ => Err("the file mixes F32 and F16 tensors: expected one storage dtype".into()),
    }
}

/// Reads and checks a web-format file's header, metadata and values, without building a model.
pub fn read_info(bytes: &[u8]) -> Result<WebModelInfo, String> {
    check_header_length(bytes)?;
    let st = SafeTensors::deserialize(bytes).map_err(|e| format!("not a valid safetensors file: {e}"))?;
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| format!("not a valid safetensors file: {e}"))?;
    let metadata = header.metadata().clone().unwrap_or_default();
    let format = metadata_string(&metadata, "format")?;
    if format != FORMAT {
        return Err(format!("format is {format:?}: expected {FORMAT:?}"));
    }
    let version_text = metadata_string(&metadata, "format_version")?;
    let format_version: u32 = version_text
        .parse()
        .map_err(|_| format!("format_version is {version_text:?}: expected a whole number"))?;
    if format_version == 0 || format_version > FORMAT_VERSION {
        return Err(format!(
            "format version {format_version} is not supported: this grl-wasm reads versions 1 to {FORMAT_VERSION} (convert the model again or update grl-wasm)"
        ));
    }
    let config: GrlConfig = serde_json::from_str(metadata_string(&metadata, "config")?)
        .map_err(|e| format!("the configuration in the metadata is not valid: {e}"))?;
    config.validate()?;
    let provenance: Provenance = match metadata.get("provenance") {
        Some(json) => serde_json::from_str(json).map_err(|e| format!("the provenance in the metadata is not valid: {e}"))?,
        None => Provenance::default(),
    };
    let (dtype, params) = check_tensors(&st)?;
    Ok(WebModelInfo { config, provenance, dtype, params, format_version })
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
    store.get_bytes().map_err(|e| format!("cannot write the model: {e}"))
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

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

    fn tiny_model_bytes(dtype: StorageDType) -> Vec<u8> {
        let mut config = GrlConfig::preset("dn_grl_tiny_c3s25").unwrap();
        config.embed_dim = 16;
        config.depths = vec![2];
        config.num_heads_window = vec![1];
        config.num_heads_stripe = vec![1];
        let grl = config.init(&Device::flex());
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
    fn with_metadata(bytes: &[u8], edit: impl Fn(&mut HashMap<String, String>)) -> Vec<u8> {
        let st = SafeTensors::deserialize(bytes).unwrap();
        let (_, header) = SafeTensors::read_metadata(bytes).unwrap();
        let mut metadata = header.metadata().clone().unwrap();
        edit(&mut metadata);
        let tensors: Vec<(String, safetensors::tensor::TensorView<'_>)> = st.tensors();
        safetensors::serialize(tensors, Some(metadata)).unwrap()
    }

    #[test]
    fn bad_files_are_clear_errors_never_panics() {
        let good = tiny_model_bytes(StorageDType::F16);
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (vec![], "too short"),
            (good[..good.len() / 2].to_vec(), "not a valid safetensors"),
            ([&u64::MAX.to_le_bytes()[..], &good[8..]].concat(), "header length"),
            (with_metadata(&good, |m| { m.insert("format_version".into(), "2".into()); }), "format version 2 is not supported"),
            (with_metadata(&good, |m| { m.insert("format".into(), "other".into()); }), "format is \"other\""),
            (with_metadata(&good, |m| { m.remove("config"); }), "no \"config\""),
            (with_metadata(&good, |m| { m.insert("config".into(), "{\"embed_dim\": 7}".into()); }), "embed_dim"),
            // Absurd sizes are refused before anything is built or allocated.
            (with_metadata(&good, |m| { m.insert("config".into(), "{\"stripe_groups\": [1099511627776, null]}".into()); }), "stripe_groups[0] is 1099511627776: expected at most 64"),
            (with_metadata(&good, |m| { m.insert("config".into(), format!("{{\"depths\": [{}]}}", vec!["2"; 1_000_000].join(","))); }), "the number of stages (depths) is 1000000"),
        ];
        for (bytes, expected) in cases {
            let err = read_info(&bytes).unwrap_err();
            assert!(err.contains(expected), "expected {expected:?} in {err:?}");
            assert!(load(bytes, &Device::flex()).is_err());
        }
    }

    #[test]
    fn non_finite_weights_and_wrong_dtypes_are_rejected() {
        let mut bytes = tiny_model_bytes(StorageDType::F32);
        let header = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        let at = 8 + header; // first value of the first tensor
        bytes[at..at + 4].copy_from_slice(&f32::NAN.to_le_bytes());
        assert!(read_info(&bytes).unwrap_err().contains("NaN"));
        let ints = safetensors::serialize(
            [("x", safetensors::tensor::TensorView::new(Dtype::I32, vec![1], &[0u8; 4]).unwrap())],
            Some(HashMap::from([("format".to_string(), FORMAT.to_string())])),
        )
        .unwrap();
        let err = check_tensors(&SafeTensors::deserialize(&ints).unwrap()).unwrap_err();
        assert!(err.contains("I32"), "{err}");
    }

    #[test]
    fn corrupted_files_never_panic() {
        // Bounded property test: flip bytes and truncate at pseudo-random places.
        let good = tiny_model_bytes(StorageDType::F16);
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as usize
        };
        for _ in 0..300 {
            let mut bytes = good.clone();
            match next() % 3 {
                0 => bytes.truncate(next() % good.len()),
                1 => {
                    let i = next() % bytes.len().min(4096);
                    bytes[i] ^= 1 << (next() % 8);
                }
                _ => {
                    let i = next() % bytes.len();
                    bytes[i] = next() as u8;
                }
            }
            // Must return, not panic; what passes the checks must load or fail cleanly.
            if read_info(&bytes).is_ok() {
                let _ = load(bytes, &Device::flex());
            }
        }
    }
}
