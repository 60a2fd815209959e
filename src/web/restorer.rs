//! The `Restorer` class: a model on WebGPU or the CPU fallback, its `info`, and `restore`,
//! which reloads the model onto a new device after the old one was lost.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use burn::tensor::Device;
use js_sys::{Promise, Reflect, Uint8ClampedArray};
use tsify::Tsify;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;
use web_sys::ImageData;

use super::device::{ErrorScopes, WebGpu, browser_adapter, webgpu};
use super::hooks::JsHooks;
use super::options::{self, BackendChoice, CreateOptions, MAX_THREADS, RestoreOptions};
use super::pool::{Pool, navigator_number, pool_budget};
use super::{Backend, CPU_ADAPTER, to_js};
use crate::Size;
use crate::model::Grl;
use crate::restore::{self, cpu_tile, host_bytes, pool_lanes, restore_rgba8, restore_rgba8_on};
use crate::tiling::memory::{MemoryLimits, WEBGPU_BUDGET};
use crate::tiling::run::{TileError, TileHooks};
use crate::web_format::{self, WebModelInfo};

/// Memory a forward may use on the CPU fallback (wasm32 has 4 GiB at most).
const CPU_BUDGET: u64 = 768 << 20;
/// What a forward on the CPU fallback may use, in the page or a worker of its pool.
pub(super) fn cpu_limits() -> MemoryLimits {
    MemoryLimits { max_buffer_bytes: u32::MAX as u64, budget_bytes: CPU_BUDGET }
}

/// wasm memory a restore's images may take ([`host_bytes`]): wasm32 addresses 4 GiB, and the
/// rest is for the model, a tile's forward on the CPU and the allocator's slack.
const HOST_BUDGET: u64 = 2560 << 20;

/// What a Restorer runs and where.
#[derive(serde::Serialize, Tsify, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct RestorerInfo {
    name: String,
    task: String,
    scale: usize,
    in_channels: usize,
    out_channels: usize,
    params: usize,
    backend: Backend,
    adapter: String,
    noise_level: u32,
    jpeg_quality: u32,
    license: String,
    /// Tile sides are multiples of this; a smaller tileSize is raised to it.
    pad_size: usize,
    /// Why `backend: "auto"` chose the CPU: WebGPU is missing, failed to start, or runs on a
    /// software adapter (slower than the CPU fallback). Absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[tsify(optional)]
    fallback_reason: Option<String>,
    /// Workers restoring tiles side by side on the CPU fallback; 1: the calling thread (always
    /// on WebGPU).
    threads: usize,
}

impl RestorerInfo {
    fn new(info: &WebModelInfo, backend: Backend, adapter: String) -> Self {
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
            fallback_reason: None,
            threads: 1,
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
            Some(gpu) => MemoryLimits::from_wgpu(&gpu.raw.limits(), WEBGPU_BUDGET),
            None => cpu_limits(),
        };
        Session { grl: Rc::new(grl), device, gpu, limits, loss_reported: false }
    }
}

struct Inner {
    session: RefCell<Session>,
    /// The weights (WebGPU only), to reload the model onto a new device after a loss.
    weights: Option<Vec<u8>>,
    info: RefCell<RestorerInfo>,
    /// The workers of the CPU fallback, when it has more than one thread.
    pool: Option<Pool>,
}

/// A GRL model on WebGPU (or the CPU fallback), ready to restore images.
#[wasm_bindgen]
pub struct Restorer {
    inner: Rc<Inner>,
}

/// The error of a restore whose WebGPU device was lost, before or during the call.
fn device_lost_error(reason: &str) -> JsError {
    JsError::new(&format!(
        "WebGPU device lost ({reason}): the next call will start a new device and reload the model"
    ))
}

#[wasm_bindgen]
impl Restorer {
    /// `await Restorer.create(weights, { backend: "auto" | "webgpu" | "cpu", threads })`: loads
    /// a web-format model. "auto" uses WebGPU and falls back to the CPU when it is missing, fails
    /// to start or runs on a software adapter; `info.backend` says which, `info.fallbackReason`
    /// why. On the CPU, `threads` ("auto": `navigator.hardwareConcurrency`) workers restore
    /// tiles side by side, each with its own copy of the model; `info.threads` says how many
    /// started.
    // An async fn already returns a Promise: the type named is what it resolves to.
    #[wasm_bindgen(unchecked_return_type = "Restorer")]
    pub async fn create(
        weights: Vec<u8>,
        #[wasm_bindgen(unchecked_optional_param_type = "CreateOptions")] options: JsValue,
    ) -> Result<Restorer, JsError> {
        let options: CreateOptions = options::parse(&options)?;
        let (gpu, fallback_reason) = match options.backend {
            BackendChoice::Webgpu => (Some(webgpu().await.map_err(|e| JsError::new(&e))?), None),
            BackendChoice::Auto => auto_webgpu().await,
            BackendChoice::Cpu => (None, None),
        };
        let (device, backend, adapter) = match &gpu {
            Some(gpu) => (gpu.device.clone(), Backend::Webgpu, gpu.adapter.clone()),
            None => (Device::flex(), Backend::Cpu, CPU_ADAPTER.to_string()),
        };
        let (grl, info) = web_format::load(weights.as_slice(), &device).map_err(|e| JsError::new(&format!("cannot load the weights: {e}")))?;
        let mut info = RestorerInfo { fallback_reason, ..RestorerInfo::new(&info, backend, adapter) };
        let threads = options.threads.unwrap_or_else(|| navigator_number("hardwareConcurrency").unwrap_or(1.0) as usize);
        let pool = match gpu {
            None if threads > 1 => start_pool(&weights, threads.min(MAX_THREADS)).await,
            _ => None,
        };
        info.threads = pool.as_ref().map_or(1, Pool::size);
        let weights = gpu.is_some().then_some(weights);
        let session = Session::new(grl, device, gpu);
        let inner = Inner { session: RefCell::new(session), weights, info: RefCell::new(info), pool };
        Ok(Restorer { inner: Rc::new(inner) })
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

    /// Frees the model's memory and ends the CPU fallback's workers now rather than when JS
    /// garbage-collects the object. A restore still running rejects before its next tile.
    pub fn dispose(self) {
        if let Some(pool) = &self.inner.pool {
            pool.end();
        }
    }
}

/// The CPU pool of `threads` workers, or `None` (the calling thread restores) when no worker
/// starts, for example where a bundler did not ship the worker script: said on the console.
async fn start_pool(weights: &[u8], threads: usize) -> Option<Pool> {
    match Pool::start(weights, threads).await {
        Ok(pool) => Some(pool),
        Err(e) => {
            let warn = Reflect::get(&js_sys::global(), &"console".into())
                .and_then(|console| Reflect::get(&console, &"warn".into()))
                .ok()
                .and_then(|warn| warn.dyn_into::<js_sys::Function>().ok());
            let text = format!("grl-wasm: the CPU fallback runs on one thread, its workers did not start: {e}");
            if let Some(warn) = warn {
                let _ = warn.call1(&JsValue::NULL, &text.into());
            }
            None
        }
    }
}

/// `backend: "auto"`: WebGPU on a hardware adapter, else the CPU fallback and why. A software
/// adapter (SwiftShader, llvmpipe) is passed over before Burn starts a device on it: GRL runs
/// many times slower there than on the CPU fallback (see [`crate::adapter`]).
async fn auto_webgpu() -> (Option<WebGpu>, Option<String>) {
    if let Some(adapter) = browser_adapter().await.filter(|a| a.software) {
        let reason = format!("WebGPU runs on a software adapter ({}), slower than the CPU fallback", adapter.name);
        return (None, Some(reason));
    }
    match webgpu().await {
        Ok(gpu) => (Some(gpu), None),
        Err(e) => (None, Some(e)),
    }
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
fn image_parts(image: &JsValue) -> Result<(Size, Uint8ClampedArray), JsError> {
    let side = |key: &str| {
        Reflect::get(image, &key.into()).ok().and_then(|v| v.as_f64()).filter(|v| *v >= 0.0 && v.fract() == 0.0)
    };
    let data = Reflect::get(image, &"data".into()).ok().and_then(|d| d.dyn_into::<Uint8ClampedArray>().ok());
    match (side("width"), side("height"), data) {
        (Some(width), Some(height), Some(data)) => Ok((Size { height: height as usize, width: width as usize }, data)),
        _ => Err(JsError::new(
            "image is not an ImageData: expected whole-number width and height and a Uint8ClampedArray data",
        )),
    }
}

/// Refuses an image whose restore would not fit wasm's memory (an allocation failure there
/// aborts the module instead of returning an error).
fn check_host_memory(scale: usize, size: Size) -> Result<(), JsError> {
    let needed = host_bytes(scale, size);
    if needed <= HOST_BUDGET {
        return Ok(());
    }
    Err(JsError::new(&format!(
        "image is {size}: restoring it to {} needs about {} MiB of WebAssembly memory, \
         over the {} MiB a restore may use (wasm32 has 4 GiB in all): restore it in parts",
        size.scaled(scale),
        needed >> 20,
        HOST_BUDGET >> 20
    )))
}

/// A restore on the CPU fallback: with tileSize "auto", tiles of about 256 pixels (see
/// [`cpu_tile`]), run by the pool's workers when there is a pool.
#[allow(clippy::too_many_arguments)]
async fn restore_on_cpu(
    inner: &Inner,
    grl: &Grl,
    device: &Device,
    limits: MemoryLimits,
    pixels: &[u8],
    size: Size,
    tiling: &mut restore::RestoreOptions,
    hooks: &mut JsHooks,
) -> Result<restore::RestoredImage<u8>, TileError> {
    if tiling.tile.is_none() && size.area() > 0 {
        tiling.tile = cpu_tile(&grl.config, limits, size, tiling.overlap);
    }
    let Some(pool) = &inner.pool else {
        return restore_rgba8(grl, device, limits, pixels, size, *tiling, hooks).await;
    };
    if pool.ended().get() {
        return Err(TileError::Cancelled);
    }
    hooks.ended = Some(pool.ended());
    let lanes = pool_lanes(pool.size(), &grl.config, inner.info.borrow().params, size, tiling, pool_budget());
    restore_rgba8_on(grl, &mut pool.lanes(lanes), limits, pixels, size, *tiling, hooks).await
}

async fn restore_image(inner: &Inner, image: JsValue, options: JsValue) -> Result<ImageData, JsError> {
    let options: RestoreOptions = options::parse(&options)?;
    let mut tiling = options.tiling();
    let mut hooks = JsHooks::new(options);
    if hooks.cancelled() {
        return Err(JsError::new("cancelled"));
    }
    let (size, data) = image_parts(&image)?;
    check_host_memory(inner.info.borrow().scale, size)?;
    let pixels = data.to_vec();
    let (grl, device, gpu, limits) = session_for_restore(inner).await?;
    hooks.lost = gpu.as_ref().map(|gpu| gpu.lost.clone());
    let scopes = gpu.as_ref().map(|gpu| ErrorScopes::push(&gpu.raw));
    let result = match &gpu {
        Some(_) => restore_rgba8(&grl, &device, limits, &pixels, size, tiling, &mut hooks).await,
        None => restore_on_cpu(inner, &grl, &device, limits, &pixels, size, &mut tiling, &mut hooks).await,
    };
    let scopes = match scopes {
        Some(scopes) => scopes.pop().await,
        None => Ok(()),
    };
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
    scopes.map_err(|e| JsError::new(&e))?;
    let disposed = inner.pool.as_ref().is_some_and(|pool| pool.ended().get());
    let restored = result.map_err(|e| match disposed {
        true => JsError::new("the Restorer was disposed"),
        false => JsError::new(&e.to_string()),
    })?;
    // Copied into a JS buffer: an ImageData over a view of wasm memory would be detached by
    // the next growth of that memory.
    let pixels = Uint8ClampedArray::from(restored.rgba.as_slice());
    ImageData::new_with_js_u8_clamped_array_and_sh(&pixels, restored.size.width as u32, restored.size.height as u32)
        .map_err(|e| JsError::new(&format!("cannot create the output ImageData: {e:?}")))
}
