//! Reading a web-format file: every check, in the order that fails fastest, before any value
//! is read or any model built.

use std::collections::HashMap;

use safetensors::{Dtype, SafeTensors};

use super::{FORMAT, FORMAT_VERSION, MAX_HEADER_BYTES, Provenance, StorageDType, WebModelInfo, printable, quoted};
use crate::model::GrlConfig;

fn metadata_string<'a>(metadata: &'a HashMap<String, String>, key: &str) -> Result<&'a str, String> {
    metadata
        .get(key)
        .map(String::as_str)
        .ok_or_else(|| format!("not a grl-wasm model: the metadata has no {key:?}"))
}

/// serde's message about a JSON value from a file, printable and at most 300 characters (it
/// quotes unknown values as written).
fn json_error(e: &serde_json::Error) -> String {
    let text = printable(&e.to_string());
    match text.char_indices().nth(300) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text,
    }
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

/// What the header says, checked, before the tensors are compared with the configuration.
struct Header<'a> {
    tensors: SafeTensors<'a>,
    config: GrlConfig,
    provenance: Provenance,
    format_version: u32,
}

/// Reads and checks the header and the metadata: length, format and version, the
/// configuration (bounded and valid) and the provenance (its strings made printable).
fn read_header(bytes: &[u8]) -> Result<Header<'_>, String> {
    check_header_length(bytes)?;
    let tensors = SafeTensors::deserialize(bytes).map_err(|e| format!("not a valid safetensors file: {e}"))?;
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| format!("not a valid safetensors file: {e}"))?;
    let metadata = header.metadata().clone().unwrap_or_default();
    let format = metadata_string(&metadata, "format")?;
    if format != FORMAT {
        return Err(format!("format is {}: expected {FORMAT:?}", quoted(format)));
    }
    let version_text = metadata_string(&metadata, "format_version")?;
    let format_version: u32 = version_text
        .parse()
        .map_err(|_| format!("format_version is {}: expected a whole number", quoted(version_text)))?;
    if format_version == 0 || format_version > FORMAT_VERSION {
        return Err(format!(
            "format version {format_version} is not supported: this grl-wasm reads versions 1 to {FORMAT_VERSION} (convert the model again or update grl-wasm)"
        ));
    }
    let config: GrlConfig = serde_json::from_str(metadata_string(&metadata, "config")?)
        .map_err(|e| format!("the configuration in the metadata is not valid: {}", json_error(&e)))?;
    config.validate()?;
    let provenance: Provenance = match metadata.get("provenance") {
        Some(json) => serde_json::from_str(json).map_err(|e| format!("the provenance in the metadata is not valid: {}", json_error(&e)))?,
        None => Provenance::default(),
    };
    Ok(Header { tensors, config, provenance: provenance.printable(), format_version })
}

/// The tensors' names and shapes against the configuration (no data is read).
fn check_header_shapes(header: &Header<'_>) -> Result<(), String> {
    let tensors: Vec<(String, Vec<usize>)> =
        header.tensors.iter().map(|(name, view)| (name.to_string(), view.shape().to_vec())).collect();
    crate::model::shapes::check_shapes(&header.config, tensors.iter().map(|(n, s)| (n.as_str(), s.as_slice())))
}

/// The storage dtype, finite values and parameter count: the rest of [`read_info`].
fn finish(header: Header<'_>) -> Result<WebModelInfo, String> {
    let (dtype, params) = check_tensors(&header.tensors)?;
    let Header { config, provenance, format_version, .. } = header;
    Ok(WebModelInfo { config, provenance, dtype, params, format_version })
}

/// Reads and checks a web-format file without building a model: header, metadata, the
/// tensors' names and shapes against the configuration (before any value is read, so a
/// mismatched file fails at once), dtypes and finite values.
pub fn read_info(bytes: &[u8]) -> Result<WebModelInfo, String> {
    let header = read_header(bytes)?;
    check_header_shapes(&header)?;
    finish(header)
}

/// [`read_info`] for a file whose tensors may not match its configuration: what the file says,
/// and the result of that comparison on its own (`grl info` prints the first, then fails on
/// the second).
pub fn inspect(bytes: &[u8]) -> Result<(WebModelInfo, Result<(), String>), String> {
    let header = read_header(bytes)?;
    let shapes = check_header_shapes(&header);
    Ok((finish(header)?, shapes))
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::web_format::load;
    use crate::web_format::tests::{tiny_config, tiny_model_bytes, with_metadata};
    use burn::tensor::Device;
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
    #[test]
    fn a_configuration_that_does_not_match_its_tensors_is_named_before_any_value_is_read() {
        let good = tiny_model_bytes(StorageDType::F16);
        let config = |edit: &dyn Fn(&mut GrlConfig)| {
            let mut c = tiny_config();
            edit(&mut c);
            with_metadata(&good, |m| { m.insert("config".into(), serde_json::to_string(&c).unwrap()); })
        };
        let wider = config(&|c| c.embed_dim = 24);
        let err = read_info(&wider).unwrap_err();
        assert!(err.starts_with("the tensors do not match the configuration: conv_first.weight has shape [16, 3, 3, 3] in the checkpoint but [24, 3, 3, 3] in the configuration (set by in_channels, embed_dim)"), "{err}");
        let deeper = config(&|c| c.depths = vec![3]);
        assert!(read_info(&deeper).unwrap_err().contains("layers.0.blocks.2.attn.qkv.body.weight is missing (set by depths, embed_dim)"));
        // What grl info uses: the file's description, and the mismatch on its own.
        let (info, shapes) = inspect(&wider).unwrap();
        assert_eq!(info.config.embed_dim, 24);
        assert!(shapes.unwrap_err().contains("conv_first.weight"));
        assert_eq!(inspect(&good).unwrap().1, Ok(()));
        // A window or stripe size changes no shape: such a file loads.
        read_info(&config(&|c| c.window_size = 16)).unwrap();
    }
}
