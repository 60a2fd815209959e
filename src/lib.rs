//! grl-wasm: GRL image restoration (super-resolution, denoising, JPEG artifact removal,
//! deblurring) with Burn, on WebGPU in the browser and on the CPU or Vulkan natively.

pub mod pixels;
pub mod probe;
pub mod tiling;

#[cfg(target_arch = "wasm32")]
pub mod web;
