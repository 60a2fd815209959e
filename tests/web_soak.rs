//! Browser soak test (`wasm-pack test`, its own target so that its memory figures are its own):
//! 50 restores in a row with one `Restorer`, on WebGPU and on the CPU fallback: mixed small
//! sizes, some cancelled mid-run or before they start, one device loss in the middle. After
//! the first few restores the wasm heap, the wasm memory and the device memory Burn reports
//! stay at their level: nothing leaks per restore. A device loss costs what Burn keeps of the
//! lost device, measured here; the number of devices a page starts is capped, with a clear error.
//! Each restore's figures are printed (`--nocapture`).
#![cfg(target_arch = "wasm32")]

#[path = "support/page.rs"]
mod page;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use burn::tensor::Device;
use grl_wasm::web::{MAX_WEBGPU_DEVICES, Restorer, webgpu};
use js_sys::{Function, Promise, Reflect, WebAssembly};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;
use web_sys::ImageData;

use page::{image_data, message, options, tiny_denoiser};

wasm_bindgen_test_configure!(run_in_dedicated_worker);

/// The system allocator (dlmalloc on wasm32), counting the bytes it has handed out and not
/// had back: the wasm heap's live bytes, exact, where `WebAssembly.Memory` only grows.
struct Counting;

static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to `System` unchanged; only a counter is updated besides.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            LIVE_BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            LIVE_BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            LIVE_BYTES.fetch_add(new_size, Ordering::Relaxed);
            LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const NEEDS_WEBGPU: &str = "this test needs a WebGPU adapter (see webdriver.json)";
const RESTORES: usize = 50;
/// The restores, cycled: each kind and size runs in restores 1-5, so that every tile shape
/// (and every kernel) has been seen by then, and twice by restore 10. Restore 11, the base
/// level, is the first of the third cycle: Burn's pools trim unused pages on their own schedule
/// (on WebGPU there, on each device: reserved bytes fall by about 1 MiB and the heap grows once
/// by 9.5 KiB of bookkeeping) and a few caches take their last entries before it. A whole image is one tile (tileSize "auto"); the
/// cancelled one is two, cut at 32 pixels.
const CYCLE: [((u32, u32), Plan); 5] = [
    ((8, 8), Plan::Run),
    ((48, 40), Plan::Run),
    ((48, 16), Plan::CancelMidRun),
    ((24, 16), Plan::Run),
    ((16, 24), Plan::CancelBefore),
];
/// The restore (0-based) before which the WebGPU device is destroyed: it reports the loss, the
/// next one is cancelled before it starts, so the new device starts at restore 26 (0-based 25)
/// and sees the same restores in the same order as the first device did from restore 1:
/// its restore 35 is the first device's restore 10.
const LOSS_AT: usize = 23;
/// The restore (1-based) whose level the later ones are held to, on the CPU.
const BASE: usize = 11;
/// The same on each WebGPU device. Since the WGSL kernel's launches bind their sources per
/// launch (3 December), the live heap grows once, by 8,960-9,856 bytes, at the 17th restore of
/// each device (restores 17 and 42), and never after it in either window: a book of the
/// runtime's reaching a new size, not a leak per restore; the cause was not found.
const WEBGPU_BASE: usize = 17;
const BASE_AFTER_LOSS: usize = WEBGPU_BASE + 25;
/// Heap slack: bytes the live heap may grow over its base level. Measured, it grew by 0 after
/// the base (a few 128-byte drops); the one-off growths seen before it were 104 to 256 bytes.
/// The CPU's window holds 39 restores after its base, the WebGPU devices' 6 and 8, so leaking
/// 43 bytes (a boxed closure, a small string) per restore already fails.
const HEAP_SLACK: usize = 256;
/// What one device loss may cost the wasm heap: Burn keeps the lost device's runtime (its
/// compiled kernels, its pools' books), and the new device compiles the kernels again.
/// Measured: 0.63-0.66 MiB (about 0.18 MiB of it for a bare device); bounded at 3 times that.
const LOSS_HEAP_BOUND: usize = 2 << 20;

/// How a soak restore is run.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Plan {
    /// To the end.
    Run,
    /// Aborted from `onProgress` after its first tile.
    CancelMidRun,
    /// With a signal aborted before the call.
    CancelBefore,
    /// After `loseDevice()`.
    AfterLoss,
}

fn plan(i: usize) -> ((u32, u32), Plan) {
    let (size, plan) = CYCLE[i % CYCLE.len()];
    (size, if i == LOSS_AT { Plan::AfterLoss } else { plan })
}

/// What was measured after one restore.
#[derive(Clone, Copy, Debug)]
struct Level {
    /// The wasm heap's live bytes.
    heap: usize,
    /// `WebAssembly.Memory`'s size.
    memory: usize,
    /// Burn's device allocator: bytes in use and bytes reserved (WebGPU only).
    device: Option<(u64, u64)>,
}

fn wasm_memory_bytes() -> usize {
    let memory: WebAssembly::Memory = wasm_bindgen::memory().unchecked_into();
    memory.buffer().unchecked_into::<js_sys::ArrayBuffer>().byte_length() as usize
}

fn device_bytes(device: &Device) -> Option<(u64, u64)> {
    device.memory_pool_usage().map(|u| (u.bytes_in_use, u.bytes_reserved))
}

fn mib(bytes: usize) -> String {
    format!("{:.3} MiB", bytes as f64 / (1 << 20) as f64)
}





/// `new AbortController()` (through js-sys: web-sys features would rebuild wgpu for tests):
/// its signal, and a function that aborts it.
fn abort_controller() -> (JsValue, Function) {
    let class: Function = Reflect::get(&js_sys::global(), &"AbortController".into()).unwrap().dyn_into().unwrap();
    let controller = Reflect::construct(&class, &js_sys::Array::new()).unwrap();
    let signal = Reflect::get(&controller, &"signal".into()).unwrap();
    let abort: Function = Reflect::get(&controller, &"abort".into()).unwrap().dyn_into().unwrap();
    (signal, abort.bind0(&controller))
}

/// One restore of the soak as `plan` says: the output's pixels, or the error's message.
async fn soak_restore(restorer: &Restorer, (width, height): (u32, u32), plan: Plan) -> Result<Vec<u8>, String> {
    let (signal, abort) = abort_controller();
    let on_progress = abort.clone();
    // Dropped at the end of the call, as a page's would be.
    let abort_on_progress = Closure::<dyn Fn(f64, f64)>::new(move |_: f64, _: f64| {
        on_progress.call0(&JsValue::NULL).unwrap();
    });
    let opts = match plan {
        Plan::CancelMidRun => options(&[
            ("tileSize", 32.into()),
            ("overlap", 4.into()),
            ("signal", signal),
            ("onProgress", abort_on_progress.as_ref().clone()),
        ]),
        Plan::CancelBefore => {
            abort.call0(&JsValue::NULL).unwrap();
            options(&[("signal", signal)])
        }
        Plan::AfterLoss => {
            restorer.lose_device();
            JsValue::UNDEFINED
        }
        Plan::Run => JsValue::UNDEFINED,
    };
    let out = JsFuture::from(restorer.restore(image_data(width, height), opts)).await.map_err(message)?;
    let out: ImageData = out.dyn_into().unwrap();
    assert_eq!((out.width(), out.height()), (width, height));
    Ok(out.data().0)
}

/// Runs the soak on `backend` and returns each restore's level.
async fn soak(restorer: &Restorer, backend: &str) -> Vec<Level> {
    // The page's device, which the restorer shares: read only while it works (webgpu() on a
    // lost one would start the next device itself, before the restorer does).
    let mut gpu = match backend {
        "webgpu" => Some(webgpu().await.unwrap()),
        _ => None,
    };
    let mut outputs: Vec<Option<Vec<u8>>> = vec![None; CYCLE.len()];
    let mut levels = Vec::with_capacity(RESTORES);
    let mut rows = Vec::with_capacity(RESTORES);
    let start = js_sys::Date::now();
    for i in 0..RESTORES {
        let (size, plan) = plan(i);
        let began = js_sys::Date::now();
        let result = soak_restore(restorer, size, plan).await;
        let lost = plan == Plan::AfterLoss && gpu.is_some();
        let outcome = match result {
            Err(e) if matches!(plan, Plan::CancelMidRun | Plan::CancelBefore) && e == "cancelled" => "cancelled",
            Err(e) if lost && e.starts_with("WebGPU device lost") => "device lost",
            Ok(pixels) if matches!(plan, Plan::Run | Plan::AfterLoss) && !lost => {
                // The same image gives the same output all along, across the loss too.
                let first = outputs[i % CYCLE.len()].get_or_insert_with(|| pixels.clone());
                let max_diff = first.iter().zip(&pixels).map(|(a, b)| a.abs_diff(*b)).max().unwrap();
                assert!(max_diff <= 1, "{backend} restore {}: output differs from the first by {max_diff}", i + 1);
                "ok"
            }
            result => panic!("{backend} restore {} ({plan:?}): {:?}", i + 1, result.map(|p| p.len())),
        };
        if let Some(current) = &gpu
            && current.lost().is_some()
            && outcome == "ok"
        {
            gpu = Some(webgpu().await.unwrap()); // the one the restorer started
        }
        let device = gpu.as_ref().filter(|gpu| gpu.lost().is_none()).and_then(|gpu| device_bytes(&gpu.device));
        let seconds = (js_sys::Date::now() - began) / 1e3;
        levels.push(Level { heap: LIVE_BYTES.load(Ordering::Relaxed), memory: wasm_memory_bytes(), device });
        rows.push((size, outcome, seconds));
    }
    let total = (js_sys::Date::now() - start) / 1e3;
    // Printed afterwards: the test runner keeps what is logged in a growing Rust string.
    for (i, (((width, height), outcome, seconds), level)) in rows.iter().zip(&levels).enumerate() {
        let device = level.device.map_or("-".into(), |(used, reserved)| format!("{used} B in use, {reserved} B reserved"));
        console_log!(
            "soak {backend} {:>2}/{RESTORES} {width:>2}x{height:<2} {outcome:<11} heap {} B live, wasm memory {}, device {device} ({seconds:.2} s)",
            i + 1,
            level.heap,
            mib(level.memory),
        );
    }
    console_log!("soak {backend}: {RESTORES} restores in {total:.1} s");
    levels
}

/// Asserts that every restore of `window` (1-based, inclusive) stays at the level after
/// `base`: the heap within [`HEAP_SLACK`], the wasm memory and the device memory not above it
/// (Burn's pools keep their pages, and the same restores need the same pages).
fn assert_level(levels: &[Level], base: usize, window: std::ops::RangeInclusive<usize>, what: &str) {
    let at = levels[base - 1];
    for n in window {
        let level = levels[n - 1];
        assert!(level.heap <= at.heap + HEAP_SLACK, "{what}: heap after restore {n} is {} over restore {base}'s", level.heap - at.heap);
        assert!(level.memory <= at.memory, "{what}: wasm memory grew by {} after restore {base}", level.memory - at.memory);
        if let (Some(now), Some(then)) = (level.device, at.device) {
            assert!(now.0 <= then.0 && now.1 <= then.1, "{what}: device bytes (in use, reserved) after restore {n}: {now:?} over {then:?}");
        }
    }
}

#[wasm_bindgen_test]
async fn soak_on_the_cpu_fallback() {
    let restorer = Restorer::create(tiny_denoiser(1), options(&[("backend", "cpu".into())])).await.map_err(JsValue::from).unwrap();
    let levels = soak(&restorer, "cpu").await;
    // loseDevice() is a no-op on the CPU (restore 24 ran): every restore after the base is
    // at its level.
    assert_level(&levels, BASE, BASE + 1..=RESTORES, "cpu");
}

/// The WebGPU soak, then the cap on devices (in one test: the cap uses up the page's devices,
/// and the runner does not promise an order between tests).
#[wasm_bindgen_test]
async fn soak_on_webgpu_then_the_device_cap() {
    let restorer = Restorer::create(tiny_denoiser(1), options(&[("backend", "webgpu".into())])).await.map_err(JsValue::from).expect(NEEDS_WEBGPU);
    let first_device = webgpu().await.unwrap();
    let levels = soak(&restorer, "webgpu").await;
    // On the first device: the restores up to the loss at the base level.
    assert_level(&levels, WEBGPU_BASE, WEBGPU_BASE + 1..=LOSS_AT, "webgpu before the loss");
    // The new device ran restores 26-42 as the first ran 1-17: the same bytes in use, no
    // more reserved; then the last eight at its base level.
    let (first, second) = (levels[WEBGPU_BASE - 1].device.unwrap(), levels[BASE_AFTER_LOSS - 1].device.unwrap());
    assert!(second.0 == first.0 && second.1 <= first.1, "device bytes (in use, reserved): {second:?} on the new device, {first:?} on the first");
    assert_level(&levels, BASE_AFTER_LOSS, BASE_AFTER_LOSS + 1..=RESTORES, "webgpu after the loss");
    // What the loss cost: the new device's base level over the last level before the loss.
    let loss_heap = levels[BASE_AFTER_LOSS - 1].heap as isize - levels[LOSS_AT - 1].heap as isize;
    let loss_memory = levels[BASE_AFTER_LOSS - 1].memory - levels[LOSS_AT - 1].memory;
    let kept = device_bytes(&first_device.device).unwrap();
    console_log!(
        "one device loss costs: heap {loss_heap} B, wasm memory {}; the lost device's pools still book {kept:?} B (in use, reserved: the browser freed its buffers with it)",
        mib(loss_memory)
    );
    assert!(loss_heap <= LOSS_HEAP_BOUND as isize, "one device loss kept {loss_heap} B of heap");
    devices_are_capped(&restorer).await;
}

/// Loses devices until the page's cap: then `restore` and `Restorer.create` say so, and
/// "auto" falls back to the CPU.
async fn devices_are_capped(restorer: &Restorer) {
    let mut started = 2; // the soak's two devices
    loop {
        let gpu = match webgpu().await {
            Ok(gpu) => gpu,
            Err(e) => {
                console_log!("after {started} devices: {e}");
                assert!(e.contains("reload the page"), "{e}");
                break;
            }
        };
        let heap = LIVE_BYTES.load(Ordering::Relaxed);
        gpu.raw.destroy();
        wait_until(|| gpu.lost().is_some()).await;
        if webgpu().await.is_ok() {
            started += 1;
            let cost = LIVE_BYTES.load(Ordering::Relaxed) as isize - heap as isize;
            console_log!("device {started}: heap {cost:+} B for a bare device (lost one kept, new one started)");
            assert!(cost <= LOSS_HEAP_BOUND as isize, "device {started} cost {cost} B of heap");
        }
        assert!(started <= MAX_WEBGPU_DEVICES, "started {started} devices");
    }
    assert_eq!(started, MAX_WEBGPU_DEVICES);
    let restore = |restorer: &Restorer| JsFuture::from(restorer.restore(image_data(8, 8), JsValue::UNDEFINED));
    let err = message(restore(restorer).await.unwrap_err());
    assert!(err.starts_with("WebGPU device lost"), "{err}");
    let err = message(restore(restorer).await.unwrap_err());
    assert!(err.contains("a new one did not start") && err.contains("reload the page"), "{err}");
    let err = message(Restorer::create(tiny_denoiser(1), options(&[("backend", "webgpu".into())])).await.err().map(JsValue::from).unwrap());
    assert!(err.contains("reload the page"), "{err}");
    let auto = Restorer::create(tiny_denoiser(1), JsValue::UNDEFINED).await.map_err(JsValue::from).unwrap();
    assert_eq!(Reflect::get(&auto.info().unwrap(), &"backend".into()).unwrap().as_string().unwrap(), "cpu");
}

/// Waits (polling every 10 ms, at most 10 s) until `done`.
async fn wait_until(done: impl Fn() -> bool) {
    for _ in 0..1000 {
        if done() {
            return;
        }
        let tick = Promise::new(&mut |resolve, _| {
            let set_timeout: Function = Reflect::get(&js_sys::global(), &"setTimeout".into()).unwrap().dyn_into().unwrap();
            set_timeout.call2(&JsValue::NULL, &resolve, &10.into()).unwrap();
        });
        JsFuture::from(tick).await.unwrap();
    }
    panic!("timed out waiting for the device-lost callback");
}
