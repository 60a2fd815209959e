//! Browser tests (`wasm-pack test --headless --chrome`): Burn on the browser's WebGPU.
//! They fail, never skip, when the browser has no WebGPU adapter.
#![cfg(target_arch = "wasm32")]

use grl_wasm::probe::{max_abs_diff, probe_reference, run_probe};
use grl_wasm::web::webgpu;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
async fn probe_on_webgpu_matches_reference() {
    let gpu = webgpu().await.expect("these tests need a WebGPU adapter (see webdriver.json)");
    let report = run_probe(&gpu.device).await.expect("probe on WebGPU");
    console_log!("{}", format!("probe on {}: max_abs_err={:e}", gpu.adapter, report.max_abs_err));
    // A validation error can read back zeros: compare with the f64 reference, not with itself.
    assert_eq!(report.values.len(), probe_reference().len());
    assert!(report.values.iter().any(|&v| v.abs() > 1e-3), "probe read back zeros: {:?}", report.values);
    assert!(report.max_abs_err < 1e-5, "WebGPU probe error {}", report.max_abs_err);
}

#[wasm_bindgen_test]
async fn probe_on_wasm_cpu_matches_webgpu() {
    let cpu = run_probe(&burn::tensor::Device::flex()).await.expect("probe on flex");
    let gpu = webgpu().await.expect("these tests need a WebGPU adapter (see webdriver.json)");
    let on_gpu = run_probe(&gpu.device).await.expect("probe on WebGPU");
    assert!(cpu.max_abs_err < 1e-6, "wasm CPU probe error {}", cpu.max_abs_err);
    assert!(max_abs_diff(&cpu.values, &on_gpu.values) < 1e-5);
}

