//! The attention fixture for unit tests: `testdata/attention.safetensors`, written by
//! `scripts/make-attention-fixture.py` from GRL.md's equations in float64 (that script also
//! checks those equations against the reference fixtures). The inputs and weights are
//! [`pattern`]s that the script computes alike; the file holds the expected outputs.
//!
//! The case: an 8x16 map (the geometry of `tables::small_test_tables`: 4x4 windows, 4x8
//! stripes, anchors at half resolution), 2 heads of 2 channels, a cpb MLP 8 wide.
//!
//! Public (hidden) so that the browser suite runs the same cases ([`forward`]) on WebGPU; the
//! expected values ([`assert_matches`]) are compiled into the native tests only.

use burn::module::Param;
use burn::tensor::{Device, Tensor, TensorData};

use super::affine_transform::{AffineTransform, AffineTransformConfig};
use super::config::GrlConfig;
use super::stripe_attention::AnchorStripeAttention;
use super::tables::{StripeOrientation, TableIndexMask};
use super::window_attention::WindowAttention;
use crate::Size;

/// The token map.
pub const SIZE: Size = Size { height: 8, width: 16 };
/// Attention heads of every branch.
pub const HEADS: usize = 2;
/// Channels of a branch's output (2 heads of 2).
const CHANNELS: usize = 4;
const CPB_HIDDEN: usize = 8;
/// Per-head logit scales: head 1 is above ln(100), so the clamp applies.
const LOGIT_SCALE: [f32; HEADS] = [1.0, 4.8];

/// `n` values in [-1, 1), exact in f32: the top 11 bits of a multiplicative hash.
pub fn pattern(seed: u32, n: usize) -> Vec<f32> {
    (0..n as u32)
        .map(|i| (i.wrapping_add(seed.wrapping_mul(1_000_003)).wrapping_mul(2_654_435_761) >> 21) as f32 / 1024.0 - 1.0)
        .collect()
}

fn tensor<const D: usize>(values: Vec<f32>, shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::from_data(TensorData::new(values, shape), device)
}

/// The packed input of both branches, `[1, H * W, 3 * c]`, laid out `(3, heads, head_dim)`.
pub fn qkv(device: &Device) -> Tensor<3> {
    let tokens = SIZE.area();
    tensor(pattern(1, tokens * 3 * CHANNELS), [1, tokens, 3 * CHANNELS], device)
}

/// The anchors of the stripe branch, `[1, H / 2, W / 2, c]`.
pub fn anchor(device: &Device) -> Tensor<4> {
    let (h, w) = (SIZE.height / 2, SIZE.width / 2);
    tensor(pattern(2, h * w * CHANNELS), [1, h, w, CHANNELS], device)
}

/// The script's `transform(seed)`: the logit scales above and a cpb MLP from patterns.
pub fn transform(seed: u32, device: &Device) -> AffineTransform {
    let mut t = AffineTransformConfig::new(HEADS).with_cpb_hidden(CPB_HIDDEN).init(device);
    t.logit_scale = Param::from_tensor(tensor(LOGIT_SCALE.to_vec(), [HEADS, 1, 1], device));
    let fc1_bias = pattern(seed + 1, CPB_HIDDEN).iter().map(|x| 0.5 * x).collect();
    t.cpb_mlp.fc1.weight = Param::from_tensor(tensor(pattern(seed, 2 * CPB_HIDDEN), [2, CPB_HIDDEN], device));
    t.cpb_mlp.fc1.bias = Some(Param::from_tensor(tensor(fc1_bias, [CPB_HIDDEN], device)));
    let fc2_weight = tensor(pattern(seed + 2, CPB_HIDDEN * HEADS), [CPB_HIDDEN, HEADS], device);
    t.cpb_mlp.fc2.weight = Param::from_tensor(fc2_weight);
    t
}

/// The fixture's outputs: window (plain, shifted) and stripe (horizontal, shifted vertical).
pub const CASES: [&str; 4] = ["window", "window_shifted", "stripe_h", "stripe_v_shifted"];

/// The tables of the fixture's geometry: 4x4 windows, 4x8 stripes, anchors at half resolution.
pub fn tables(device: &Device) -> TableIndexMask {
    let config = GrlConfig {
        window_size: 4,
        stripe_size: [Some(4), Some(8)],
        anchor_window_down_factor: 2,
        ..GrlConfig::default()
    };
    TableIndexMask::new(&config, SIZE, device)
}

/// The branch output of case `name` (one of [`CASES`]), `[1, H * W, c]`.
pub fn forward(name: &str, tables: &TableIndexMask, device: &Device) -> Tensor<3> {
    let stripe = |orientation, shift| AnchorStripeAttention {
        attn_transform1: transform(20, device),
        attn_transform2: transform(30, device),
        num_heads: HEADS,
        orientation,
        shift,
    };
    let window = |shift| WindowAttention { attn_transform: transform(10, device), num_heads: HEADS, shift };
    let (qkv, anchor) = (qkv(device), anchor(device));
    let (horizontal, vertical) = (StripeOrientation::Horizontal, StripeOrientation::Vertical);
    match name {
        "window" => window(false).forward(qkv, SIZE, &tables.window),
        "window_shifted" => window(true).forward(qkv, SIZE, &tables.window),
        "stripe_h" => stripe(horizontal, false).forward(qkv, anchor, SIZE, tables.stripe(horizontal)),
        "stripe_v_shifted" => stripe(vertical, true).forward(qkv, anchor, SIZE, tables.stripe(vertical)),
        _ => panic!("no attention fixture case {name}"),
    }
}

/// Asserts that `got`, `[1, H * W, c]`, is the fixture's output `name`. The tolerance is f32's:
/// cosines good to ~1e-7 times the temperature of 100 move the logits by ~1e-5, and the outputs
/// (values up to 1) by up to 6e-6 (measured); dropping the temperature, its clamp, the bias or the
/// mask moves them by 0.28 or more.
#[cfg(all(test, not(target_arch = "wasm32")))]
pub fn assert_matches(got: Tensor<3>, name: &str) {
    use burn::tensor::Tolerance;
    let file = safetensors::SafeTensors::deserialize(include_bytes!("testdata/attention.safetensors")).unwrap();
    let bytes = file.tensor(name).unwrap().data().to_vec();
    let expected: Vec<f32> = bytes.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
    let expected = TensorData::new(expected, [1, SIZE.area(), CHANNELS]);
    got.into_data().assert_approx_eq::<f32>(&expected, Tolerance::rel_abs(1e-4, 2e-5));
}
