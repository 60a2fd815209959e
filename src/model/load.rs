//! Loading the reference PyTorch weights into a [`Grl`].
//!
//! Source keys are the reference state-dict keys: a flat dict with a `model.` prefix (most
//! released checkpoints, the fixtures' `model.pth` and `model.safetensors`) or a Lightning
//! checkpoint whose generator sits under `state_dict.model_g.` next to a discriminator
//! (`model_d.*`), training scalars and the 13 derived buffers. Everything that is not a
//! learnable generator parameter is dropped; every generator parameter must land in the model
//! with the right shape, and every model parameter must be found. Linear weights are
//! transposed and LayerNorm `weight`/`bias` renamed by [`PyTorchToBurnAdapter`].

use burn::store::{
    ApplyResult, FloatCastAdapter, KeyRemapper, ModuleAdapter, ModuleSnapshot, ModuleStore, PyTorchToBurnAdapter,
    SafetensorsStore,
};
use burn::tensor::{DType, Device};

use super::config::GrlConfig;
use super::grl::Grl;

/// `(regex, replacement)` applied in order to every source key: strip the checkpoint
/// prefix, then rename the `nn.Sequential` positions whose neighbours hold no weights to the
/// named fields of this implementation. All other keys already match the module tree
/// (`conv_first`, `layers.i.blocks.j.attn.qkv.body`, `...attn.anchor.body.0.reduction`,
/// `...window_attn.attn_transform.logit_scale`, `...mlp.fc1`, `norm1`, ...).
pub const KEY_REMAPPING: &[(&str, &str)] = &[
    // Checkpoint prefixes: plain state dict, Lightning generator.
    (r"^model\.", ""),
    (r"^state_dict\.model_g\.", ""),
    // CPB_MLP = Sequential(Linear, ReLU, Linear).
    (r"\.cpb_mlp\.0\.", ".cpb_mlp.fc1."),
    (r"\.cpb_mlp\.2\.", ".cpb_mlp.fc2."),
    // CAB = Sequential(Conv, GELU, Conv, ChannelAttention(Sequential(Pool, Conv, ReLU, Conv, Sigmoid))).
    (r"\.conv\.cab\.0\.", ".conv.compress."),
    (r"\.conv\.cab\.2\.", ".conv.expand."),
    (r"\.conv\.cab\.3\.attention\.1\.", ".conv.channel_attention.squeeze."),
    (r"\.conv\.cab\.3\.attention\.3\.", ".conv.channel_attention.excite."),
    // Sequential(Conv, LeakyReLU).
    (r"^conv_before_upsample\.0\.", "conv_before_upsample."),
    // Upsample = Sequential(Conv, PixelShuffle, Conv, PixelShuffle, ...): scales up to 16.
    (r"^upsample\.up\.2\.", "upsample.up.1."),
    (r"^upsample\.up\.4\.", "upsample.up.2."),
    (r"^upsample\.up\.6\.", "upsample.up.3."),
];

/// Top-level fields of [`Grl`]: a leftover source key under one of them is an unexpected
/// generator parameter (an error); other leftovers belong to something else (a
/// discriminator, training state) and are dropped.
const GENERATOR_FIELDS: &[&str] = &[
    "conv_first",
    "norm_start",
    "layers",
    "norm_end",
    "conv_after_body",
    "conv_before_upsample",
    "upsample",
    "conv_up1",
    "conv_up2",
    "conv_hr",
    "conv_last",
];

/// Derived buffers some checkpoints carry (computed here instead): the shared
/// `table_*`/`index_*`/`mask_*` of the efficient model and the per-module ones of older code.
fn is_derived_buffer(key: &str) -> bool {
    let last = key.rsplit('.').next().unwrap_or(key);
    let top_level = !key.contains('.') && ["table_", "index_", "mask_"].iter().any(|p| key.starts_with(p));
    top_level || ["relative_coords_table", "relative_position_index", "attn_mask"].contains(&last)
}

/// What a successful load did.
#[derive(Debug, Clone)]
pub struct LoadReport {
    /// Number of tensors loaded into the model.
    pub applied: usize,
    /// Source keys deliberately ignored (derived buffers, non-generator entries).
    pub dropped: Vec<String>,
}

/// The remapper for [`KEY_REMAPPING`].
pub fn key_remapper() -> KeyRemapper {
    KeyRemapper::from_patterns(KEY_REMAPPING.to_vec()).expect("the remapping patterns are valid regexes")
}

/// The configuration settings that decide whether the parameter `key` exists and what shape
/// it has: the first place to look when it is missing, unexpected or mis-shaped. A wrong
/// window or stripe size changes no shape, which is why loading alone cannot catch it.
pub fn settings_for(key: &str) -> &'static str {
    let heads = key.ends_with("logit_scale") || key.contains("cpb_mlp.fc2");
    if key.contains("window_attn") && heads {
        "num_heads_window"
    } else if key.contains("stripe_attn") && heads {
        "num_heads_stripe"
    } else if key.contains(".mlp.") {
        "embed_dim, mlp_ratio"
    } else if key.contains(".conv.") && key.starts_with("layers.") && key.contains(".blocks.") {
        "local_connection, embed_dim"
    } else if key.starts_with("conv_first") {
        "in_channels, embed_dim"
    } else if ["upsample", "conv_before_upsample", "conv_up", "conv_hr", "conv_last"].iter().any(|p| key.starts_with(p)) {
        "upsampler, upscale, out_channels"
    } else if key.contains(".anchor.") {
        "embed_dim, anchor_proj_type"
    } else if key.starts_with("layers.") && !key.contains(".blocks.") {
        "depths (stages), embed_dim"
    } else if key.starts_with("layers.") {
        "depths, embed_dim"
    } else {
        "embed_dim"
    }
}

/// `keys`, then the settings that decide them: `"a, b (settings: depths)"`.
fn with_settings(keys: &[&str]) -> String {
    let mut settings: Vec<&str> = keys.iter().map(|k| settings_for(k)).collect();
    settings.sort();
    settings.dedup();
    format!("{} (settings: {})", keys.join(", "), settings.join("; "))
}

/// Turns an [`ApplyResult`] into a report, or one error listing every missing, unexpected and
/// mis-shaped tensor.
fn check(result: ApplyResult) -> Result<LoadReport, String> {
    let (mut dropped, mut unexpected) = (Vec::new(), Vec::new());
    for key in result.unused {
        let field = key.split('.').next().unwrap_or("");
        if is_derived_buffer(&key) || !GENERATOR_FIELDS.contains(&field) {
            dropped.push(key);
        } else {
            unexpected.push(key);
        }
    }
    let mut problems = Vec::new();
    if !result.missing.is_empty() {
        let keys: Vec<_> = result.missing.iter().map(|(path, _)| path.as_str()).collect();
        problems.push(format!("missing in the checkpoint ({}): {}", keys.len(), with_settings(&keys)));
    }
    if !unexpected.is_empty() {
        let keys: Vec<_> = unexpected.iter().map(String::as_str).collect();
        problems.push(format!("unexpected in the checkpoint ({}): {}", keys.len(), with_settings(&keys)));
    }
    if !result.errors.is_empty() {
        let errors: Vec<_> = result
            .errors
            .iter()
            .map(|e| match e {
                burn::store::ApplyError::ShapeMismatch { path, expected, found } => format!(
                    "{path} has shape {:?} in the checkpoint but {:?} in the model (set by {})",
                    found.as_slice(),
                    expected.as_slice(),
                    settings_for(path)
                ),
                other => other.to_string(),
            })
            .collect();
        problems.push(format!("could not load ({}): {}", errors.len(), errors.join("; ")));
    }
    if problems.is_empty() {
        Ok(LoadReport { applied: result.applied.len(), dropped })
    } else {
        Err(format!("GRL weights do not match the configuration: {}", problems.join("; ")))
    }
}

impl Grl {
    /// Builds a model for `config` and loads a PyTorch checkpoint (`.pth` / `.ckpt`, a flat
    /// state dict or a Lightning checkpoint) into it.
    ///
    /// # Errors
    ///
    /// An invalid configuration, an unreadable file, or weights that do not match: the
    /// message lists every missing, unexpected and mis-shaped tensor.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn load_pytorch(
        path: impl AsRef<std::path::Path>,
        config: &GrlConfig,
        device: &Device,
    ) -> Result<(Grl, LoadReport), String> {
        use burn::store::PytorchStore;
        let path = path.as_ref();
        let store = PytorchStore::from_file(path)
            .remap(key_remapper())
            .map_indices_contiguous(false)
            .allow_partial(true)
            .validate(false);
        load_into_new(config, device, store, |e| format!("cannot read {}: {e}", path.display()))
    }

    /// Builds a model for `config` and loads the reference weights from safetensors bytes with
    /// the reference keys (PyTorch layouts), e.g. the fixtures' `model.safetensors`. Works in
    /// the browser too.
    ///
    /// # Errors
    ///
    /// As [`Grl::load_pytorch`].
    pub fn load_safetensors_bytes(
        bytes: Vec<u8>,
        config: &GrlConfig,
        device: &Device,
    ) -> Result<(Grl, LoadReport), String> {
        let store = SafetensorsStore::from_bytes(Some(bytes))
            // f16 storage (the web format) is cast to f32 on the CPU before upload: the model
            // computes in f32, and a WebGPU device without shader-f16 cannot even copy f16.
            .with_from_adapter(PyTorchToBurnAdapter.chain(FloatCastAdapter::to(DType::F32)))
            .remap(key_remapper())
            .map_indices_contiguous(false)
            .allow_partial(true)
            .validate(false);
        load_into_new(config, device, store, |e| format!("cannot read the safetensors data: {e}"))
    }
}

/// What both entry points share: validate `config`, build a model, load `store` (set up with
/// [`key_remapper`], partial loading allowed, so that [`check`] sees every mismatch) into it,
/// and check the result. `read_error` words a failure to read the store.
fn load_into_new<S: ModuleStore>(
    config: &GrlConfig,
    device: &Device,
    mut store: S,
    read_error: impl FnOnce(S::Error) -> String,
) -> Result<(Grl, LoadReport), String> {
    config.validate()?;
    let mut model = config.init(device);
    let result = model.load_from(&mut store).map_err(read_error)?;
    check(result).map(|report| (model, report))
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    fn remap(key: &str) -> String {
        let mut key = key.to_string();
        for (pattern, replacement) in KEY_REMAPPING {
            key = regex_replace(pattern, replacement, &key);
        }
        key
    }

    fn regex_replace(pattern: &str, replacement: &str, key: &str) -> String {
        let remapper = KeyRemapper::from_patterns(vec![(pattern, replacement)]).unwrap();
        let (regex, to) = &remapper.patterns[0];
        regex.replace_all(key, to.as_str()).to_string()
    }

    #[test]
    fn reference_keys_map_onto_the_module_tree() {
        let cases = [
            ("model.conv_first.weight", "conv_first.weight"),
            (
                "model.layers.1.blocks.3.attn.anchor.body.0.reduction.bias",
                "layers.1.blocks.3.attn.anchor.body.0.reduction.bias",
            ),
            (
                "model.layers.0.blocks.0.attn.stripe_attn.attn_transform2.cpb_mlp.2.weight",
                "layers.0.blocks.0.attn.stripe_attn.attn_transform2.cpb_mlp.fc2.weight",
            ),
            (
                "model.layers.0.blocks.0.conv.cab.3.attention.1.weight",
                "layers.0.blocks.0.conv.channel_attention.squeeze.weight",
            ),
            ("model.layers.0.blocks.0.conv.cab.2.bias", "layers.0.blocks.0.conv.expand.bias"),
            ("state_dict.model_g.conv_before_upsample.0.weight", "conv_before_upsample.weight"),
            ("model.upsample.up.2.weight", "upsample.up.1.weight"),
            ("model.upsample.up.0.weight", "upsample.up.0.weight"),
            ("state_dict.model_d.conv0.weight", "state_dict.model_d.conv0.weight"),
        ];
        for (from, to) in cases {
            assert_eq!(remap(from), to);
        }
    }

    /// The tail keys the remapping targets are the model's: every upsampler's tail modules
    /// sit at the top level under the reference names.
    #[test]
    fn tail_keys_are_the_reference_keys() {
        use crate::model::Upsampler;
        use burn::tensor::Device;
        let device = Device::flex();
        let body = ["conv_first.", "norm_start.", "layers.", "norm_end.", "conv_after_body."];
        let tail_keys = |upsampler, upscale| {
            let config = crate::model::grl::tests::tiny(upsampler, upscale, 3);
            let tensors = config.init(&device).collect(None, None, false);
            let mut keys: Vec<String> =
                tensors.into_iter().map(|t| t.name).filter(|k| !body.iter().any(|b| k.starts_with(b))).collect();
            keys.sort();
            keys
        };
        let pairs = |names: &[&str]| -> Vec<String> {
            names.iter().flat_map(|n| [format!("{n}.bias"), format!("{n}.weight")]).collect()
        };
        let cases = [
            (Upsampler::PixelShuffle, 4, pairs(&["conv_before_upsample", "conv_last", "upsample.up.0", "upsample.up.1"])),
            (Upsampler::PixelShuffleDirect, 3, pairs(&["upsample.up.0"])),
            (Upsampler::NearestConv, 4, pairs(&["conv_before_upsample", "conv_hr", "conv_last", "conv_up1", "conv_up2"])),
            (Upsampler::Residual, 1, pairs(&["conv_last"])),
        ];
        for (upsampler, upscale, expected) in cases {
            assert_eq!(tail_keys(upsampler, upscale), expected, "{upsampler:?}");
        }
    }

    #[test]
    fn leftovers_are_classified() {
        assert!(is_derived_buffer("table_sh"));
        assert!(is_derived_buffer("mask_sv_w2a"));
        assert!(is_derived_buffer("layers.0.blocks.0.attn.window_attn.attn_transform.relative_position_index"));
        assert!(!is_derived_buffer("layers.0.conv.weight"));
        let result = ApplyResult {
            applied: vec!["conv_first.weight".into()],
            skipped: vec![],
            missing: vec![],
            unused: vec![
                "table_w".into(),
                "state_dict.model_d.x".into(),
                "epoch".into(),
                "layers.9.conv.weight".into(),
            ],
            errors: vec![],
        };
        let err = check(result).unwrap_err();
        assert!(err.contains("unexpected in the checkpoint (1): layers.9.conv.weight (settings: depths (stages), embed_dim)"), "{err}");
    }

    #[test]
    fn keys_name_the_settings_that_shape_them() {
        let cases = [
            ("layers.0.blocks.1.attn.window_attn.attn_transform.logit_scale", "num_heads_window"),
            ("layers.2.blocks.0.attn.stripe_attn.attn_transform2.cpb_mlp.fc2.weight", "num_heads_stripe"),
            ("layers.0.blocks.0.mlp.fc1.weight", "embed_dim, mlp_ratio"),
            ("layers.0.blocks.0.conv.compress.weight", "local_connection, embed_dim"),
            ("upsample.up.0.weight", "upsampler, upscale, out_channels"),
            ("conv_first.weight", "in_channels, embed_dim"),
            ("layers.5.blocks.3.norm1.gamma", "depths, embed_dim"),
        ];
        for (key, settings) in cases {
            assert_eq!(settings_for(key), settings, "{key}");
        }
    }
}
