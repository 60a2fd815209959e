//! Browser glue (wasm32 only): the `Restorer` class and the `probe` function, thin wrappers
//! that turn the crate's Rust API into JS with `Error`s. Devices are initialised asynchronously,
//! data is read back only with `into_data_async`, and WebGPU validation errors are captured
//! with error scopes (a failed validation can otherwise read back zeros). The TypeScript types
//! of the options and results are generated from the structs here (tsify).
//!
//! - `device`: the page's WebGPU device, its adapter's name, its loss, error scopes.
//! - `options`: the options of `Restorer.create` and `restore`, parsed once.
//! - `hooks`: progress, cancellation and pauses of a running restore.
//! - `restorer`: the `Restorer` class and the model session it keeps.
//! - `pool`: the Web Workers that run tiles side by side on the CPU fallback.
//! - `tile_worker`: the `TileWorker` class each of those workers runs (internal).
//! - `probe`: the `probe` function.

mod device;
mod hooks;
mod options;
mod pool;
mod probe;
mod restorer;
mod tile_worker;

use tsify::Tsify;
use wasm_bindgen::prelude::*;

pub use device::{MAX_WEBGPU_DEVICES, WebGpu, webgpu};
pub use probe::probe;
pub use restorer::Restorer;
pub use tile_worker::TileWorker;

/// `info.adapter` on the CPU fallback.
const CPU_ADAPTER: &str = "CPU (Burn flex, wasm SIMD)";

/// Installs the panic hook (Rust panics reach the console with their message); `init()` calls
/// it, calling it again does nothing.
#[wasm_bindgen(start)]
fn start() {
    console_error_panic_hook::set_once();
}

/// Where a model or the probe runs.
#[derive(serde::Serialize, Tsify, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// The browser's WebGPU.
    Webgpu,
    /// Burn's flex backend in WebAssembly.
    Cpu,
}

/// A Rust value as a plain JS object (maps too, which serde-wasm-bindgen would make `Map`s).
fn to_js<T: serde::Serialize>(value: &T) -> Result<JsValue, JsError> {
    serde::Serialize::serialize(value, &serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| JsError::new(&format!("could not convert a result for JS: {e}")))
}
