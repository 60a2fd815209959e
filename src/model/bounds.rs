//! Upper bounds on every size a [`GrlConfig`] holds, checked before anything else about it.
//!
//! A configuration comes from files anyone can write (a web-format model opened in a page, a
//! JSON file on the command line). Without bounds, `stripe_groups` of 2^40 made a restore
//! allocate terabytes, and `depths` of 10^6 built a million blocks before a tensor was
//! compared: the process (or the page's wasm instance) aborted instead of refusing the file.
//! The bounds are far above every released model (GRL-B: C 180, 7 stages of at most 8 blocks,
//! 3 heads, windows up to 36, stripes up to 144, anchors /4, 20 M parameters) and below what
//! would overflow or exhaust memory; each error names the value and the bound.

use super::config::GrlConfig;

/// Most stages, blocks per stage, heads per branch.
const MAX_STAGES: usize = 16;
const MAX_BLOCKS_PER_STAGE: usize = 64;
const MAX_HEADS: usize = 64;
/// Most input or output channels (the dual-pixel deblurrer has 6).
const MAX_CHANNELS: usize = 16;
const MAX_EMBED_DIM: usize = 1024;
const MAX_UPSCALE: usize = 16;
/// Most pixels on a side of a window, a stripe or a pretrained size.
const MAX_WINDOW: usize = 256;
const MAX_STRIPE: usize = 1024;
const MAX_STRIPE_GROUPS: usize = 64;
const MAX_DOWN_FACTOR: usize = 16;
const MAX_MLP_RATIO: f64 = 16.0;
/// The largest value range (models work in 1.0 or 255.0; past this the features overflow).
const MAX_IMG_RANGE: f64 = 1000.0;
/// Most parameters, estimated from the sizes before anything is built (GRL-B has 20 M).
const MAX_PARAMS: f64 = 500e6;

/// Every bound `config` breaks, each naming the value; empty when all hold. Stops at the first
/// offending entry of a list, so that a list of a million values gives one short message.
pub fn out_of_bounds(config: &GrlConfig) -> Vec<String> {
    let mut errors = Vec::new();
    let mut at_most = |name: &str, value: usize, max: usize| {
        if value > max {
            errors.push(format!("{name} is {value}: expected at most {max}"));
        }
    };
    at_most("in_channels", config.in_channels, MAX_CHANNELS);
    at_most("out_channels", config.out_channels.unwrap_or(0), MAX_CHANNELS);
    at_most("embed_dim", config.embed_dim, MAX_EMBED_DIM);
    at_most("upscale", config.upscale, MAX_UPSCALE);
    at_most("window_size", config.window_size, MAX_WINDOW);
    at_most("anchor_window_down_factor", config.anchor_window_down_factor, MAX_DOWN_FACTOR);
    at_most("the number of stages (depths)", config.depths.len(), MAX_STAGES);
    at_most("the entries of num_heads_window", config.num_heads_window.len(), MAX_STAGES);
    at_most("the entries of num_heads_stripe", config.num_heads_stripe.len(), MAX_STAGES);
    let largest = |values: &[usize]| values.iter().copied().enumerate().max_by_key(|&(_, v)| v);
    for (name, values, max) in [
        ("depths", &config.depths, MAX_BLOCKS_PER_STAGE),
        ("num_heads_window", &config.num_heads_window, MAX_HEADS),
        ("num_heads_stripe", &config.num_heads_stripe, MAX_HEADS),
    ] {
        if let Some((i, v)) = largest(values) {
            at_most(&format!("{name}[{i}]"), v, max);
        }
    }
    for axis in 0..2 {
        at_most(&format!("stripe_size[{axis}]"), config.stripe_size[axis].unwrap_or(0), MAX_STRIPE);
        at_most(&format!("stripe_groups[{axis}]"), config.stripe_groups[axis].unwrap_or(0), MAX_STRIPE_GROUPS);
        at_most(&format!("pretrained_window_size[{axis}]"), config.pretrained_window_size[axis], MAX_WINDOW);
        at_most(&format!("pretrained_stripe_size[{axis}]"), config.pretrained_stripe_size[axis], MAX_STRIPE);
    }
    if !(config.mlp_ratio.is_finite() && config.mlp_ratio <= MAX_MLP_RATIO) {
        errors.push(format!("mlp_ratio is {}: expected a number of at most {MAX_MLP_RATIO}", config.mlp_ratio));
    }
    if !(config.img_range.is_finite() && config.img_range <= MAX_IMG_RANGE) {
        errors.push(format!("img_range is {}: expected a number of at most {MAX_IMG_RANGE}", config.img_range));
    }
    if errors.is_empty() {
        let params = estimated_params(config);
        if params > MAX_PARAMS {
            errors.push(format!(
                "the configuration would have about {:.0} M parameters (embed_dim {}, {} blocks): expected at most {:.0} M",
                params / 1e6,
                config.embed_dim,
                config.depths.iter().sum::<usize>(),
                MAX_PARAMS / 1e6
            ));
        }
    }
    errors
}

/// The parameters of the blocks and stage convolutions, the bulk of a GRL (in floating point:
/// no overflow whatever the sizes): per block qkv 3C², anchor C²/2, proj C², MLP 2 C hidden;
/// per stage a 3x3 conv, 9C².
fn estimated_params(config: &GrlConfig) -> f64 {
    let c = config.embed_dim as f64;
    let blocks: usize = config.depths.iter().sum();
    let per_block = 4.5 * c * c + 2.0 * c * c * config.mlp_ratio;
    blocks as f64 * per_block + config.depths.len() as f64 * 9.0 * c * c
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::model::presets::preset_names;

    #[test]
    fn every_preset_is_within_bounds() {
        for name in preset_names() {
            let config = GrlConfig::preset(&name).unwrap();
            assert_eq!(out_of_bounds(&config), Vec::<String>::new(), "{name}");
        }
    }

    #[test]
    fn absurd_sizes_are_named_in_short_messages() {
        let base = GrlConfig::preset("dn_grl_tiny_c3s25").unwrap();
        let cases: Vec<(GrlConfig, &str)> = vec![
            (GrlConfig { stripe_groups: [Some(1 << 40), None], ..base.clone() }, "stripe_groups[0] is 1099511627776: expected at most 64"),
            (GrlConfig { depths: vec![4; 1_000_000], ..base.clone() }, "the number of stages (depths) is 1000000"),
            (GrlConfig { depths: vec![10_000, 2], ..base.clone() }, "depths[0] is 10000: expected at most 64"),
            (GrlConfig { embed_dim: usize::MAX, ..base.clone() }, "expected at most 1024"),
            (GrlConfig { mlp_ratio: f64::NAN, ..base.clone() }, "mlp_ratio is NaN"),
            (GrlConfig { embed_dim: 1024, depths: vec![64; 16], num_heads_window: vec![2; 16], num_heads_stripe: vec![2; 16], ..base.clone() }, "M parameters"),
        ];
        for (config, expected) in cases {
            let err = config.validate().unwrap_err();
            assert!(err.contains(expected), "expected {expected:?} in {err:?}");
            assert!(err.len() < 500, "one short message: {} bytes", err.len());
        }
    }
}
