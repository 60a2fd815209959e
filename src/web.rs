//! Browser glue (wasm32 only): the `Restorer` class and the `probe` function, thin wrappers
//! that turn the crate's Rust API into JS with `Error`s. Devices are initialised asynchronously,
//! data is read back only with `into_data_async`, and WebGPU validation errors are captured
//! with error scopes (a failed validation can otherwise read back zeros).

use std::cell::RefCell;
use std::rc::Rc;

use burn::tensor::Device;
use burn::tensor::wgpu::{WgpuBackend, wgpu};
use js_sys::{Function, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{JsFuture, future_to_promise};
use web_sys::ImageData;

use crate::model::Grl;
use crate::probe::{ProbeReport, run_probe};
use crate::restore::{RestoreOptions, restore_rgba8};
use crate::tiling::memory::MemoryLimits;
use crate::tiling::run::{TileHooks, TileProgress};
use crate::web_format::{self, WebModelInfo};

/// Memory a forward may use on WebGPU by default; the device's buffer limits apply as well.
const WEBGPU_BUDGET: u64 = 512 << 20;
/// Memory a forward may use on the CPU fallback (wasm32 has 4 GiB at most).
const CPU_BUDGET: u64 = 768 << 20;

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
    /// The wgpu device under Burn's, for error scopes and limits.
    pub raw: wgpu::Device,
}

thread_local! {
    /// Burn registers one runtime per graphics API and rejects a second init: keep the first.
    static WEBGPU: RefCell<Option<WebGpu>> = const { RefCell::new(None) };
}

/// `navigator.gpu` of the page or worker, checked before Burn touches WebGPU: without it Burn's
/// wgpu path panics instead of returning an error.
fn has_navigator_gpu() -> bool {
    let global = js_sys::global();
    Reflect::get(&global, &"navigator".into())
        .and_then(|navigator| Reflect::get(&navigator, &"gpu".into()))
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
    let adapter = [info.name.as_str(), info.driver.as_str(), info.driver_info.as_str()]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(", ");
    let adapter = if adapter.is_empty() { "WebGPU adapter".to_string() } else { adapter };
    let gpu = WebGpu { device, adapter, raw: setup.device };
    WEBGPU.with(|cell| *cell.borrow_mut() = Some(gpu.clone()));
    Ok(gpu)
}

/// A Rust value as a plain JS object (maps too, which serde-wasm-bindgen would make `Map`s).
fn to_js<T: serde::Serialize>(value: &T) -> Result<JsValue, JsError> {
    serde::Serialize::serialize(value, &serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| JsError::new(&format!("could not convert a result for JS: {e}")))
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
    let (device, adapter, name) = match backend.as_str() {
        "webgpu" => {
            let gpu = webgpu().await.map_err(|e| JsError::new(&e))?;
            (gpu.device, gpu.adapter, "webgpu")
        }
        "cpu" => (Device::flex(), "Burn flex (CPU, wasm)".to_string(), "cpu"),
        other => return Err(JsError::new(&format!("unknown backend {other:?}: expected \"webgpu\" or \"cpu\""))),
    };
    let report = run_probe(&device).await.map_err(|e| JsError::new(&e))?;
    to_js(&ProbeResult { backend: name, adapter, report })
}

/// `Restorer.info` in JS.
#[derive(serde::Serialize, Clone)]
#[serde(rename_all = "camelCase")]
struct RestorerInfo {
    name: String,
    task: String,
    scale: usize,
    in_channels: usize,
    out_channels: usize,
    params: usize,
    backend: &'static str,
    adapter: String,
    noise_level: u32,
    jpeg_quality: u32,
    license: String,
    pad_size: usize,
}

impl RestorerInfo {
    fn new(info: &WebModelInfo, backend: &'static str, adapter: String) -> Self {
        let p = &info.provenance;
        RestorerInfo {
            name: p.name.clone(),
            task: p.task.clone(),
            scale: info.config.upscale,
            in_channels: info.config.in_channels,
            out_channels: info.config.out_channels(),
            params: info.params,
            backend,
            adapter,
            noise_level: p.noise_level,
            jpeg_quality: p.jpeg_quality,
            license: p.license.clone(),
            pad_size: info.config.pad_size(),
        }
    }
}

struct Inner {
    grl: Grl,
    device: Device,
    gpu: Option<wgpu::Device>,
    limits: MemoryLimits,
    info: RestorerInfo,
}

/// A GRL model on WebGPU (or the CPU fallback), ready to restore images.
#[wasm_bindgen]
pub struct Restorer {
    inner: Rc<Inner>,
}

/// Reads a string option, or `default` when absent.
fn string_option(options: &JsValue, key: &str, default: &str) -> Result<String, JsError> {
    let value = if options.is_object() { Reflect::get(options, &key.into()).unwrap_or(JsValue::UNDEFINED) } else { JsValue::UNDEFINED };
    if value.is_undefined() {
        return Ok(default.to_string());
    }
    value.as_string().ok_or_else(|| JsError::new(&format!("option {key} must be a string")))
}

#[wasm_bindgen]
impl Restorer {
    /// `await Restorer.create(weights, { backend: "auto" | "webgpu" | "cpu" })`: loads a
    /// web-format model. "auto" uses WebGPU and falls back to the CPU when it is missing or
    /// fails to start; `info.backend` says which.
    // An async fn already returns a Promise: the type named is what it resolves to.
    #[wasm_bindgen(unchecked_return_type = "Restorer")]
    pub async fn create(
        weights: Vec<u8>,
        #[wasm_bindgen(unchecked_optional_param_type = "CreateOptions")] options: JsValue,
    ) -> Result<Restorer, JsError> {
        let backend = string_option(&options, "backend", "auto")?;
        let gpu = match backend.as_str() {
            "webgpu" => Some(webgpu().await.map_err(|e| JsError::new(&e))?),
            "auto" => webgpu().await.ok(),
            "cpu" => None,
            other => {
                return Err(JsError::new(&format!(
                    "backend is {other:?}: expected \"auto\", \"webgpu\" or \"cpu\""
                )));
            }
        };
        let (device, raw, backend, adapter, limits) = match gpu {
            Some(gpu) => {
                let l = gpu.raw.limits();
                let max_buffer = (l.max_storage_buffer_binding_size as u64).min(l.max_buffer_size);
                let limits = MemoryLimits { max_buffer_bytes: max_buffer, budget_bytes: WEBGPU_BUDGET };
                (gpu.device, Some(gpu.raw), "webgpu", gpu.adapter, limits)
            }
            None => {
                let limits = MemoryLimits { max_buffer_bytes: u32::MAX as u64, budget_bytes: CPU_BUDGET };
                (Device::flex(), None, "cpu", "CPU (Burn flex, wasm)".to_string(), limits)
            }
        };
        let (grl, info) = web_format::load(&weights, &device).map_err(|e| JsError::new(&format!("cannot load the weights: {e}")))?;
        let info = RestorerInfo::new(&info, backend, adapter);
        Ok(Restorer { inner: Rc::new(Inner { grl, device, gpu: raw, limits, info }) })
    }

    /// `{ name, task, scale, inChannels, outChannels, params, backend, adapter, ... }`.
    #[wasm_bindgen(getter, unchecked_return_type = "RestorerInfo")]
    pub fn info(&self) -> Result<JsValue, JsError> {
        to_js(&self.inner.info)
    }

    /// `await restorer.restore(imageData, { tileSize, overlap, onProgress, signal })`: a new
    /// `ImageData` of (width x scale, height x scale); the input is not modified.
    #[wasm_bindgen(unchecked_return_type = "Promise<ImageData>")]
    pub fn restore(
        &self,
        image: ImageData,
        #[wasm_bindgen(unchecked_optional_param_type = "RestoreOptions")] options: JsValue,
    ) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move { restore_image(&inner, image, options).await.map(JsValue::from).map_err(JsValue::from) })
    }

    /// Frees the model's memory now rather than when JS garbage-collects the object.
    pub fn dispose(self) {}
}

/// Progress, cancellation and yielding, for JS callers.
struct JsHooks {
    on_progress: Option<Function>,
    signal: JsValue,
}

impl TileHooks for JsHooks {
    fn progress(&mut self, p: TileProgress) {
        if let Some(f) = &self.on_progress {
            let rect = js_sys::Object::new();
            for (key, value) in [("x", p.rect.x), ("y", p.rect.y), ("width", p.rect.w), ("height", p.rect.h), ("tile", p.tile.0)] {
                let _ = Reflect::set(&rect, &key.into(), &(value as f64).into());
            }
            let _ = f.call3(&JsValue::NULL, &(p.done as f64).into(), &(p.total as f64).into(), &rect);
        }
    }

    fn cancelled(&self) -> bool {
        self.signal.is_object() && Reflect::get(&self.signal, &"aborted".into()).map(|a| a.is_truthy()).unwrap_or(false)
    }

    async fn pause(&mut self) {
        // A macrotask, so the page repaints and handles events (and an abort) between tiles.
        let promise = Promise::new(&mut |resolve, _| {
            let set_timeout = Reflect::get(&js_sys::global(), &"setTimeout".into()).ok().and_then(|f| f.dyn_into::<Function>().ok());
            match set_timeout {
                Some(set_timeout) => {
                    let _ = set_timeout.call2(&JsValue::NULL, &resolve, &0.into());
                }
                None => {
                    let _ = resolve.call0(&JsValue::NULL);
                }
            }
        });
        let _ = JsFuture::from(promise).await;
    }
}

fn parse_options(options: &JsValue) -> Result<(RestoreOptions, JsHooks), JsError> {
    let get = |key: &str| if options.is_object() { Reflect::get(options, &key.into()).unwrap_or(JsValue::UNDEFINED) } else { JsValue::UNDEFINED };
    let mut restore = RestoreOptions::default();
    let tile = get("tileSize");
    if let Some(n) = tile.as_f64() {
        if n < 1.0 || n.fract() != 0.0 {
            return Err(JsError::new(&format!("tileSize is {n}: expected a whole number of pixels or \"auto\"")));
        }
        restore.tile = Some(n as usize);
    } else if !(tile.is_undefined() || tile.as_string().as_deref() == Some("auto")) {
        return Err(JsError::new("tileSize must be a number or \"auto\""));
    }
    let overlap = get("overlap");
    if let Some(n) = overlap.as_f64() {
        if n < 0.0 || n.fract() != 0.0 {
            return Err(JsError::new(&format!("overlap is {n}: expected a whole number of pixels")));
        }
        restore.overlap = n as usize;
    }
    let on_progress = get("onProgress");
    let on_progress = if on_progress.is_undefined() {
        None
    } else {
        Some(on_progress.dyn_into::<Function>().map_err(|_| JsError::new("onProgress must be a function"))?)
    };
    Ok((restore, JsHooks { on_progress, signal: get("signal") }))
}

async fn restore_image(inner: &Inner, image: ImageData, options: JsValue) -> Result<ImageData, JsError> {
    let (options, mut hooks) = parse_options(&options)?;
    if hooks.cancelled() {
        return Err(JsError::new("cancelled"));
    }
    let (width, height) = (image.width() as usize, image.height() as usize);
    let pixels = image.data().0;
    let scope = inner.gpu.as_ref().map(|d| d.push_error_scope(wgpu::ErrorFilter::Validation));
    let oom = inner.gpu.as_ref().map(|d| d.push_error_scope(wgpu::ErrorFilter::OutOfMemory));
    let result = restore_rgba8(&inner.grl, &inner.device, inner.limits, &pixels, [width, height], options, &mut hooks).await;
    if let Some(Some(e)) = match oom { Some(s) => Some(s.pop().await), None => None } {
        return Err(JsError::new(&format!("out of GPU memory: {e} (try a smaller tileSize)")));
    }
    if let Some(Some(e)) = match scope { Some(s) => Some(s.pop().await), None => None } {
        return Err(JsError::new(&format!("WebGPU validation error: {e}")));
    }
    let restored = result.map_err(|e| JsError::new(&e.to_string()))?;
    // Copied into a JS buffer: an ImageData over a view of wasm memory would be detached by
    // the next growth of that memory.
    let pixels = js_sys::Uint8ClampedArray::from(restored.rgba.as_slice());
    ImageData::new_with_js_u8_clamped_array_and_sh(&pixels, restored.width as u32, restored.height as u32)
        .map_err(|e| JsError::new(&format!("cannot create the output ImageData: {e:?}")))
}

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
/** What a Restorer runs and where. */
export interface RestorerInfo {
  name: string;
  task: string;
  scale: number;
  inChannels: number;
  outChannels: number;
  params: number;
  backend: "webgpu" | "cpu";
  adapter: string;
  noiseLevel: number;
  jpegQuality: number;
  license: string;
  /** Tile sides are multiples of this; a smaller tileSize is raised to it. */
  padSize: number;
}
/** Options of Restorer.create. */
export interface CreateOptions {
  backend?: "auto" | "webgpu" | "cpu";
}
/** Options of Restorer.restore. */
export interface RestoreOptions {
  tileSize?: number | "auto";
  overlap?: number;
  onProgress?: (done: number, total: number, tile: { x: number; y: number; width: number; height: number; tile: number }) => void;
  signal?: AbortSignal;
}
"#;
