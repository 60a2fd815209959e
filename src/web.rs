//! Browser glue (wasm32 only): the `Restorer` class and the `probe` function, thin wrappers
//! that turn the crate's Rust API into JS with `Error`s. Devices are initialised asynchronously,
//! data is read back only with `into_data_async`, and WebGPU validation errors are captured
//! with error scopes (a failed validation can otherwise read back zeros).

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::{Arc, OnceLock};

use burn::tensor::wgpu::{WgpuBackend, wgpu};
use burn::tensor::{Device, DeviceKind};
use js_sys::{Function, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{JsFuture, future_to_promise};
use web_sys::ImageData;

use crate::model::Grl;
use crate::probe::{ProbeReport, run_probe};
use crate::restore::{RestoreOptions, host_bytes, restore_rgba8};
use crate::tiling::memory::MemoryLimits;
use crate::tiling::run::{TileHooks, TileProgress};
use crate::web_format::{self, WebModelInfo};

/// Memory a forward may use on WebGPU by default; the device's buffer limits apply as well.
const WEBGPU_BUDGET: u64 = 512 << 20;
/// Memory a forward may use on the CPU fallback (wasm32 has 4 GiB at most).
const CPU_BUDGET: u64 = 768 << 20;
/// wasm memory a restore's images may take ([`host_bytes`]): wasm32 addresses 4 GiB, and the
/// rest is for the model, a tile's forward on the CPU and the allocator's slack.
const HOST_BUDGET: u64 = 2560 << 20;
/// `info.adapter` on the CPU fallback.
const CPU_ADAPTER: &str = "CPU (Burn flex, wasm SIMD)";

/// Installs the panic hook (Rust panics reach the console with their message); `init()` calls
/// it, calling it again does nothing.
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
    /// Set once by wgpu's device-lost callback: how the device was lost.
    lost: Arc<OnceLock<String>>,
}

impl WebGpu {
    /// How the device was lost (destroyed, driver reset, GPU removed...), once it has been.
    /// A lost device never comes back: [`webgpu`] then starts a new one.
    pub fn lost(&self) -> Option<&str> {
        self.lost.get().map(String::as_str)
    }
}

thread_local! {
    /// The page's current WebGPU device: shared while it works, replaced once it is lost.
    static WEBGPU: RefCell<Option<WebGpu>> = const { RefCell::new(None) };
    /// How many WebGPU devices this page has started (see [`webgpu`]).
    static STARTED: Cell<usize> = const { Cell::new(0) };
}

/// `navigator.gpu` of the page or worker, checked before Burn touches WebGPU: without it Burn's
/// wgpu path panics instead of returning an error.
fn navigator_gpu() -> Option<JsValue> {
    let navigator = Reflect::get(&js_sys::global(), &"navigator".into()).ok()?;
    Reflect::get(&navigator, &"gpu".into()).ok().filter(|gpu| !gpu.is_undefined() && !gpu.is_null())
}

/// The page's WebGPU device, created asynchronously on first use and shared afterwards; once
/// it is lost, the next call starts a new one (and drops the lost one from the cache).
///
/// Burn registers one runtime per device id and rejects a second init of an id, and 0.22 has
/// no way to unregister one: the first device is Burn's default device on WebGPU, each later
/// one a new id, `DiscreteGpu(n)` for the n-th. In a browser that index selects nothing (the
/// browser offers one adapter, requested with the same high-performance preference as the
/// default), so every id acquires a fresh adapter and device through Burn's own code. The
/// lost device's runtime stays registered, idle.
pub async fn webgpu() -> Result<WebGpu, String> {
    if let Some(gpu) = WEBGPU.with(|cell| cell.borrow().clone()) {
        if gpu.lost().is_none() {
            return Ok(gpu);
        }
    }
    if navigator_gpu().is_none() {
        return Err("WebGPU is not available here: navigator.gpu is missing".into());
    }
    // Taken before the await: concurrent calls never ask Burn for the same id twice.
    let n = STARTED.with(|started| started.replace(started.get() + 1));
    let kind = if n == 0 { DeviceKind::DefaultDevice } else { DeviceKind::DiscreteGpu(n) };
    let (device, setup) = Device::wgpu_options()
        .device_kind(kind)
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
    let adapter = match adapter.is_empty() {
        true => browser_adapter_name().await.unwrap_or_else(|| "WebGPU adapter".to_string()),
        false => adapter,
    };
    let lost = Arc::new(OnceLock::new());
    let record = lost.clone();
    // On the web this adds a reaction to GPUDevice.lost, next to the one CubeCL adds to poison
    // its streams (natively wgpu keeps one callback: there it would replace CubeCL's).
    setup.device.set_device_lost_callback(move |reason, message| {
        let _ = record.set(format!("{reason:?}: {message}"));
    });
    let gpu = WebGpu { device, adapter, raw: setup.device, lost };
    WEBGPU.with(|cell| *cell.borrow_mut() = Some(gpu.clone()));
    Ok(gpu)
}

/// The adapter as the browser describes it (`GPUAdapter.info`: description, vendor,
/// architecture, device, e.g. "google · swiftshader"): wgpu reports no adapter name on the web. Asks for
/// an adapter with the high-performance preference Burn's device uses; `None` when there is
/// none or the browser says nothing.
async fn browser_adapter_name() -> Option<String> {
    let gpu = navigator_gpu()?;
    let request: Function = Reflect::get(&gpu, &"requestAdapter".into()).ok()?.dyn_into().ok()?;
    let options = js_sys::Object::new();
    Reflect::set(&options, &"powerPreference".into(), &"high-performance".into()).ok()?;
    let adapter = JsFuture::from(request.call1(&gpu, &options).ok()?.dyn_into::<Promise>().ok()?).await.ok()?;
    if !adapter.is_object() {
        return None;
    }
    let info = Reflect::get(&adapter, &"info".into()).ok().filter(JsValue::is_object)?;
    let mut words: Vec<String> = Vec::new();
    for key in ["description", "vendor", "architecture", "device"] {
        let word = Reflect::get(&info, &key.into()).ok().and_then(|w| w.as_string()).unwrap_or_default();
        if !word.is_empty() && !words.contains(&word) {
            words.push(word);
        }
    }
    (!words.is_empty()).then(|| words.join(" · "))
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
#[wasm_bindgen(unchecked_return_type = "ProbeResult")]
pub async fn probe(backend: String) -> Result<JsValue, JsError> {
    let (device, adapter, name) = match backend.as_str() {
        "webgpu" => {
            let gpu = webgpu().await.map_err(|e| JsError::new(&e))?;
            (gpu.device, gpu.adapter, "webgpu")
        }
        "cpu" => (Device::flex(), CPU_ADAPTER.to_string(), "cpu"),
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
            task: p.task.to_string(),
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

/// The model on its device: replaced when a lost WebGPU device is recreated.
struct Session {
    grl: Rc<Grl>,
    device: Device,
    gpu: Option<WebGpu>,
    limits: MemoryLimits,
    /// A restore has reported the loss of `gpu`: the next one starts a new device.
    loss_reported: bool,
}

impl Session {
    fn new(grl: Grl, device: Device, gpu: Option<WebGpu>) -> Self {
        let limits = match &gpu {
            Some(gpu) => {
                let l = gpu.raw.limits();
                let max_buffer = (l.max_storage_buffer_binding_size as u64).min(l.max_buffer_size);
                MemoryLimits { max_buffer_bytes: max_buffer, budget_bytes: WEBGPU_BUDGET }
            }
            None => MemoryLimits { max_buffer_bytes: u32::MAX as u64, budget_bytes: CPU_BUDGET },
        };
        Session { grl: Rc::new(grl), device, gpu, limits, loss_reported: false }
    }
}

struct Inner {
    session: RefCell<Session>,
    /// The weights (WebGPU only), to reload the model onto a new device after a loss.
    weights: Option<Vec<u8>>,
    info: RefCell<RestorerInfo>,
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

/// The error of a restore whose WebGPU device was lost, before or during the call.
fn device_lost_error(reason: &str) -> JsError {
    JsError::new(&format!(
        "WebGPU device lost ({reason}): the next call will start a new device and reload the model"
    ))
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
        let (device, backend, adapter) = match &gpu {
            Some(gpu) => (gpu.device.clone(), "webgpu", gpu.adapter.clone()),
            None => (Device::flex(), "cpu", CPU_ADAPTER.to_string()),
        };
        let (grl, info) = web_format::load(weights.as_slice(), &device).map_err(|e| JsError::new(&format!("cannot load the weights: {e}")))?;
        let info = RestorerInfo::new(&info, backend, adapter);
        let weights = gpu.is_some().then_some(weights);
        let session = Session::new(grl, device, gpu);
        Ok(Restorer { inner: Rc::new(Inner { session: RefCell::new(session), weights, info: RefCell::new(info) }) })
    }

    /// `{ name, task, scale, inChannels, outChannels, params, backend, adapter, ... }`.
    #[wasm_bindgen(getter, unchecked_return_type = "RestorerInfo")]
    pub fn info(&self) -> Result<JsValue, JsError> {
        to_js(&*self.inner.info.borrow())
    }

    /// `await restorer.restore(imageData, { tileSize, overlap, onProgress, signal })`: a new
    /// `ImageData` of (width x scale, height x scale); the input is not modified.
    ///
    /// If the WebGPU device is lost (before or during the call), it rejects with an Error whose
    /// message starts with "WebGPU device lost"; the next call starts a new device and reloads
    /// the model onto it.
    #[wasm_bindgen(unchecked_return_type = "Promise<ImageData>")]
    pub fn restore(
        &self,
        image: ImageData,
        #[wasm_bindgen(unchecked_optional_param_type = "RestoreOptions")] options: JsValue,
    ) -> Promise {
        let inner = self.inner.clone();
        let image = JsValue::from(image);
        future_to_promise(async move { restore_image(&inner, image, options).await.map(JsValue::from).map_err(JsValue::from) })
    }

    /// For testing recovery from a lost device, like WebGL's `WEBGL_lose_context.loseContext()`:
    /// destroys the WebGPU device (`GPUDevice.destroy()`), which is lost for every Restorer
    /// on it. The next `restore` rejects with "WebGPU device lost", the one after starts a new
    /// device. A no-op on the CPU backend.
    #[wasm_bindgen(js_name = loseDevice)]
    pub fn lose_device(&self) {
        if let Some(gpu) = &self.inner.session.borrow().gpu {
            gpu.raw.destroy();
        }
    }

    /// Frees the model's memory now rather than when JS garbage-collects the object.
    pub fn dispose(self) {}
}

/// Progress, cancellation and yielding, for JS callers.
struct JsHooks {
    on_progress: Option<Function>,
    signal: JsValue,
    /// The device's loss, once it happens: stops the job before the next tile.
    lost: Option<Arc<OnceLock<String>>>,
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
        self.lost.as_ref().is_some_and(|lost| lost.get().is_some())
            || self.signal.is_object() && Reflect::get(&self.signal, &"aborted".into()).map(|a| a.is_truthy()).unwrap_or(false)
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
    Ok((restore, JsHooks { on_progress, signal: get("signal"), lost: None }))
}

/// The model and device a restore runs on. A device lost before this call is reported (an
/// error); once reported, the next call starts a new device and reloads the model onto it.
async fn session_for_restore(inner: &Inner) -> Result<(Rc<Grl>, Device, Option<WebGpu>, MemoryLimits), JsError> {
    let lost = {
        let mut session = inner.session.borrow_mut();
        match session.gpu.as_ref().and_then(|gpu| gpu.lost().map(str::to_string)) {
            None => None,
            Some(reason) if !session.loss_reported => {
                session.loss_reported = true;
                return Err(device_lost_error(&reason));
            }
            Some(reason) => Some(reason),
        }
    };
    if let Some(reason) = lost {
        let weights = inner.weights.as_deref().ok_or_else(|| JsError::new("internal: WebGPU weights were not kept"))?;
        let gpu = webgpu()
            .await
            .map_err(|e| JsError::new(&format!("the WebGPU device was lost ({reason}) and a new one did not start: {e}")))?;
        let (grl, _) = web_format::load(weights, &gpu.device)
            .map_err(|e| JsError::new(&format!("cannot reload the weights onto the new WebGPU device: {e}")))?;
        inner.info.borrow_mut().adapter = gpu.adapter.clone();
        *inner.session.borrow_mut() = Session::new(grl, gpu.device.clone(), Some(gpu));
    }
    let session = inner.session.borrow();
    Ok((session.grl.clone(), session.device.clone(), session.gpu.clone(), session.limits))
}

/// The size and pixels (not copied yet) of `image`: an `ImageData`, or any object with its
/// `width`, `height` and `data` (wasm-bindgen does not check the class). Checked here, as the
/// generated glue would throw from inside the module on a wrong object.
fn image_parts(image: &JsValue) -> Result<([usize; 2], js_sys::Uint8ClampedArray), JsError> {
    let side = |key: &str| {
        Reflect::get(image, &key.into()).ok().and_then(|v| v.as_f64()).filter(|v| *v >= 0.0 && v.fract() == 0.0)
    };
    let data = Reflect::get(image, &"data".into()).ok().and_then(|d| d.dyn_into::<js_sys::Uint8ClampedArray>().ok());
    match (side("width"), side("height"), data) {
        (Some(width), Some(height), Some(data)) => Ok(([width as usize, height as usize], data)),
        _ => Err(JsError::new(
            "image is not an ImageData: expected whole-number width and height and a Uint8ClampedArray data",
        )),
    }
}

/// Refuses an image whose restore would not fit wasm's memory (an allocation failure there
/// aborts the module instead of returning an error).
fn check_host_memory(scale: usize, [width, height]: [usize; 2]) -> Result<(), JsError> {
    let needed = host_bytes(scale, [width, height]);
    if needed <= HOST_BUDGET {
        return Ok(());
    }
    Err(JsError::new(&format!(
        "image is {width}x{height}: restoring it to {}x{} needs about {} MiB of WebAssembly memory, \
         over the {} MiB a restore may use (wasm32 has 4 GiB in all): restore it in parts",
        width * scale,
        height * scale,
        needed >> 20,
        HOST_BUDGET >> 20
    )))
}

async fn restore_image(inner: &Inner, image: JsValue, options: JsValue) -> Result<ImageData, JsError> {
    let (options, mut hooks) = parse_options(&options)?;
    if hooks.cancelled() {
        return Err(JsError::new("cancelled"));
    }
    let ([width, height], data) = image_parts(&image)?;
    check_host_memory(inner.info.borrow().scale, [width, height])?;
    let pixels = data.to_vec();
    let (grl, device, gpu, limits) = session_for_restore(inner).await?;
    hooks.lost = gpu.as_ref().map(|gpu| gpu.lost.clone());
    let raw = gpu.as_ref().map(|gpu| &gpu.raw);
    let scope = raw.map(|d| d.push_error_scope(wgpu::ErrorFilter::Validation));
    let oom = raw.map(|d| d.push_error_scope(wgpu::ErrorFilter::OutOfMemory));
    let result = restore_rgba8(&grl, &device, limits, &pixels, [width, height], options, &mut hooks).await;
    let oom = match oom { Some(s) => s.pop().await, None => None };
    let validation = match scope { Some(s) => s.pop().await, None => None };
    // Lost during the call: whatever failed (a read, a scope, the next tile) failed for that.
    if let Some(gpu) = &gpu
        && let Some(reason) = gpu.lost()
    {
        let mut session = inner.session.borrow_mut();
        // Unless a concurrent call has already replaced the device.
        if session.gpu.as_ref().is_some_and(|current| Arc::ptr_eq(&current.lost, &gpu.lost)) {
            session.loss_reported = true;
        }
        return Err(device_lost_error(reason));
    }
    if let Some(e) = oom {
        return Err(JsError::new(&format!("out of GPU memory: {e} (try a smaller tileSize)")));
    }
    if let Some(e) = validation {
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
/** What probe() returns: the probe computation's output and its error against the exact result. */
export interface ProbeResult {
  backend: "webgpu" | "cpu";
  adapter: string;
  /** The output, row-major. */
  values: number[];
  /** Largest absolute difference from the exact result. */
  maxAbsErr: number;
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
