//! The parameter shapes a [`GrlConfig`] implies, derived from the configuration alone (nothing
//! is built), and the check of a file's tensors against them.
//!
//! A web-format file says what it holds twice: its configuration and its tensors' names and
//! shapes. Comparing the two before a model is built makes an inconsistent file fail in
//! microseconds, naming the tensor, its shape and the expected one, instead of after building
//! every block. The shapes are those of the stored (PyTorch) layout: Linear weights
//! `[out, in]`, convolutions `[out, in, k, k]`, LayerNorm `weight`/`bias`. A test compares
//! them with the model [`GrlConfig::init`] builds.

use std::collections::HashMap;

use super::config::GrlConfig;
use super::grl::NUM_OUT_FEATS;
use super::load::settings_for;
use super::settings::Upsampler;
use crate::web_format::quoted;

/// Hidden width of every relative-position bias MLP (`AffineTransformConfig::cpb_hidden`).
const CPB_HIDDEN: usize = 512;
/// Width reductions of the CAB's convolutions and of its channel attention (`CabConfig`).
const CAB_COMPRESS: usize = 4;
const CAB_REDUCTION: usize = 18;

/// The most problems one error lists (a file of the wrong model would list thousands).
const MAX_LISTED: usize = 3;

/// Every parameter of the model `config` builds, with its stored shape, in module order.
/// `config` must be valid ([`GrlConfig::validate`]): its sizes are then bounded, and so is
/// the length of the list (at most 16 stages of 64 blocks).
pub fn parameter_shapes(config: &GrlConfig) -> Vec<(String, Vec<usize>)> {
    let mut shapes = Vec::new();
    let mut add = |name: String, shape: Vec<usize>| shapes.push((name, shape));
    let c = config.embed_dim;
    let out = config.out_channels();
    conv(&mut add, "conv_first", config.in_channels, c, 3);
    norm(&mut add, "norm_start", c);
    for (i, &depth) in config.depths.iter().enumerate() {
        for j in 0..depth {
            block(&mut add, &format!("layers.{i}.blocks.{j}"), config, i);
        }
        conv(&mut add, &format!("layers.{i}.conv"), c, c, 3);
    }
    norm(&mut add, "norm_end", c);
    conv(&mut add, "conv_after_body", c, c, 3);
    let f = NUM_OUT_FEATS;
    match config.upsampler {
        Upsampler::PixelShuffle => {
            conv(&mut add, "conv_before_upsample", c, f, 3);
            let (steps, factor) = if config.upscale == 3 { (1, 3) } else { (config.upscale.trailing_zeros() as usize, 2) };
            for i in 0..steps {
                conv(&mut add, &format!("upsample.up.{i}"), f, f * factor * factor, 3);
            }
            conv(&mut add, "conv_last", f, out, 3);
        }
        Upsampler::PixelShuffleDirect => {
            conv(&mut add, "upsample.up.0", c, out * config.upscale * config.upscale, 3)
        }
        Upsampler::NearestConv => {
            conv(&mut add, "conv_before_upsample", c, f, 3);
            for name in ["conv_up1", "conv_up2", "conv_hr"] {
                conv(&mut add, name, f, f, 3);
            }
            conv(&mut add, "conv_last", f, out, 3);
        }
        Upsampler::Residual => conv(&mut add, "conv_last", c, out, 3),
    }
    shapes
}

/// One block of stage `stage` under `prefix`: mixed attention, norms, optional CAB, MLP.
fn block(add: &mut impl FnMut(String, Vec<usize>), prefix: &str, config: &GrlConfig, stage: usize) {
    let c = config.embed_dim;
    let attn = format!("{prefix}.attn");
    add(format!("{attn}.qkv.body.weight"), vec![3 * c, c]);
    if config.qkv_bias {
        add(format!("{attn}.qkv.body.bias"), vec![3 * c]);
    }
    linear(add, &format!("{attn}.anchor.body.0.reduction"), c, c / 2);
    transform(add, &format!("{attn}.window_attn.attn_transform"), config.num_heads_window[stage]);
    for t in ["attn_transform1", "attn_transform2"] {
        transform(add, &format!("{attn}.stripe_attn.{t}"), config.num_heads_stripe[stage]);
    }
    linear(add, &format!("{attn}.proj"), c, c);
    norm(add, &format!("{prefix}.norm1"), c);
    if config.local_connection {
        let (mid, squeezed) = (c / CAB_COMPRESS, c / CAB_REDUCTION);
        conv(add, &format!("{prefix}.conv.compress"), c, mid, 3);
        conv(add, &format!("{prefix}.conv.expand"), mid, c, 3);
        conv(add, &format!("{prefix}.conv.channel_attention.squeeze"), c, squeezed, 1);
        conv(add, &format!("{prefix}.conv.channel_attention.excite"), squeezed, c, 1);
    }
    linear(add, &format!("{prefix}.mlp.fc1"), c, config.mlp_hidden_dim());
    linear(add, &format!("{prefix}.mlp.fc2"), config.mlp_hidden_dim(), c);
    norm(add, &format!("{prefix}.norm2"), c);
}

/// An affine transform: per-head logit scale and the bias MLP (`fc2` has no bias).
fn transform(add: &mut impl FnMut(String, Vec<usize>), prefix: &str, heads: usize) {
    add(format!("{prefix}.logit_scale"), vec![heads, 1, 1]);
    linear(add, &format!("{prefix}.cpb_mlp.fc1"), 2, CPB_HIDDEN);
    add(format!("{prefix}.cpb_mlp.fc2.weight"), vec![heads, CPB_HIDDEN]);
}

fn linear(add: &mut impl FnMut(String, Vec<usize>), prefix: &str, input: usize, output: usize) {
    add(format!("{prefix}.weight"), vec![output, input]);
    add(format!("{prefix}.bias"), vec![output]);
}

fn conv(add: &mut impl FnMut(String, Vec<usize>), prefix: &str, input: usize, output: usize, kernel: usize) {
    add(format!("{prefix}.weight"), vec![output, input, kernel, kernel]);
    add(format!("{prefix}.bias"), vec![output]);
}

fn norm(add: &mut impl FnMut(String, Vec<usize>), prefix: &str, dim: usize) {
    add(format!("{prefix}.weight"), vec![dim]);
    add(format!("{prefix}.bias"), vec![dim]);
}

/// Checks the `(name, shape)` of a file's tensors against the shapes `config` (valid) implies:
/// every parameter present with its shape, and nothing else. The error names the first few
/// problems in module order (then the unexpected names), each with the tensor, the shapes and
/// the settings that decide them, and counts the rest.
pub fn check_shapes<'a>(config: &GrlConfig, tensors: impl IntoIterator<Item = (&'a str, &'a [usize])>) -> Result<(), String> {
    let mut found: HashMap<&str, &[usize]> = tensors.into_iter().collect();
    let mut problems = Vec::new();
    for (name, want) in parameter_shapes(config) {
        match found.remove(name.as_str()) {
            Some(shape) if shape == want.as_slice() => {}
            Some(shape) => problems.push(format!(
                "{name} has shape {shape:?} in the checkpoint but {want:?} in the configuration (set by {})",
                settings_for(&name)
            )),
            None => problems.push(format!("{name} is missing (set by {})", settings_for(&name))),
        }
    }
    let mut unexpected: Vec<&str> = found.into_keys().collect();
    unexpected.sort_unstable();
    problems.extend(unexpected.iter().map(|name| {
        format!("{} is not a parameter of the configuration (set by {})", quoted(name), settings_for(name))
    }));
    if problems.is_empty() {
        return Ok(());
    }
    let more = problems.len().saturating_sub(MAX_LISTED);
    problems.truncate(MAX_LISTED);
    let tail = if more > 0 { format!("; and {more} more") } else { String::new() };
    Err(format!("the tensors do not match the configuration: {}{tail}", problems.join("; ")))
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::model::presets::preset_names;
    use burn::store::{BurnToPyTorchAdapter, ModuleSnapshot, SafetensorsStore};
    use burn::tensor::Device;

    /// The shapes the model stores, from a saved model's header.
    fn stored_shapes(config: &GrlConfig) -> Vec<(String, Vec<usize>)> {
        let grl = config.init(&Device::flex());
        let mut store = SafetensorsStore::from_bytes(None).with_to_adapter(BurnToPyTorchAdapter);
        grl.save_into(&mut store).unwrap();
        let bytes = store.get_bytes().unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let mut shapes: Vec<_> = st.iter().map(|(n, v)| (n.to_string(), v.shape().to_vec())).collect();
        shapes.sort();
        shapes
    }

    /// Every upsampler, CAB, qkv bias, anchor factor and head count, on small widths.
    #[test]
    fn derived_shapes_are_the_built_models() {
        let mut configs = Vec::new();
        for name in preset_names() {
            let mut config = GrlConfig::preset(&name).unwrap();
            // Narrow and shallow, keeping every switch and the head counts' divisibility.
            config.embed_dim = 36;
            config.depths = config.depths.iter().map(|&d| d.min(2)).take(2).collect();
            config.num_heads_window = vec![3; config.depths.len()];
            config.num_heads_stripe = vec![1; config.depths.len()];
            configs.push((name, config));
        }
        let tiny = GrlConfig::preset("dn_grl_tiny_c3s25").unwrap();
        configs.push(("no qkv bias".into(), GrlConfig { qkv_bias: false, embed_dim: 8, ..tiny.clone() }));
        for (name, config) in configs {
            config.validate().unwrap();
            let mut derived = parameter_shapes(&config);
            derived.sort();
            assert_eq!(derived, stored_shapes(&config), "{name}");
        }
    }

    #[test]
    fn mismatches_name_the_tensor_and_both_shapes() {
        let config = GrlConfig::preset("sr_grl_tiny_c3x4").unwrap();
        let shapes = parameter_shapes(&config);
        let check = |s: &[(String, Vec<usize>)]| check_shapes(&config, s.iter().map(|(n, v)| (n.as_str(), v.as_slice())));
        check(&shapes).unwrap();
        let mut wrong = shapes.clone();
        assert_eq!(wrong[0], ("conv_first.weight".to_string(), vec![64, 3, 3, 3]));
        wrong[0].1 = vec![64, 1, 3, 3];
        assert_eq!(
            check(&wrong).unwrap_err(),
            "the tensors do not match the configuration: conv_first.weight has shape [64, 1, 3, 3] in the checkpoint but [64, 3, 3, 3] in the configuration (set by in_channels, embed_dim)"
        );
        let mut other = shapes.clone();
        other.retain(|(n, _)| n != "layers.3.blocks.0.attn.anchor.body.0.reduction.bias");
        other.push(("layers.9.conv.weight".into(), vec![1]));
        assert_eq!(
            check(&other).unwrap_err(),
            "the tensors do not match the configuration: layers.3.blocks.0.attn.anchor.body.0.reduction.bias is missing (set by embed_dim, anchor_proj_type); \"layers.9.conv.weight\" is not a parameter of the configuration (set by depths (stages), embed_dim)"
        );
        // Another model's file: the first few problems, counted.
        let mut fewer = shapes.clone();
        fewer.retain(|(n, _)| !n.starts_with("layers.3."));
        let err = check(&fewer).unwrap_err();
        assert!(err.starts_with("the tensors do not match the configuration: layers.3.blocks.0.attn.qkv.body.weight is missing"), "{err}");
        assert!(err.ends_with("; and 103 more"), "{err}");
        // A name from the file is escaped and cut.
        let mut long = shapes.clone();
        long.push((format!("x\u{1b}[2J{}", "y".repeat(1_000_000)), vec![1]));
        let err = check(&long).unwrap_err();
        assert!(err.contains(r#""x\u{1b}[2Jyyy"#) && err.contains("yyy\"... is not a parameter") && err.len() < 300, "{err}");
    }
}
