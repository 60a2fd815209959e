// The browser side of bench.mjs: builds one restorer (grl-wasm's Restorer, or UpscalerJS on a
// TF.js backend), restores every input once after a warm-up, and returns the times and the
// outputs as PNG (base64). Served with page.html by bench.mjs.

/** Loads a classic script (the UMD builds of TF.js and UpscalerJS set globals). */
const loadScript = (src) =>
  new Promise((ok, fail) => {
    const script = document.createElement("script");
    script.src = src;
    script.onload = ok;
    script.onerror = () => fail(new Error(`cannot load ${src}`));
    document.head.append(script);
  });

/** A PNG's pixels, exactly (no colour conversion, no premultiplication). */
async function readImage(url) {
  const blob = await (await fetch(url)).blob();
  const bitmap = await createImageBitmap(blob, { colorSpaceConversion: "none", premultiplyAlpha: "none" });
  const context = new OffscreenCanvas(bitmap.width, bitmap.height).getContext("2d");
  context.drawImage(bitmap, 0, 0);
  return context.getImageData(0, 0, bitmap.width, bitmap.height);
}

/** Opaque pixels as a PNG file, base64. */
async function pngBase64(image) {
  const canvas = new OffscreenCanvas(image.width, image.height);
  canvas.getContext("2d").putImageData(image, 0, 0);
  const bytes = new Uint8Array(await (await canvas.convertToBlob({ type: "image/png" })).arrayBuffer());
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(text);
}

/** grl-wasm's Restorer on `backend` ("webgpu" or "cpu"), with the model served at /model. */
async function ours(backend) {
  const { default: init, Restorer } = await import("/pkg/grl_wasm.js");
  await init();
  const weights = new Uint8Array(await (await fetch("/model")).arrayBuffer());
  const restorer = await Restorer.create(weights, { backend });
  const { info } = restorer;
  return { restore: (image) => restorer.restore(image), ran: `${info.backend} (${info.adapter})` };
}

/** UpscalerJS with `model` ("esrgan-slim", "esrgan-medium") at `scale` on TF.js `backend`. */
async function theirs(model, scale, backend) {
  const nm = "/nm/";
  await loadScript(nm + "@tensorflow/tfjs/dist/tf.min.js");
  if (backend === "wasm") {
    await loadScript(nm + "@tensorflow/tfjs-backend-wasm/dist/tf-backend-wasm.min.js");
    tf.wasm.setWasmPaths(nm + "@tensorflow/tfjs-backend-wasm/dist/");
  }
  if (backend === "webgpu") {
    // TF.js 4.11 (the version UpscalerJS asks for) calls GPUAdapter.requestAdapterInfo(), which
    // Chromium has since replaced by the adapter's `info` attribute.
    GPUAdapter.prototype.requestAdapterInfo ??= function () {
      return Promise.resolve(this.info);
    };
    await loadScript(nm + "@tensorflow/tfjs-backend-webgpu/dist/tf-backend-webgpu.min.js");
  }
  await loadScript(nm + "@upscalerjs/default-model/dist/umd/index.min.js");
  await loadScript(nm + "upscaler/dist/browser/umd/upscaler.min.js");
  // The package's UMD model definition (global ESRGANSlim2x, ESRGANMedium4x, ...), pointed at
  // the weights served here instead of a CDN.
  const size = model.replace("esrgan-", "");
  await loadScript(`${nm}@upscalerjs/${model}/dist/umd/models/${model}/src/x${scale}/index.min.js`);
  const definition = window[`ESRGAN${size[0].toUpperCase()}${size.slice(1)}${scale}x`];
  if (!(await tf.setBackend(backend))) throw new Error(`TF.js has no ${backend} backend here`);
  await tf.ready();
  const upscaler = new Upscaler({ model: { ...definition, path: `${nm}@upscalerjs/${model}/models/x${scale}/model.json` } });
  await upscaler.getModel();
  // A shader the browser rejects leaves garbage, not an exception: its first error fails the case.
  let gpuError;
  tf.backend().device?.addEventListener("uncapturederror", (e) => (gpuError ??= e.error.message.split("\n")[0]));
  const restore = async (image) => {
    const input = tf.browser.fromPixels(image);
    const output = await upscaler.upscale(input, { output: "tensor" });
    const [h, w] = output.shape;
    const rgba = tf.tidy(() => tf.concat([output.clipByValue(0, 255).round(), tf.fill([h, w, 1], 255)], 2).cast("int32"));
    const data = new Uint8ClampedArray(await rgba.data());
    tf.dispose([input, output, rgba]);
    if (gpuError) throw new Error(`WebGPU rejected TF.js's work: ${gpuError}`);
    return new ImageData(data, w, h);
  };
  return { restore, ran: `TF.js ${tf.getBackend()}` };
}

/**
 * Runs one case on the inputs `/in/NAME.png`: one warm-up restore of the first (shader
 * compilation, weights upload), then each input `runs` times. Returns { ran, seconds (median per
 * input), outputs (NAME -> PNG base64) }.
 */
window.runCase = async ({ side, model, backend, scale }, names, runs) => {
  const restorer = side === "ours" ? await ours(backend) : await theirs(model, scale, backend);
  const inputs = await Promise.all(names.map((name) => readImage(`/in/${name}`)));
  await restorer.restore(inputs[0]);
  const seconds = [];
  const outputs = {};
  for (const [i, name] of names.entries()) {
    const times = [];
    let output;
    for (let r = 0; r < runs; r++) {
      const start = performance.now();
      output = await restorer.restore(inputs[i]);
      times.push((performance.now() - start) / 1000);
    }
    seconds.push(times.sort((a, b) => a - b)[Math.floor(times.length / 2)]);
    outputs[name] = await pngBase64(output);
    console.log(`${name}: ${seconds.at(-1).toFixed(2)} s`);
  }
  return { ran: restorer.ran, seconds, outputs };
};
