//! What both browser test targets (tests/web.rs, tests/web_soak.rs) build their cases from: a
//! tiny model in the web format, test images, option objects, error messages.

use burn::tensor::Device;
use grl_wasm::model::GrlConfig;
use grl_wasm::web_format::{self, Provenance, StorageDType};
use js_sys::{Object, Reflect};
use wasm_bindgen::prelude::*;
use web_sys::ImageData;

/// A small random GRL denoiser (pad size 16) with `blocks` blocks in its one stage, in the web
/// format (f16), as a user would ship one: fast enough on SwiftShader to restore several tiles.
pub fn tiny_denoiser(blocks: usize) -> Vec<u8> {
    let config = GrlConfig {
        in_channels: 3,
        embed_dim: 16,
        upscale: 1,
        depths: vec![blocks],
        num_heads_window: vec![1],
        num_heads_stripe: vec![1],
        window_size: 8,
        stripe_size: [Some(16), Some(16)],
        stripe_shift: true,
        mlp_ratio: 2.0,
        anchor_window_down_factor: 2,
        ..GrlConfig::default()
    };
    let grl = config.init(&Device::flex());
    web_format::save(&grl, &Provenance::from_release_name("dn_test_c3s25", "random"), StorageDType::F16).unwrap()
}

/// An opaque test image, its pixels in a JS buffer of their own (as a canvas gives them).
pub fn image_data(width: u32, height: u32) -> ImageData {
    let pixels: Vec<u8> = (0..width * height * 4).map(|i| if i % 4 == 3 { 255 } else { (i * 37 % 251) as u8 }).collect();
    let pixels = js_sys::Uint8ClampedArray::from(pixels.as_slice());
    ImageData::new_with_js_u8_clamped_array_and_sh(&pixels, width, height).unwrap()
}

/// A plain JS object of `entries`, as options are passed.
pub fn options(entries: &[(&str, JsValue)]) -> JsValue {
    let object = Object::new();
    for (key, value) in entries {
        Reflect::set(&object, &(*key).into(), value).unwrap();
    }
    object.into()
}

/// An error's `message`, or its debug form.
pub fn message(error: JsValue) -> String {
    Reflect::get(&error, &"message".into()).ok().and_then(|m| m.as_string()).unwrap_or_else(|| format!("{error:?}"))
}
