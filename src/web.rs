//! Browser glue (wasm32 only): thin wrappers that turn the crate's Rust API into JS functions
//! with `JsError`s. Devices are initialised asynchronously and read back with
//! `into_data_async`, never synchronously.

use std::cell::RefCell;

use burn::tensor::Device;
use burn::tensor::wgpu::WgpuBackend;
use wasm_bindgen::prelude::*;

use crate::probe::{ProbeReport, run_probe};

#[wasm_bindgen(start)]
fn start() {
    console_error_panic_hook::set_once();
}

/// A WebGPU device and the adapter it runs on.
#[derive(Clone, Debug)]
pub struct WebGpu {
    /// Burn's device on the browser's WebGPU.
    pub device: Device,
    /// The adapter's name, backend and driver, as wgpu reports them.
    pub adapter: String,
}

thread_local! {
    /// Burn registers one runtime per graphics API and rejects a second init: keep the first.
    static WEBGPU: RefCell<Option<WebGpu>> = const { RefCell::new(None) };
}

/// `navigator.gpu` of the page or worker, checked before Burn touches WebGPU: without it Burn's
/// wgpu path panics instead of returning an error.
fn has_navigator_gpu() -> bool {
    let global = js_sys::global();
    js_sys::Reflect::get(&global, &"navigator".into())
        .and_then(|navigator| js_sys::Reflect::get(&navigator, &"gpu".into()))
        .map(|gpu| !gpu.is_undefined() && !gpu.is_null())
        .unwrap_or(false)
}

/// The page's WebGPU device, created asynchronously on first use and shared afterwards.
pub async fn webgpu() -> Result<WebGpu, String> {
    if let Some(gpu) = WEBGPU.with(|cell| cell.borrow().clone()) {
        return Ok(gpu);
    }
    if !has_navigator_gpu() {
        return Err("WebGPU is not available here: navigator.gpu is missing".into());
    }
    let (device, setup) = Device::wgpu_options()
        .graphics_api(WgpuBackend::WebGpu)
        .init_with_setup_async()
        .await
        .map_err(|e| format!("could not start WebGPU: {e}"))?;
    let info = setup.adapter.get_info();
    let adapter = format!("{} ({:?}, {})", info.name, info.backend, info.driver).replace(" ()", "");
    let gpu = WebGpu { device, adapter };
    WEBGPU.with(|cell| *cell.borrow_mut() = Some(gpu.clone()));
    Ok(gpu)
}

/// What [`probe`] returns to JS.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct ProbeResult {
    backend: &'static str,
    adapter: String,
    #[serde(flatten)]
    report: ProbeReport,
}

/// Runs the probe computation (`softmax(q kᵀ / √d) v`, see `probe.rs`) through Burn on
/// `backend` ("webgpu" or "cpu") and returns `{ backend, adapter, values, maxAbsErr }`.
#[wasm_bindgen]
pub async fn probe(backend: String) -> Result<JsValue, JsError> {
    let (device, adapter) = match backend.as_str() {
        "webgpu" => {
            let gpu = webgpu().await.map_err(|e| JsError::new(&e))?;
            (gpu.device, gpu.adapter)
        }
        "cpu" => (Device::flex(), "Burn flex (CPU, wasm)".to_string()),
        other => return Err(JsError::new(&format!("unknown backend {other:?}: expected \"webgpu\" or \"cpu\""))),
    };
    let report = run_probe(&device).await.map_err(|e| JsError::new(&e))?;
    let backend = if backend == "webgpu" { "webgpu" } else { "cpu" };
    to_js(&ProbeResult { backend, adapter, report })
}

/// A Rust value as a plain JS object (maps too, which serde-wasm-bindgen would make `Map`s).
fn to_js<T: serde::Serialize>(value: &T) -> Result<JsValue, JsError> {
    serde::Serialize::serialize(value, &serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| JsError::new(&format!("could not convert a result for JS: {e}")))
}
