//! Which implementation of an operation runs: the project's fused kernels (the default) or
//! their plain-ops twins on Burn's operations, which every kernel keeps for comparison
//! (`grl bench --plain`, [`with_plain_ops`] in tests) and for the paths a kernel does not cover
//! (autodiff in training).

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};

use burn::backend::DispatchDevice;
use burn::tensor::Device;

/// Set by [`use_plain_ops`]: process-wide, as a benchmark's switch is.
static PLAIN: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// Set by [`with_plain_ops`] while its closure runs on this thread.
    static PLAIN_HERE: Cell<bool> = const { Cell::new(false) };
}

/// Makes every later forward in this process take the plain-ops paths (`true`) or the fused
/// kernels (`false`, the default).
pub fn use_plain_ops(plain: bool) {
    PLAIN.store(plain, Ordering::Relaxed);
}

/// Runs `f` with the plain-ops paths on this thread only (tests comparing a kernel with its
/// twin, while other tests run on other threads).
pub fn with_plain_ops<T>(f: impl FnOnce() -> T) -> T {
    let before = PLAIN_HERE.replace(true);
    let result = f();
    PLAIN_HERE.set(before);
    result
}

fn plain() -> bool {
    PLAIN.load(Ordering::Relaxed) || PLAIN_HERE.get()
}

/// Whether operations on `device` run the fused CPU kernels ([`super::cpu_attention`],
/// [`super::cpu_gelu`]): on Burn's CPU backend without autodiff (the kernels compute no
/// gradients), unless plain ops were asked for.
pub fn fused_cpu(device: &Device) -> bool {
    !plain() && !device.is_autodiff() && *device == Device::flex()
}

/// Whether training on `device` runs the fused autodiff operations ([`super::autodiff_matmul`],
/// [`super::autodiff_softmax`], [`super::autodiff_gelu`]) where its tensors live on Burn's CPU
/// backend, unless plain ops were asked for.
pub fn fused_cpu_training(device: &Device) -> bool {
    !plain() && device.is_autodiff()
}

/// Whether attention on `device` runs the fused WGSL kernel ([`super::gpu_attention`]): on
/// Burn's CubeCL backend (wgpu natively, WebGPU in the browser) without autodiff, unless plain
/// ops were asked for.
pub fn fused_gpu(device: &Device) -> bool {
    !plain() && !device.is_autodiff() && on_gpu(device)
}

/// Whether `device` is a GPU one (Burn's CubeCL backend: wgpu natively, WebGPU in the browser),
/// where the device memory pool's pages follow the largest allocation, so that routes keep
/// their allocations no larger than a token map.
pub fn on_gpu(device: &Device) -> bool {
    matches!(device.as_dispatch(), DispatchDevice::Cube(_))
}
