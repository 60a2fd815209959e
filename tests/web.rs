//! Browser tests (`wasm-pack test --headless --chrome`), in a Web Worker: Burn on the browser's
//! WebGPU, the GRL fixtures on WebGPU and on the CPU fallback, and the `Restorer` API as JS
//! sees it, recovery from a lost WebGPU device included.
//! They fail, never skip, when the browser has no WebGPU adapter.
#![cfg(target_arch = "wasm32")]

#[path = "support/config_cases.rs"]
mod config_cases;
#[path = "support/page.rs"]
mod page;

use burn::tensor::{Device, Tensor, TensorData};
use grl_wasm::model::{Grl, GrlConfig};
use grl_wasm::probe::{max_abs_diff, probe_reference, run_probe};
use grl_wasm::web::{Restorer, webgpu};
use js_sys::{Function, Reflect};
use safetensors::SafeTensors;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;
use web_sys::ImageData;

use page::{image_data, message, options, tiny_denoiser};

// In a dedicated worker: the package must work there, and the CPU fallback's long synchronous
// forwards would otherwise block the page that the test runner's webdriver polls.
wasm_bindgen_test_configure!(run_in_dedicated_worker);

const NEEDS_WEBGPU: &str = "these tests need a WebGPU adapter (see webdriver.json)";

/// A reference fixture compiled into the test: config.json, model.safetensors, io.safetensors,
/// from `$GRL_FIXTURES` at build time, as the native suites read it at run time (default
/// `../shared/fixtures/grl` from the crate root: .cargo/config.toml sets that as an absolute
/// path). `include_bytes!` takes a relative path from tests/, so an override is best absolute.
struct Fixture {
    name: &'static str,
    config: &'static str,
    model: &'static [u8],
    io: &'static [u8],
}

macro_rules! fixture {
    ($name:literal) => {
        Fixture {
            name: $name,
            config: include_str!(concat!(env!("GRL_FIXTURES"), "/", $name, "/config.json")),
            model: include_bytes!(concat!(env!("GRL_FIXTURES"), "/", $name, "/model.safetensors")),
            io: include_bytes!(concat!(env!("GRL_FIXTURES"), "/", $name, "/io.safetensors")),
        }
    };
}

fn fixtures() -> [Fixture; 3] {
    [fixture!("sr2_ps"), fixture!("dn_color"), fixture!("sr3_psd")]
}

fn f32_tensor(io: &SafeTensors<'_>, name: &str) -> (Vec<usize>, Vec<f32>) {
    let view = io.tensor(name).unwrap();
    let values = view.data().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
    (view.shape().to_vec(), values)
}

/// Largest error of the fixture's model on `device` against the reference output.
async fn fixture_error(fixture: &Fixture, device: &Device) -> f32 {
    let json: serde_json::Value = serde_json::from_str(fixture.config).unwrap();
    let config: GrlConfig = serde_json::from_value(json["model_kwargs"].clone()).unwrap();
    let (grl, _) = Grl::load_safetensors_bytes(fixture.model.to_vec(), &config, device).unwrap();
    let io = SafeTensors::deserialize(fixture.io).unwrap();
    let (shape, input) = f32_tensor(&io, "input");
    let (out_shape, expected) = f32_tensor(&io, "output");
    let shape: [usize; 4] = shape.try_into().unwrap();
    let x = Tensor::<4>::from_data(TensorData::new(input, shape), device);
    let out = grl.forward(x);
    assert_eq!(out.dims().to_vec(), out_shape, "{}: output shape", fixture.name);
    let got = out.into_data_async().await.unwrap().try_into_vec::<f32>().unwrap();
    assert!(got.iter().any(|v| v.abs() > 1e-3), "{}: output read back as zeros", fixture.name);
    max_abs_diff(&got, &expected)
}

#[wasm_bindgen_test]
async fn probe_on_webgpu_matches_reference() {
    let gpu = webgpu().await.expect(NEEDS_WEBGPU);
    let report = run_probe(&gpu.device).await.expect("probe on WebGPU");
    console_log!("probe on {}: max_abs_err={:e}", gpu.adapter, report.max_abs_err);
    // A validation error can read back zeros: compare with the f64 reference, not with itself.
    assert_eq!(report.values.len(), probe_reference().len());
    assert!(report.values.iter().any(|&v| v.abs() > 1e-3), "probe read back zeros: {:?}", report.values);
    assert!(report.max_abs_err < 1e-5, "WebGPU probe error {}", report.max_abs_err);
}

#[wasm_bindgen_test]
async fn probe_on_wasm_cpu_matches_webgpu() {
    let cpu = run_probe(&Device::flex()).await.expect("probe on flex");
    let gpu = webgpu().await.expect(NEEDS_WEBGPU);
    let on_gpu = run_probe(&gpu.device).await.expect("probe on WebGPU");
    assert!(cpu.max_abs_err < 1e-6, "wasm CPU probe error {}", cpu.max_abs_err);
    assert!(max_abs_diff(&cpu.values, &on_gpu.values) < 1e-5);
}

#[wasm_bindgen_test]
async fn fixtures_match_the_reference_on_webgpu() {
    let gpu = webgpu().await.expect(NEEDS_WEBGPU);
    for fixture in fixtures() {
        let start = js_sys::Date::now();
        let err = fixture_error(&fixture, &gpu.device).await;
        console_log!("fixture {} webgpu max_abs_err={err:e} ({:.1} s)", fixture.name, (js_sys::Date::now() - start) / 1e3);
        assert!(err < 1e-3, "{} on WebGPU: max_abs_err={err}", fixture.name);
    }
}

#[wasm_bindgen_test]
async fn fixtures_match_the_reference_on_the_cpu_fallback() {
    for fixture in fixtures() {
        let start = js_sys::Date::now();
        let err = fixture_error(&fixture, &Device::flex()).await;
        console_log!("fixture {} cpu max_abs_err={err:e} ({:.1} s)", fixture.name, (js_sys::Date::now() - start) / 1e3);
        assert!(err < 1e-3, "{} on the CPU: max_abs_err={err}", fixture.name);
    }
}




async fn create(backend: &str) -> Result<Restorer, JsValue> {
    Restorer::create(tiny_denoiser(2), options(&[("backend", backend.into())])).await.map_err(JsValue::from)
}

async fn restore(restorer: &Restorer, image: ImageData, options: JsValue) -> Result<ImageData, JsValue> {
    JsFuture::from(restorer.restore(image, options)).await.map(|v| v.dyn_into::<ImageData>().unwrap())
}


#[wasm_bindgen_test]
async fn restore_an_image_larger_than_a_tile_with_progress() {
    let restorer = create("webgpu").await.expect(NEEDS_WEBGPU);
    let info = restorer.info().unwrap();
    assert_eq!(Reflect::get(&info, &"backend".into()).unwrap().as_string().unwrap(), "webgpu");
    // wgpu names no adapter on the web: the name comes from GPUAdapter.info.
    let adapter = Reflect::get(&info, &"adapter".into()).unwrap().as_string().unwrap();
    console_log!("adapter: {adapter}");
    assert!(!adapter.is_empty() && adapter != "WebGPU adapter", "adapter named {adapter:?}");
    let (width, height) = (72, 40); // 32-pixel tiles with overlap 4: 3 x 2 of them
    let input = image_data(width, height);
    let before = input.data().0;
    let calls = js_sys::Array::new();
    let record = calls.clone();
    let on_progress = Closure::<dyn Fn(f64, f64)>::new(move |done: f64, total: f64| {
        record.push(&js_sys::Array::of2(&done.into(), &total.into()));
    });
    let opts = options(&[("tileSize", 32.into()), ("overlap", 4.into()), ("onProgress", on_progress.as_ref().clone())]);
    let start = js_sys::Date::now();
    let out = restore(&restorer, input.clone(), opts).await.expect("restore");
    console_log!("restore {width}x{height} on WebGPU in {} tiles: {:.1} s", calls.length(), (js_sys::Date::now() - start) / 1e3);
    assert_eq!((out.width(), out.height()), (width, height));
    assert_eq!(input.data().0, before, "the input is not modified");
    assert_eq!(calls.length(), 6, "one progress event per tile");
    let last = js_sys::Array::from(&calls.get(5));
    assert_eq!((last.get(0).as_f64(), last.get(1).as_f64()), (Some(6.0), Some(6.0)));
    let data = out.data().0;
    assert!(data.chunks_exact(4).all(|px| px[3] == 255), "alpha passes through");
    let changed = data.iter().zip(&before).filter(|(a, b)| a != b).count();
    assert!(changed > data.len() / 4, "the model changed the image ({changed} values)");
}

#[wasm_bindgen_test]
async fn an_aborted_signal_cancels_before_the_next_tile() {
    let restorer = create("webgpu").await.expect(NEEDS_WEBGPU);
    // new AbortController(), through js-sys (web-sys features would rebuild wgpu for tests).
    let class: Function = Reflect::get(&js_sys::global(), &"AbortController".into()).unwrap().dyn_into().unwrap();
    let controller = Reflect::construct(&class, &js_sys::Array::new()).unwrap();
    let signal = Reflect::get(&controller, &"signal".into()).unwrap();
    let abort_method: Function = Reflect::get(&controller, &"abort".into()).unwrap().dyn_into().unwrap();
    let abort = Closure::<dyn Fn(f64, f64)>::new(move |_done: f64, _total: f64| {
        abort_method.call0(&controller).unwrap();
    });
    let opts = options(&[("tileSize", 32.into()), ("overlap", 4.into()), ("signal", signal), ("onProgress", abort.as_ref().clone())]);
    let err = restore(&restorer, image_data(72, 40), opts).await.unwrap_err();
    assert_eq!(message(err), "cancelled");
}

#[wasm_bindgen_test]
async fn bad_inputs_give_readable_errors() {
    let err = Restorer::create(vec![1, 2, 3], JsValue::UNDEFINED).await.err().map(JsValue::from).unwrap();
    assert!(message(err).contains("too short"));
    let err = create("metal").await.err().unwrap();
    assert!(message(err).contains("expected \"auto\", \"webgpu\" or \"cpu\""));
    let restorer = create("cpu").await.unwrap();
    let info = restorer.info().unwrap();
    assert_eq!(Reflect::get(&info, &"backend".into()).unwrap().as_string().unwrap(), "cpu");
    let err = restore(&restorer, image_data(8, 8), options(&[("tileSize", (-3).into())])).await.unwrap_err();
    assert!(message(err).contains("tileSize is -3"));
    let err = restore(&restorer, image_data(8, 8), options(&[("onProgress", 5.into())])).await.unwrap_err();
    assert!(message(err).contains("onProgress must be a function"));
    // Weights that do not fit their own configuration (its embed_dim changed from 16 to 24 in
    // the metadata, same length, so the file stays valid safetensors).
    let mut bytes = tiny_denoiser(2);
    let key = br#"embed_dim\":16,"#;
    let at = bytes.windows(key.len()).position(|w| w == key.as_slice()).expect("embed_dim in the metadata");
    bytes[at + 12..at + 14].copy_from_slice(b"24");
    let err = message(Restorer::create(bytes, JsValue::UNDEFINED).await.err().map(JsValue::from).unwrap());
    assert!(err.contains("in the checkpoint but") && err.contains("embed_dim"), "{err}");
    // ImageData-like objects (what wasm-bindgen accepts for an ImageData) of a wrong size.
    let fake = |width: u32, height: u32, len: u32| -> ImageData {
        let data = js_sys::Uint8ClampedArray::new_with_length(len);
        options(&[("width", width.into()), ("height", height.into()), ("data", data.into())]).unchecked_into()
    };
    let err = message(restore(&restorer, fake(0, 5, 0), JsValue::UNDEFINED).await.unwrap_err());
    assert_eq!(err, "image is 0x5: expected at least 1x1 pixels");
    let err = message(restore(&restorer, fake(4, 4, 60), JsValue::UNDEFINED).await.unwrap_err());
    assert_eq!(err, "pixel buffer has 60 values: expected 64 for 4x4 RGBA");
    let err = message(restore(&restorer, JsValue::NULL.unchecked_into(), JsValue::UNDEFINED).await.unwrap_err());
    assert!(err.starts_with("image is not an ImageData"), "{err}");
    // 8192x8192 (a zeroed 268 MB ImageData): the restore would not fit wasm's 4 GiB.
    let huge = ImageData::new_with_sw(8192, 8192).unwrap();
    let err = message(restore(&restorer, huge, JsValue::UNDEFINED).await.unwrap_err());
    assert!(err.starts_with("image is 8192x8192: restoring it to 8192x8192 needs about 4608 MiB"), "{err}");
}

#[wasm_bindgen_test]
async fn a_lost_device_is_reported_and_the_next_call_starts_a_new_one() {
    let restorer = std::rc::Rc::new(create("webgpu").await.expect(NEEDS_WEBGPU));
    let tiles = || options(&[("tileSize", 32.into()), ("overlap", 4.into())]);
    let (width, height) = (40, 32); // two 32-pixel tiles
    let first = restore(&restorer, image_data(width, height), tiles()).await.expect("restore before the loss").data().0;
    let lost_device = webgpu().await.unwrap();
    assert!(lost_device.lost().is_none());

    // Lost between calls: the next restore reports it, the one after runs on a new device.
    restorer.lose_device();
    let err = message(restore(&restorer, image_data(width, height), tiles()).await.unwrap_err());
    console_log!("after loseDevice(): {err}");
    assert!(err.starts_with("WebGPU device lost"), "{err}");
    assert!(err.contains("the next call will start a new device"), "{err}");
    assert!(lost_device.lost().is_some(), "the device-lost callback ran");
    let start = js_sys::Date::now();
    let out = restore(&restorer, image_data(width, height), tiles()).await.expect("restore on a new device");
    console_log!("restore after a device loss (new device, model reloaded): {:.1} s", (js_sys::Date::now() - start) / 1e3);
    assert_eq!((out.width(), out.height()), (width, height));
    let second = out.data().0;
    let max_diff = first.iter().zip(&second).map(|(a, b)| a.abs_diff(*b)).max().unwrap();
    assert!(max_diff <= 1, "the reloaded model gives the same output (max |diff| {max_diff})");
    let new_device = webgpu().await.unwrap();
    assert!(new_device.lost().is_none());
    assert_ne!(format!("{:?}", new_device.device), format!("{:?}", lost_device.device), "a new Burn device");
    assert_eq!(Reflect::get(&restorer.info().unwrap(), &"backend".into()).unwrap().as_string().unwrap(), "webgpu");

    // Lost during a call (after its first tile): that call reports it, the next one recovers.
    let during = restorer.clone();
    let lose = Closure::<dyn Fn(f64, f64)>::new(move |_done: f64, _total: f64| during.lose_device());
    let opts = options(&[("tileSize", 32.into()), ("overlap", 4.into()), ("onProgress", lose.as_ref().clone())]);
    let err = message(restore(&restorer, image_data(width, height), opts).await.unwrap_err());
    console_log!("loseDevice() during a restore: {err}");
    assert!(err.starts_with("WebGPU device lost"), "{err}");
    let third = restore(&restorer, image_data(width, height), tiles()).await.expect("restore after a loss mid-call").data().0;
    assert_eq!(third.len(), first.len());
    let max_diff = first.iter().zip(&third).map(|(a, b)| a.abs_diff(*b)).max().unwrap();
    assert!(max_diff <= 1, "the model reloaded again gives the same output (max |diff| {max_diff})");

    // The CPU backend has no device to lose.
    let cpu = create("cpu").await.unwrap();
    cpu.lose_device();
    let out = restore(&cpu, image_data(16, 16), JsValue::UNDEFINED).await.expect("loseDevice is a no-op on the CPU");
    assert_eq!((out.width(), out.height()), (16, 16));
}

/// Headless Chromium's WebGPU is SwiftShader, a software adapter: "auto" passes it over for the
/// CPU fallback (faster there) and says why; "webgpu" still takes it when asked.
#[wasm_bindgen_test]
async fn auto_prefers_the_cpu_over_a_software_adapter() {
    let info = create("auto").await.expect("auto starts on some backend").info().unwrap();
    let get = |key: &str| Reflect::get(&info, &key.into()).unwrap().as_string();
    let reason = get("fallbackReason").unwrap_or_default();
    console_log!("auto: backend {:?}, reason {reason:?}", get("backend"));
    assert_eq!(get("backend").as_deref(), Some("cpu"), "auto on SwiftShader");
    assert!(reason.starts_with("WebGPU runs on a software adapter (") && reason.to_lowercase().contains("swiftshader"), "{reason:?}");
    let info = create("webgpu").await.expect(NEEDS_WEBGPU).info().unwrap();
    assert!(Reflect::get(&info, &"fallbackReason".into()).unwrap().is_undefined(), "no fallbackReason when asked for WebGPU");
}

/// Item 1 of issue 16 through the package: a file whose configuration is absurd, or does not
/// match its tensors, is refused by `Restorer.create` in one line naming the value or tensor,
/// before anything is built (an absurd size used to abort the wasm instance).
#[wasm_bindgen_test]
async fn absurd_or_mismatched_models_are_refused_by_create() {
    let good = tiny_denoiser(2);
    let st = SafeTensors::deserialize(&good).unwrap();
    let (_, header) = SafeTensors::read_metadata(&good).unwrap();
    let with_config = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut metadata = header.metadata().clone().unwrap();
        let mut config: serde_json::Value = serde_json::from_str(&metadata["config"]).unwrap();
        edit(&mut config);
        metadata.insert("config".into(), config.to_string());
        safetensors::serialize(st.tensors(), Some(metadata)).unwrap()
    };
    let cases: Vec<(Vec<u8>, &str)> = vec![
        // 2^31 (wasm32's usize cannot hold the 2^40 of the issue: serde refuses that one).
        (with_config(&|c| c["stripe_groups"] = serde_json::json!([1u64 << 31, null])), "stripe_groups[0] is 2147483648: expected at most 64"),
        (with_config(&|c| c["stripe_groups"] = serde_json::json!([1u64 << 40, null])), "invalid value: integer `1099511627776`, expected usize"),
        (with_config(&|c| c["depths"] = serde_json::json!(vec![2; 1_000_000])), "the number of stages (depths) is 1000000: expected at most 16"),
        (with_config(&|c| c["depths"] = serde_json::json!([3])), "layers.0.blocks.2.attn.qkv.body.weight is missing (set by depths, embed_dim)"),
        (with_config(&|c| c["in_channels"] = serde_json::json!(1)), "conv_first.weight has shape [16, 3, 3, 3] in the checkpoint but [16, 1, 3, 3] in the configuration"),
    ];
    for (bytes, expected) in cases {
        let start = js_sys::Date::now();
        let err = message(Restorer::create(bytes, options(&[("backend", "cpu".into())])).await.err().map(JsValue::from).unwrap());
        console_log!("refused in {:.0} ms: {}", js_sys::Date::now() - start, &err[..err.len().min(160)]);
        assert!(err.contains(expected), "expected {expected:?} in {err:?}");
        assert!(err.len() < 1000 && !err.contains('\n'), "one short line: {err:?}");
    }
}

/// The property test over configurations (tests/config_property.rs runs 300 natively) through
/// `Restorer.create` and `restore` on the CPU backend: every file restores, or is refused with
/// an error; a panic would abort the wasm instance and fail the test.
#[wasm_bindgen_test]
async fn random_configurations_restore_or_are_refused() {
    let (mut restored, mut refused) = (0, 0);
    for index in 0..20 {
        let case = config_cases::case(0x5eed_0016, index);
        console_log!("{}", case.label);
        let should_load = case.should_load();
        match Restorer::create(case.bytes.clone(), options(&[("backend", "cpu".into())])).await {
            Err(e) => {
                let err = message(JsValue::from(e));
                assert!(!should_load, "{} was refused but should load: {err}", case.label);
                assert!(!err.is_empty() && !err.chars().any(char::is_control), "{}: {err:?}", case.label);
                refused += 1;
            }
            Ok(restorer) => {
                assert!(should_load, "{} loaded but its configuration is invalid or does not match", case.label);
                let name = Reflect::get(&restorer.info().unwrap(), &"name".into()).unwrap().as_string().unwrap();
                assert!(!name.chars().any(char::is_control), "the name is printable: {name:?}");
                let (width, height) = case.image;
                match restore(&restorer, image_data(width, height), JsValue::UNDEFINED).await {
                    Ok(out) => {
                        let scale = Reflect::get(&restorer.info().unwrap(), &"scale".into()).unwrap().as_f64().unwrap() as u32;
                        assert_eq!((out.width(), out.height()), (width * scale, height * scale), "{}", case.label);
                        restored += 1;
                    }
                    Err(e) => {
                        let err = message(e);
                        assert!(err.contains("RGBA images need a 1- or 3-channel model") || err.contains("fits the memory limits"), "{}: {err}", case.label);
                    }
                }
            }
        }
    }
    console_log!("20 configurations: {restored} restored, {refused} refused");
    assert!(restored >= 3 && refused >= 3, "{restored} restored, {refused} refused");
}

/// The fused WGSL attention against its plain-ops twin on WebGPU, on the attention fixture's
/// four cases (window, shifted window, stripes, shifted vertical stripes), inside WebGPU's
/// validation scope: a kernel the browser refuses would read back zeros.
#[wasm_bindgen_test]
async fn fused_attention_matches_its_plain_twin_on_webgpu() {
    use burn::tensor::wgpu::wgpu::ErrorFilter;
    use grl_wasm::model::attention_fixture as fixture;
    use grl_wasm::model::kernels::with_plain_ops;
    let gpu = webgpu().await.expect(NEEDS_WEBGPU);
    let tables = fixture::tables(&gpu.device);
    for name in fixture::CASES {
        let scope = gpu.raw.push_error_scope(ErrorFilter::Validation);
        let fused = fixture::forward(name, &tables, &gpu.device).into_data_async().await.unwrap();
        let error = scope.pop().await;
        assert!(error.is_none(), "{name}: WebGPU validation error {error:?}");
        let plain = with_plain_ops(|| fixture::forward(name, &tables, &gpu.device));
        let fused = fused.try_to_vec::<f32>().unwrap();
        let plain = plain.into_data_async().await.unwrap().try_to_vec::<f32>().unwrap();
        assert!(fused.iter().any(|v| v.abs() > 1e-3), "{name}: the fused output read back as zeros");
        let err = max_abs_diff(&fused, &plain);
        console_log!("attention fixture {name}: fused vs plain max_abs_diff={err:e}");
        assert!(err < 1e-3, "{name}: fused vs plain max_abs_diff={err}");
    }
}
