//! Random web-format files for the property test over configurations, shared by the native
//! suite (tests/config_property.rs) and the browser suite (tests/web.rs).
//!
//! A case is a small valid configuration (the switches of a random preset: upsampler, scale,
//! channels, CAB, qkv bias, shifts, pooling; small widths and geometry) whose tensors are
//! written with the shapes it implies, then zero to two mutations: of the configuration in
//! the metadata (zero, huge and odd values, mismatched lengths, other tails, JSON that is not
//! a configuration) or of the tensors (one missing, one mis-shaped, one extra). Every file
//! must load and restore, or be refused with an error; [`Case::should_load`] says which
//! from the configuration alone, so that a file refused while it should load fails the test.
//! Seeded: a tiny xorshift generator, the same on every target.
#![allow(dead_code)] // each suite uses its part

use std::collections::HashMap;

use grl_wasm::model::shapes::parameter_shapes;
use grl_wasm::model::{GrlConfig, Upsampler, preset_names};
use grl_wasm::web_format::{FORMAT, FORMAT_VERSION};
use safetensors::Dtype;
use safetensors::tensor::TensorView;

/// xorshift64*: a few lines, no dependency, the same stream natively and in wasm.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())].clone()
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

/// One generated file.
pub struct Case {
    /// What was done, one line: `case 17: dn_grl_tiny_c3s25 f16; window_size=7`.
    pub label: String,
    /// The `config` metadata as written.
    pub config_json: String,
    pub bytes: Vec<u8>,
    /// The tensors' names and shapes as written.
    pub shapes: Vec<(String, Vec<usize>)>,
    /// A test image for it: width, height.
    pub image: (u32, u32),
}

impl Case {
    /// Whether the file must load: its configuration parses and is valid, and its tensors are
    /// exactly the ones that configuration implies.
    pub fn should_load(&self) -> bool {
        let Ok(config) = serde_json::from_str::<GrlConfig>(&self.config_json) else { return false };
        if config.validate().is_err() {
            return false;
        }
        let mut want = parameter_shapes(&config);
        let mut have = self.shapes.clone();
        want.sort();
        have.sort();
        want == have
    }
}

/// Case `index` of the stream of `seed`.
pub fn case(seed: u64, index: usize) -> Case {
    let mut rng = Rng::new(seed ^ (index as u64).wrapping_mul(0xD1B5_4A32_D192_ED03));
    let (preset, base) = small_config(&mut rng);
    let mut shapes = parameter_shapes(&base);
    let mut config = serde_json::to_value(&base).expect("a configuration is JSON");
    let mut done = Vec::new();
    for _ in 0..rng.pick(&[0, 1, 1, 2]) {
        if rng.chance(75) {
            done.push(mutate_config(&mut config, &mut rng));
        } else {
            done.push(mutate_tensors(&mut shapes, &mut rng));
        }
    }
    let f16 = rng.chance(50);
    let config_json = match config {
        serde_json::Value::String(raw) => raw, // a raw replacement of the whole configuration
        value => value.to_string(),
    };
    let bytes = serialize(&shapes, &config_json, f16, &mut rng);
    let image = (1 + rng.below(20) as u32, 1 + rng.below(20) as u32);
    let label = format!("case {index}: {preset} {}; {}", if f16 { "f16" } else { "f32" }, done.join(", "));
    Case { label, config_json, bytes, shapes, image }
}

/// A valid configuration with a random preset's switches, narrow, shallow and with small
/// windows and stripes (pad size at most 32), so that a forward takes milliseconds.
fn small_config(rng: &mut Rng) -> (String, GrlConfig) {
    let names = preset_names();
    loop {
        let name = rng.pick(&names);
        let mut config = GrlConfig::preset(&name).expect("a preset");
        let stages = 1 + rng.below(2);
        config.embed_dim = rng.pick(&[12, 18, 24, 36]);
        config.depths = (0..stages).map(|_| 1 + rng.below(2)).collect();
        let heads: Vec<usize> = [1, 2, 3].into_iter().filter(|h| config.embed_dim % (2 * h) == 0).collect();
        config.num_heads_window = (0..stages).map(|_| rng.pick(&heads)).collect();
        config.num_heads_stripe = (0..stages).map(|_| rng.pick(&heads)).collect();
        config.mlp_ratio = rng.pick(&[1.0, 2.0, 2.5]);
        config.window_size = rng.pick(&[4, 8]);
        config.anchor_window_down_factor = rng.pick(&[1, 2, 4]);
        for axis in 0..2 {
            if rng.chance(20) {
                config.stripe_size[axis] = None;
                config.stripe_groups[axis] = Some(rng.pick(&[1, 2]));
            } else {
                config.stripe_size[axis] = Some(rng.pick(&[8, 16]));
                config.stripe_groups[axis] = None;
            }
        }
        if config.validate().is_ok() && config.pad_size() <= 32 {
            return (name, config);
        }
    }
}

/// One change to the configuration in the metadata; returns what it did.
fn mutate_config(config: &mut serde_json::Value, rng: &mut Rng) -> String {
    use serde_json::json;
    let huge = |rng: &mut Rng| json!(rng.pick(&[1u64 << 20, 1 << 40, u64::MAX]));
    let stages = config["depths"].as_array().map_or(1, Vec::len);
    let (key, value) = match rng.below(22) {
        0 => ("embed_dim", json!(rng.pick(&[0, 7, 16, 48]))),
        1 => ("embed_dim", huge(rng)),
        2 => ("depths", json!(rng.pick(&[vec![], vec![1; stages + 1], vec![3; stages], vec![65; stages]]))),
        3 => ("depths", json!(vec![2; rng.pick(&[17, 100_000])])),
        4 => ("num_heads_window", json!(rng.pick(&[vec![], vec![1; stages + 1], vec![0; stages], vec![5; stages]]))),
        5 => ("num_heads_stripe", json!(rng.pick(&[vec![2; stages], vec![1; stages], vec![1 << 30; stages]]))),
        6 => ("window_size", json!(rng.pick(&[0, 1, 2, 7, 9, 16, 32]))),
        7 => ("window_size", huge(rng)),
        8 => ("stripe_size", json!(rng.pick(&[[None, None], [Some(0), Some(8)], [Some(7), Some(8)], [Some(32), Some(4)]]))),
        9 => ("stripe_groups", json!([rng.pick(&[Some(0), Some(3), Some(1u64 << 40), None]), null])),
        10 => ("anchor_window_down_factor", json!(rng.pick(&[0, 3, 8, 1 << 20]))),
        11 => ("upscale", json!(rng.pick(&[0u64, 1, 2, 3, 4, 5, 1 << 40]))),
        12 => ("upsampler", json!(rng.pick(&["", "pixelshuffle", "pixelshuffledirect", "nearest+conv", "bicubic"]))),
        13 => ("in_channels", json!(rng.pick(&[0u64, 1, 3, 6, 1 << 40]))),
        14 => ("out_channels", json!(rng.pick(&[Some(0), Some(1), Some(3), None]))),
        15 => ("mlp_ratio", json!(rng.pick(&[0.0, -1.0, 0.01, 3.0, 1e300]))),
        16 => ("img_range", json!(rng.pick(&[0.0, -1.0, 255.0, 1e308]))),
        17 => ("local_connection", json!(rng.chance(50))),
        18 => ("qkv_bias", json!(rng.chance(50))),
        19 => ("pretrained_window_size", json!([rng.pick(&[0u64, 12, 1 << 40]), 0])),
        20 => ("stripe_shift", json!(rng.chance(50))),
        _ => {
            let raw = rng.pick(&["null", "[]", "{", "{\"depths\": -1}", "{\"embed_dim\": \"96\"}", "{\"upsampler\": \"\\u001b[2J\"}"]);
            *config = serde_json::Value::String(raw.to_string());
            return format!("config={raw}");
        }
    };
    if let Some(object) = config.as_object_mut() {
        object.insert(key.to_string(), value.clone());
    }
    let text = value.to_string();
    format!("{key}={}", if text.len() > 40 { format!("{}... ({} chars)", &text[..40], text.len()) } else { text })
}

/// One change to the tensors: one missing, one mis-shaped, or one extra.
fn mutate_tensors(shapes: &mut Vec<(String, Vec<usize>)>, rng: &mut Rng) -> String {
    let i = rng.below(shapes.len());
    match rng.below(3) {
        0 => format!("without {}", shapes.remove(i).0),
        1 => {
            let (name, shape) = &mut shapes[i];
            let axis = rng.below(shape.len());
            shape[axis] = if shape[axis] > 1 && rng.chance(50) { shape[axis] - 1 } else { shape[axis] + 1 };
            format!("{name} shaped {shape:?}")
        }
        _ => {
            let name = rng.pick(&["layers.7.conv.weight", "conv_up1.bias", "extra", "layers.0.blocks.9.norm1.weight"]);
            shapes.retain(|(n, _)| n != name);
            shapes.push((name.to_string(), vec![4]));
            format!("with {name}")
        }
    }
}

/// A web-format file: these tensors (small pseudo-random values) and this configuration.
fn serialize(shapes: &[(String, Vec<usize>)], config_json: &str, f16: bool, rng: &mut Rng) -> Vec<u8> {
    let data: Vec<Vec<u8>> = shapes
        .iter()
        .map(|(_, shape)| {
            let n: usize = shape.iter().product();
            (0..n)
                .flat_map(|_| {
                    let v = (rng.below(2001) as f32 - 1000.0) * 5e-5; // in [-0.05, 0.05]
                    if f16 { half::f16::from_f32(v).to_le_bytes().to_vec() } else { v.to_le_bytes().to_vec() }
                })
                .collect()
        })
        .collect();
    let dtype = if f16 { Dtype::F16 } else { Dtype::F32 };
    let views: Vec<(&str, TensorView<'_>)> = shapes
        .iter()
        .zip(&data)
        .map(|((name, shape), bytes)| (name.as_str(), TensorView::new(dtype, shape.clone(), bytes).expect("sizes agree")))
        .collect();
    let metadata = HashMap::from([
        ("format".to_string(), FORMAT.to_string()),
        ("format_version".to_string(), FORMAT_VERSION.to_string()),
        ("config".to_string(), config_json.to_string()),
        ("provenance".to_string(), r#"{"name":"random\u001b[31m\nfake line","task":"dn","noise_level":25,"jpeg_quality":0,"source":"random","license":"MIT"}"#.to_string()),
    ]);
    safetensors::serialize(views, Some(metadata)).expect("serializable")
}

/// The tail's name, for the record (a sanity check that the cases cover every tail).
pub fn tail(config_json: &str) -> Option<Upsampler> {
    serde_json::from_str::<GrlConfig>(config_json).ok().map(|c| c.upsampler)
}
