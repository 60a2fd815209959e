//! grl-wasm: GRL image restoration (super-resolution, denoising, JPEG artifact removal,
//! deblurring) with Burn, on WebGPU in the browser and on the CPU or Vulkan natively.

pub mod adapter;
#[cfg(not(target_arch = "wasm32"))]
pub mod atomic_write;
#[cfg(not(target_arch = "wasm32"))]
pub mod cli;
pub mod model;
pub mod pixels;
pub mod probe;
pub mod restore;
mod size;
pub mod tiling;
#[cfg(not(target_arch = "wasm32"))]
pub mod train;
pub mod web_format;

#[cfg(target_arch = "wasm32")]
pub mod web;

pub use size::Size;
