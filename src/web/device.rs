//! The page's WebGPU device: started asynchronously through Burn, shared while it works,
//! replaced once it is lost; its adapter's name; and the error scopes that catch what WebGPU
//! reports asynchronously (a failed validation can otherwise read back zeros).

use std::cell::{Cell, RefCell};
use std::sync::{Arc, OnceLock};

use burn::tensor::wgpu::{WgpuBackend, wgpu};
use burn::tensor::{Device, DeviceKind};
use js_sys::{Function, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use crate::adapter::is_software;

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
    pub(super) lost: Arc<OnceLock<String>>,
}

impl WebGpu {
    /// How the device was lost (destroyed, driver reset, GPU removed...), once it has been.
    /// A lost device never comes back: [`webgpu`] then starts a new one.
    pub fn lost(&self) -> Option<&str> {
        self.lost.get().map(String::as_str)
    }
}

/// The most WebGPU devices a page starts. Burn cannot unregister a device, so every lost one
/// keeps its runtime (its compiled kernels and its pools' books: see tests/web_soak.rs for
/// what one costs); a page whose GPU is lost this often stops starting new ones and says so.
pub const MAX_WEBGPU_DEVICES: usize = 16;

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
/// lost device's runtime stays registered, idle: after [`MAX_WEBGPU_DEVICES`] devices this
/// returns an error instead.
pub async fn webgpu() -> Result<WebGpu, String> {
    if let Some(gpu) = WEBGPU.with(|cell| cell.borrow().clone()) {
        if gpu.lost().is_none() {
            return Ok(gpu);
        }
    }
    if navigator_gpu().is_none() {
        return Err("WebGPU is not available here: navigator.gpu is missing".into());
    }
    let n = STARTED.with(Cell::get);
    if n >= MAX_WEBGPU_DEVICES {
        return Err(format!(
            "WebGPU: this page has started {n} devices, the most it starts (Burn cannot free a \
             lost device's memory): reload the page, or use the \"cpu\" backend"
        ));
    }
    // Counted before the await: concurrent calls never ask Burn for the same id twice.
    STARTED.with(|started| started.set(n + 1));
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
        true => browser_adapter().await.map(|a| a.name).filter(|name| !name.is_empty()).unwrap_or_else(|| "WebGPU adapter".to_string()),
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

/// The adapter the browser offers, as `GPUAdapter.info` describes it.
pub struct BrowserAdapter {
    /// Its description, vendor, architecture and device, e.g. "google · swiftshader".
    pub name: String,
    /// A software rasteriser (SwiftShader...): see [`crate::adapter`].
    pub software: bool,
}

/// The adapter the browser offers with the high-performance preference Burn's device asks for;
/// `None` when there is none or the browser says nothing about it. wgpu reports no adapter name
/// on the web, hence this.
pub async fn browser_adapter() -> Option<BrowserAdapter> {
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
    // `isFallbackAdapter` moved from GPUAdapter to GPUAdapterInfo: either may say it.
    let flag = |object: &JsValue| Reflect::get(object, &"isFallbackAdapter".into()).ok().and_then(|v| v.as_bool());
    let is_fallback = flag(&info).or_else(|| flag(&adapter)).unwrap_or(false);
    let software = is_software(is_fallback, &words.iter().map(String::as_str).collect::<Vec<_>>());
    (!words.is_empty() || software).then(|| BrowserAdapter { name: words.join(" · "), software })
}

/// WebGPU's validation and out-of-memory error scopes around a piece of work: WebGPU reports
/// these errors asynchronously, and a failed validation can otherwise read back zeros.
pub(super) struct ErrorScopes {
    validation: wgpu::ErrorScopeGuard,
    out_of_memory: wgpu::ErrorScopeGuard,
}

impl ErrorScopes {
    /// Opens both scopes on `device`; [`ErrorScopes::pop`] closes them.
    pub(super) fn push(device: &wgpu::Device) -> Self {
        let validation = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let out_of_memory = device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        ErrorScopes { validation, out_of_memory }
    }

    /// Closes both scopes (innermost first) and returns what they caught as a message, an
    /// out-of-memory error before a validation error.
    pub(super) async fn pop(self) -> Result<(), String> {
        let out_of_memory = self.out_of_memory.pop().await;
        let validation = self.validation.pop().await;
        if let Some(e) = out_of_memory {
            return Err(format!("out of GPU memory: {e} (try a smaller tileSize)"));
        }
        match validation {
            Some(e) => Err(format!("WebGPU validation error: {e}")),
            None => Ok(()),
        }
    }
}
