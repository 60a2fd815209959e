//! `probe(backend)`: a quick check that a device computes correctly.

use burn::tensor::Device;
use tsify::Tsify;
use wasm_bindgen::prelude::*;

use super::device::webgpu;
use super::{Backend, CPU_ADAPTER, to_js};
use crate::probe::run_probe;

/// What probe() returns: the probe computation's output and its error against the exact result.
#[derive(serde::Serialize, Tsify, Debug)]
#[serde(rename_all = "camelCase")]
pub struct ProbeResult {
    backend: Backend,
    adapter: String,
    /// The output, row-major.
    values: Vec<f32>,
    /// Largest absolute difference from the exact result.
    max_abs_err: f32,
}

/// Runs the probe computation (`softmax(q kᵀ / √d) v`, see `probe.rs`) through Burn on
/// `backend` ("webgpu" or "cpu") and returns `{ backend, adapter, values, maxAbsErr }`.
#[wasm_bindgen(unchecked_return_type = "ProbeResult")]
pub async fn probe(backend: String) -> Result<JsValue, JsError> {
    let (device, adapter, backend) = match backend.as_str() {
        "webgpu" => {
            let gpu = webgpu().await.map_err(|e| JsError::new(&e))?;
            (gpu.device, gpu.adapter, Backend::Webgpu)
        }
        "cpu" => (Device::flex(), CPU_ADAPTER.to_string(), Backend::Cpu),
        other => return Err(JsError::new(&format!("unknown backend {other:?}: expected \"webgpu\" or \"cpu\""))),
    };
    let report = run_probe(&device).await.map_err(|e| JsError::new(&e))?;
    to_js(&ProbeResult { backend, adapter, values: report.values, max_abs_err: report.max_abs_err })
}
