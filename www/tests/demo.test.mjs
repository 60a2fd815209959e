// End to end: the built demo page (www/dist) in headless Chromium, served under a sub-path as
// GitHub Pages serves it (https://OWNER.github.io/grl-wasm/). On WebGPU it loads only files under
// that path (the ones bench/transfer-size.mjs counts for a first visit), opens a PNG, restores
// it in the worker, checks the result's pixels, cancels a second run midway and rejects a bad
// file; without WebGPU it says so and restores on the CPU. Screenshots (laptop and phone) go to
// www/test-results/ for a person to look at.
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { firstVisitFiles } from "../bench/transfer-size.mjs";
import { launchBrowser, serveDist } from "./browser.mjs";
import { makeTestImage, measureResult, measureRoughness } from "./scene.mjs";

const RESULTS = new URL("../test-results/", import.meta.url);
const DIST = fileURLToPath(new URL("../dist/", import.meta.url));
/** The site's path on GitHub Pages (the repository's name): nothing may be fetched outside it. */
const SUBPATH = "/grl-wasm/";
const LAPTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
/** Small: WebGPU in headless Chromium is SwiftShader, on the CPU (15-40 s a 32x32 tile). */
const INPUT = { width: 48, height: 32 };
/**
 * Forces two 32x32 tiles on the input, so the second run can be cancelled between them.
 * (Tiles must be at least the model's pad size: 32 fits models whose largest window or
 * stripe is at most 32.)
 */
const QUERY = "?tile=32&overlap=8";
/** SwiftShader compiles every kernel on the first run. */
const RUN_TIMEOUT = 180_000;

let site;

before(async () => {
  mkdirSync(RESULTS, { recursive: true });
  site = await serveDist(undefined, { base: SUBPATH });
});

after(async () => {
  await site?.close();
});

const screenshot = (page, name, options = {}) => page.screenshot({ path: new URL(name, RESULTS).pathname, ...options });
const text = async (page, selector) => (await page.textContent(selector))?.trim() ?? "";

/** Waits until the page's data-state is one of `states`; returns it. */
async function waitForState(page, states, timeout) {
  await page.waitForFunction((s) => s.includes(document.body.dataset.state), states, { timeout });
  return page.evaluate(() => document.body.dataset.state);
}

/**
 * A page on the demo, its console kept for failure messages; `loaded` lists the URL paths
 * (without the query) that the page and its worker requested until the model was ready.
 */
async function openDemo(browser, query) {
  const page = await browser.newPage({ viewport: LAPTOP });
  const logs = [];
  const requested = [];
  page.on("console", (m) => logs.push(`[${m.type()}] ${m.text()}`));
  page.on("pageerror", (e) => logs.push(`[pageerror] ${e.message}`));
  page.context().on("request", (r) => requested.push(r.url()));
  const why = async () => `\nnotice: ${await text(page, "#notice")}\nlogs:\n${logs.join("\n")}`;
  await page.goto(site.url + query);
  assert.equal(await waitForState(page, ["ready", "error"], 120_000), "ready", `the model did not load${await why()}`);
  const origin = new URL(site.url).origin;
  const loaded = requested.filter((u) => u.startsWith(origin)).map((u) => new URL(u).pathname);
  return { page, why, logs, loaded };
}

/**
 * Everything the page fetched lies under SUBPATH (relative URLs: the page, its worker, the
 * .wasm and the model), and is what bench/transfer-size.mjs counts as a first visit.
 */
function checkFirstVisit(loaded) {
  const outside = loaded.filter((path) => !path.startsWith(SUBPATH));
  assert.deepEqual(outside, [], `requests outside ${SUBPATH}`);
  const files = [...new Set(loaded.map((path) => path.slice(SUBPATH.length) || "index.html"))].sort();
  assert.deepEqual(files, firstVisitFiles(DIST), "the first visit's files (bench/transfer-size.mjs)");
  return files;
}

/** Gives the page a test image of `size` through its file input; returns the scene. */
async function openTestImage(page, size = INPUT) {
  const scene = await page.evaluate(makeTestImage, size);
  const png = Buffer.from(scene.png, "base64");
  writeFileSync(new URL(`demo-input-${size.width}x${size.height}.png`, RESULTS), png);
  await page.setInputFiles("input[type=file]", { name: "noisy.png", mimeType: "image/png", buffer: png });
  return scene;
}

/** A plain PNG of `size`, made by the browser (base64). */
function makePlainPng({ width, height }) {
  return (async () => {
    const canvas = new OffscreenCanvas(width, height);
    const g = canvas.getContext("2d");
    g.fillStyle = "#808080";
    g.fillRect(0, 0, width, height);
    const bytes = new Uint8Array(await (await canvas.convertToBlob({ type: "image/png" })).arrayBuffer());
    let binary = "";
    for (let i = 0; i < bytes.length; i += 8192) binary += String.fromCharCode(...bytes.subarray(i, i + 8192));
    return btoa(binary);
  })();
}

/** Opens a plain image of `size`; expects the "error" state and a notice matching `message`. */
async function expectRejected(page, size, message) {
  const png = Buffer.from(await page.evaluate(makePlainPng, size), "base64");
  await page.setInputFiles("input[type=file]", { name: "big.png", mimeType: "image/png", buffer: png });
  await page
    .waitForFunction((re) => new RegExp(re).test(document.getElementById("notice").textContent), message.source, { timeout: 30_000 })
    .catch(async () => assert.match(await text(page, "#notice"), message));
  assert.equal(await page.evaluate(() => document.body.dataset.state), "error", `${size.width}x${size.height} rejected`);
}

/** Drops or pastes a PNG file (base64) on the page, as a person's browser would. */
function sendFile({ how, png, name }) {
  const bytes = Uint8Array.from(atob(png), (c) => c.charCodeAt(0));
  const data = new DataTransfer();
  data.items.add(new File([bytes], name, { type: "image/png" }));
  if (how === "drop") {
    for (const type of ["dragenter", "dragover", "drop"]) {
      document.body.dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: data }));
    }
  } else {
    document.body.dispatchEvent(new ClipboardEvent("paste", { bubbles: true, cancelable: true, clipboardData: data }));
  }
}

/** Waits for the image called `name` to be open and restored. */
async function waitForRestoreOf(page, name, why) {
  await page.waitForFunction((n) => document.getElementById("image-name").textContent === n, name, { timeout: 30_000 });
  assert.equal(await waitForState(page, ["done", "error"], RUN_TIMEOUT), "done", `${name}${await why()}`);
}

/** Gives the page a model file through "Use your own model…". */
async function chooseOwnModel(page, name, buffer) {
  const chooser = page.waitForEvent("filechooser");
  await page.click("#own-model");
  await (await chooser).setFiles({ name, mimeType: "application/octet-stream", buffer });
}

/** Opens the test image; waits for its restore to end. */
async function restoreTestImage(page, why) {
  const scene = await openTestImage(page);
  assert.equal(await waitForState(page, ["done", "error"], RUN_TIMEOUT), "done", `the restore failed${await why()}`);
  return scene;
}

/** Waits for the running restore's first tile, checks the progress text, and returns it. */
async function waitForFirstTile(page) {
  await page.waitForFunction(
    () => document.body.dataset.state === "running" && document.getElementById("progress").value >= 1,
    null,
    { timeout: RUN_TIMEOUT },
  );
  const progress = await text(page, "#progress-text");
  assert.match(progress, /^Tile \d+ of \d+ · .* left$/, `progress shows tiles and time left: ${progress}`);
  const [done, total] = progress.match(/(\d+) of (\d+)/).slice(1).map(Number);
  assert.ok(total >= 2 && done < total, `several tiles: ${progress}`);
  return { done, total };
}

/** Cancels the running restore; checks it ends "cancelled" and the page can run again. */
async function cancelRun(page, why) {
  await page.click("#cancel");
  assert.equal(await waitForState(page, ["cancelled", "done", "error"], 30_000), "cancelled", `not cancelled${await why()}`);
  assert.match(await text(page, "#notice"), /^Cancelled\./);
  assert.equal(await text(page, "#progress-text"), "Cancelled.");
  await page.waitForSelector("#restore:not([disabled])", { timeout: 60_000 });
  assert.equal(await page.isHidden("#cancel"), true, "Cancel is gone once cancelled");
}

const RESTARTED = /replacing the worker/;

/**
 * The result is the input's size times the model's scale, and a plausible restoration: not
 * blank, not the input, following the clean scene; a denoiser's is closer to the clean scene
 * than its noisy input was.
 */
async function checkResult(page, scene, { denoiser = false } = {}) {
  const m = await page.evaluate(measureResult, scene.clean);
  assert.equal(m.inputWidth, INPUT.width);
  assert.equal(m.inputHeight, INPUT.height);
  const scale = m.width / INPUT.width;
  assert.ok([1, 2, 3, 4].includes(scale), `scale ${scale}`);
  assert.equal(m.height, INPUT.height * scale, "result height = input height x scale");
  assert.match(await text(page, "#d-output"), new RegExp(`^${m.width} × ${m.height}`));
  assert.match(await text(page, "#d-time"), /^[\d.]+ (s|min).* · \d+ tiles? · /, "time and tiles shown");
  assert.ok(m.std > 8, `the result is not blank: std dev ${m.std.toFixed(2)}`);
  assert.ok(m.mean > 20 && m.mean < 235, `the result is not saturated: mean ${m.mean.toFixed(1)}`);
  assert.ok(m.meanAbsDiff > 0.5, `the result differs from the input: mean |diff| ${m.meanAbsDiff.toFixed(2)}`);
  // A restoration keeps the scene: the result follows the clean image closely.
  assert.ok(m.correlation > 0.8, `the result follows the scene: correlation ${m.correlation.toFixed(3)} with the clean image`);
  if (denoiser) {
    const gain = m.psnrResult - m.psnrInput;
    assert.ok(gain > 1, `the noise is reduced: PSNR ${m.psnrInput.toFixed(2)} dB -> ${m.psnrResult.toFixed(2)} dB`);
  }
  assert.equal(await page.isEnabled("#download"), true, "the PNG can be downloaded");
  return m;
}

test("on WebGPU: restore a PNG, compare, zoom, cancel a second run, reject a bad file", { timeout: 400_000 }, async () => {
  const browser = await launchBrowser();
  try {
    const t0 = Date.now();
    const at = () => `[${((Date.now() - t0) / 1000).toFixed(1)} s]`;

    // 0. The first visit: every file under the sub-path, as bench/transfer-size.mjs counts it.
    // "auto" passes SwiftShader (a software adapter, slower than the CPU fallback) over, and
    // says why.
    {
      const { page, why, loaded } = await openDemo(browser, QUERY);
      const files = checkFirstVisit(loaded);
      console.log(`${at()} first visit, all under ${SUBPATH}: ${files.join(", ")}`);
      assert.equal(await page.evaluate(() => document.body.dataset.backend), "cpu", `auto on SwiftShader${await why()}`);
      assert.match(await text(page, "#env-notice"), /^WebGPU runs in software here: restoring on the CPU, which is faster\..*software adapter \(.*swiftshader/is);
      await page.close();
    }

    // 1. The default model loads on WebGPU when asked (a CPU fallback here is a failure).
    const { page, why, logs } = await openDemo(browser, `${QUERY}&backend=webgpu`);
    const backend = await page.evaluate(() => document.body.dataset.backend);
    const adapter = await text(page, "#d-adapter");
    assert.equal(backend, "webgpu", `the page runs on ${backend}, not WebGPU (adapter: ${adapter})${await why()}`);
    assert.equal(await text(page, "#d-backend"), "WebGPU");
    assert.ok(adapter.length > 2 && adapter !== "—", `adapter shown: ${adapter}`);
    assert.equal(await page.isHidden("#env-notice"), true, "no 'no WebGPU' warning on WebGPU");
    assert.equal(await page.locator("input[type=file]").count(), 1, "one file input");
    await screenshot(page, "demo-empty.png");
    console.log(`${at()} model ready on ${backend}: ${adapter}`);

    // 2. A PNG through the file input, restored in the worker tile by tile.
    const scene = await restoreTestImage(page, why);
    const m = await checkResult(page, scene, { denoiser: true });
    console.log(`${at()} done: ${await text(page, "#d-time")}; ${JSON.stringify(m)}`);
    await screenshot(page, "demo-done.png");

    // 3. 1:1 zoom, and the phone layout.
    await page.click("#zoom-actual");
    assert.equal(await page.getAttribute("#zoom-actual", "aria-pressed"), "true");
    await screenshot(page, "demo-zoom.png");
    await page.click("#zoom-fit");
    await page.setViewportSize(PHONE);
    await screenshot(page, "demo-phone.png", { fullPage: true });
    await page.setViewportSize(LAPTOP);

    // 4. A second run, cancelled during its first tile: it ends "cancelled", and can run again.
    // Cancelled before the first tile ends, so that a tile not yet started always remains
    // (the test image has two): once the first run has compiled SwiftShader's kernels, the
    // second tile can finish within the cancel's grace, and a cancel during it ended "done".
    // The CPU test below cancels between tiles after checking the first tile's progress.
    await page.click("#restore");
    await waitForState(page, ["running"], 10_000);
    await screenshot(page, "demo-running.png");
    await cancelRun(page, why);
    const kept = await page.evaluate(measureResult, scene.clean);
    assert.equal(kept.width, m.width, "the previous result stays");
    await page.mouse.move(0, 0);
    await screenshot(page, "demo-cancelled.png");
    const how = logs.some((l) => RESTARTED.test(l)) ? "worker replaced" : "stopped between tiles";
    console.log(`${at()} cancelled during tile 1 (${how})`);

    // 5. A file that is not an image: a clear message and the "error" state.
    await page.setInputFiles("input[type=file]", { name: "notes.png", mimeType: "image/png", buffer: Buffer.from("not a png") });
    assert.equal(await waitForState(page, ["error"], 10_000), "error");
    assert.match(await text(page, "#notice"), /could not be read as an image/);
    await screenshot(page, "demo-bad-file.png");
  } finally {
    await browser.close();
  }
});

test("without WebGPU: the page says so, restores on the CPU, and cancels between tiles", { timeout: 300_000 }, async () => {
  const browser = await launchBrowser({ webgpu: false });
  try {
    const { page, why, logs } = await openDemo(browser, QUERY);
    assert.equal(await page.evaluate(() => document.body.dataset.backend), "cpu", `backend${await why()}`);
    // The package's CPU pool, started from the demo's own worker: one nested worker per core.
    const cores = await page.evaluate(() => navigator.hardwareConcurrency);
    assert.equal(await text(page, "#d-backend"), cores > 1 ? `CPU (WebAssembly, ${cores} workers)` : "CPU (WebAssembly)", `backend${await why()}`);
    assert.equal(await page.isVisible("#env-notice"), true, "the 'no WebGPU' warning is shown");
    assert.match(await text(page, "#env-notice"), /^No WebGPU here: restoring on the CPU\./);
    const scene = await restoreTestImage(page, why);
    const m = await checkResult(page, scene, { denoiser: true });
    console.log(`CPU: ${await text(page, "#d-time")}; ${JSON.stringify(m)}`);
    await screenshot(page, "demo-no-webgpu.png");

    // Drag and drop, and paste, open (and restore) images too.
    for (const how of ["drop", "paste"]) {
      await page.evaluate(sendFile, { how, png: scene.png, name: `${how}.png` });
      await waitForRestoreOf(page, `${how}.png`, why);
    }

    // A user's own model file: a broken one is refused clearly; a good one is used.
    await chooseOwnModel(page, "broken.safetensors", Buffer.from("not a model"));
    assert.equal(await waitForState(page, ["error"], 30_000), "error");
    assert.match(await text(page, "#notice"), /^Could not load the model “broken\.safetensors”\. Cannot load the weights: /);
    await screenshot(page, "demo-bad-model.png");
    const own = readFileSync(new URL("../../models/denoise.safetensors", import.meta.url));
    await chooseOwnModel(page, "my-denoiser.safetensors", own);
    await page.waitForFunction(() => document.body.dataset.state === "running", null, { timeout: 60_000 });
    assert.equal(await waitForState(page, ["done", "error"], RUN_TIMEOUT), "done", `own model${await why()}`);
    assert.equal(await page.$eval("#model", (s) => s.selectedOptions[0].text), "Your model: my-denoiser.safetensors");
    assert.match(await text(page, "#d-time"), / · my-denoiser\.safetensors$/);
    await checkResult(page, scene, { denoiser: true });

    // Another bundled model, chosen in the menu, restores the open image at once: Upscale x2.
    await page.selectOption("#model", "sr-x2");
    await page.waitForFunction(() => document.body.dataset.state === "running", null, { timeout: 60_000 });
    assert.equal(await waitForState(page, ["done", "error"], RUN_TIMEOUT), "done", `x2 failed${await why()}`);
    const x2 = await checkResult(page, scene);
    assert.equal(x2.width, INPUT.width * 2, "x2 doubles the width");
    console.log(`CPU x2: ${await text(page, "#d-time")}; ${JSON.stringify(x2)}`);
    await screenshot(page, "demo-upscale.png");

    // Opening a larger image starts its restore (88 tiles, well under a second each); a cancel
    // after the first stops it before the next tile, without replacing the worker.
    await openTestImage(page, { width: 256, height: 192 });
    await waitForFirstTile(page);
    const t = Date.now();
    await cancelRun(page, why);
    assert.ok(!logs.some((l) => RESTARTED.test(l)), `the worker stopped by itself${await why()}`);
    console.log(`CPU: cancelled in ${Date.now() - t} ms`);

    // Oversized images: a clear message, nothing run.
    await expectRejected(page, { width: 8200, height: 8 }, /is 8200 × 8 pixels: this page opens images up to 8192 pixels a side/);
    await expectRejected(page, { width: 4500, height: 4000 }, /^This image is too large\. The result would be \d+ × \d+ \([\d.]+ MP\); this page makes at most 16\.8 MP/);
    await screenshot(page, "demo-too-large.png");

    // The weights were kept by the Cache API: loading the page again (with automatic tiles
    // this time) does not download them again.
    await page.goto(site.url);
    assert.equal(await waitForState(page, ["ready", "error"], 60_000), "ready", `reload${await why()}`);
    assert.match(await text(page, "#model-meta"), /, cached\.$/, "weights read from the cache");

    // No image of one's own: the sample photo for the denoiser (noisy) is opened and restored.
    await page.click("#sample");
    await waitForRestoreOf(page, "sample-cat-noisy.png", why);
    const sample = await page.evaluate(measureRoughness);
    assert.deepEqual([sample.result.width, sample.result.height], [256, 192], "the sample's size");
    assert.ok(sample.before.roughness > 15, `the sample is noisy: roughness ${sample.before.roughness.toFixed(1)}`);
    assert.ok(
      sample.result.roughness < sample.before.roughness / 2,
      `the sample is denoised: roughness ${sample.before.roughness.toFixed(1)} -> ${sample.result.roughness.toFixed(1)}`,
    );
    console.log(`CPU sample: ${await text(page, "#d-time")}; ${JSON.stringify(sample)}`);
    await screenshot(page, "demo-sample.png");
  } finally {
    await browser.close();
  }
});
