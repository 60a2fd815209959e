//! Which implementation of an operation runs: the project's fused kernels (the default) or
//! their plain-ops twins on Burn's operations, which every kernel keeps for comparison
//! (`grl bench --plain`) and for the paths a kernel does not cover (autodiff in training).

use std::sync::atomic::{AtomicBool, Ordering};

use burn::tensor::Device;

/// Set by [`use_plain_ops`]: process-wide, as a benchmark's switch is.
static PLAIN: AtomicBool = AtomicBool::new(false);

/// Makes every later forward in this process take the plain-ops paths (`true`) or the fused
/// kernels (`false`, the default).
pub fn use_plain_ops(plain: bool) {
    PLAIN.store(plain, Ordering::Relaxed);
}

/// Whether operations on `device` run the fused CPU kernels ([`super::cpu_attention`],
/// [`super::cpu_gelu`]): on Burn's CPU backend without autodiff (the kernels compute no
/// gradients), unless plain ops were asked for.
pub fn fused_cpu(device: &Device) -> bool {
    !PLAIN.load(Ordering::Relaxed) && !device.is_autodiff() && *device == Device::flex()
}
