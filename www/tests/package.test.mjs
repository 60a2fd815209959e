// The npm package as an npm user gets it: `npm publish --dry-run` of ../pkg (built by
// scripts/build-package.sh) lists exactly the files of ../npm/manifest.json and a manifest fit for
// bundlers; `npm pack` makes the tarball, installed offline into a scratch app in a temp dir,
// whose TypeScript entry (tests/package-app/main.ts) imports "grl-wasm" from node_modules,
// is type-checked strictly (the package's .d.ts included) with www's TypeScript, bundled with
// www's Vite and run in headless Chromium: x2 super-resolution with ../models/sr-x2.safetensors
// on the CPU backend and on WebGPU (SwiftShader); then the CPU fallback on a pool of Web Workers
// (threads 1 and 2 give the same bytes; progress, cancel, dispose). Prints the tarball and .wasm sizes.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { after, before, test } from "node:test";
import { build } from "vite";
import { launchBrowser, serveDist } from "./browser.mjs";

const here = (path) => fileURLToPath(new URL(path, import.meta.url));
const PKG = here("../../pkg/");
const MODEL = here("../../models/sr-x2.safetensors");
const APP = here("./package-app/");
const TSC = here("../node_modules/typescript/bin/tsc");
/** SwiftShader compiles every kernel on the first WebGPU run. */
const RUN_TIMEOUT = 120_000;

const kib = (bytes) => `${(bytes / 1024).toFixed(1)} KiB`;
const mib = (bytes) => `${(bytes / 1024 / 1024).toFixed(2)} MiB`;
const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`;

let scratch;
let tarball;
let site;

/** Runs a command, returning its stdout; on failure, the assertion shows its output. */
function run(command, args, cwd) {
  try {
    return execFileSync(command, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (e) {
    assert.fail(`${command} ${args.join(" ")} (in ${cwd}) failed:\n${e.stdout ?? ""}${e.stderr ?? ""}`);
  }
}

before(() => {
  assert.ok(existsSync(join(PKG, "package.json")), `${PKG} has no package.json: run scripts/build-package.sh first`);
  assert.ok(existsSync(MODEL), `${MODEL} is missing`);
  scratch = mkdtempSync(join(tmpdir(), "grl-wasm-package-"));
});

after(async () => {
  await site?.close();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

/** The files npm puts in every package, besides those of `files`. */
const ALWAYS_PACKED = ["LICENSE", "README.md", "package.json"];

test("npm publish --dry-run: exactly the files a user needs, a manifest for bundlers", () => {
  const overlay = JSON.parse(readFileSync(here("../../npm/manifest.json"), "utf8"));
  const expected = [...new Set([...overlay.files, ...ALWAYS_PACKED])].sort();
  for (const needed of ["grl_wasm.js", "grl_wasm.d.ts", "grl_wasm_bg.wasm"]) assert.ok(expected.includes(needed), `npm/manifest.json lists ${needed}`);

  const { status, stdout, stderr } = spawnSync("npm", ["publish", "--dry-run", "--json"], { cwd: PKG, encoding: "utf8" });
  assert.equal(status, 0, `npm publish --dry-run failed:\n${stdout}${stderr}`);
  const report = JSON.parse(stdout);
  const info = report["grl-wasm"] ?? report;
  assert.equal(info.name, "grl-wasm");
  const files = info.files.map((f) => f.path).sort();
  // The CPU pool's worker script, which wasm-bindgen copies from npm/pool.js under a hash of the
  // crate: the manifest lists the folder ("snippets/"), npm the file.
  const snippets = files.filter((f) => f.startsWith("snippets/")).map((f) => f.replace(/^snippets\/grl-wasm-[0-9a-f]+\//, "snippets/grl-wasm-*/"));
  assert.deepEqual(snippets, ["snippets/grl-wasm-*/npm/pool.js"]);
  const listed = files.map((f) => (f.startsWith("snippets/") ? "snippets/" : f)).filter((f, i, all) => all.indexOf(f) === i);
  assert.deepEqual(listed, expected, "the published files are npm/manifest.json's, no more, no fewer");
  assert.doesNotMatch(stderr, /auto-corrected|errors corrected/, "npm has nothing to correct in package.json");
  console.log(`npm publish --dry-run: ${files.join(", ")} (${info.size} bytes packed, ${info.unpackedSize} unpacked)`);

  const manifest = JSON.parse(readFileSync(join(PKG, "package.json"), "utf8"));
  assert.equal(manifest.name, "grl-wasm");
  assert.equal(manifest.type, "module");
  assert.equal(manifest.main, "grl_wasm.js");
  assert.equal(manifest.types, "grl_wasm.d.ts");
  assert.equal(manifest.license, "MIT");
  assert.equal(Object.keys(manifest.dependencies ?? {}).length, 0, "no dependencies to install");
  assert.match(manifest.repository.url, /^git\+https:\/\/github\.com\/[\w.-]+\/[\w.-]+\.git$/, "repository in npm's normalised form");
  assert.equal(manifest.homepage, "https://grl-wasm.github.io/grl-wasm/", "the demo page");
  assert.ok(manifest.keywords.includes("webgpu") && manifest.keywords.includes("super-resolution"), `keywords: ${manifest.keywords}`);
  // Bundlers may drop a module whose exports go unused unless it is listed as acting on load
  // (grl_wasm.js is not: false, or a list of published scripts such as a worker entry).
  const effects = manifest.sideEffects;
  const glob = (pattern) => new RegExp(`^${pattern.replace(/^\.\//, "").replace(/[.]/g, "\\.").replace(/\*/g, ".*")}$`);
  assert.ok(effects === false || (Array.isArray(effects) && effects.every((f) => files.some((file) => glob(f).test(file)))), `sideEffects: ${JSON.stringify(effects)}`);
  // "types" first: conditions are tried in order, and TypeScript stops at the first match.
  assert.deepEqual(Object.keys(manifest.exports["."]), ["types", "default"]);
  assert.deepEqual(manifest.exports["."], { types: "./grl_wasm.d.ts", default: "./grl_wasm.js" });
  for (const target of Object.values(manifest.exports).flatMap((v) => (typeof v === "string" ? [v] : Object.values(v)))) {
    assert.ok(files.includes(target.replace(/^\.\//, "")), `exported ${target} is published`);
  }
});

test("npm pack: the tarball holds the package, its types and a README with the API", () => {
  const packed = join(scratch, "packed");
  mkdirSync(packed);
  const [info] = JSON.parse(run("npm", ["pack", "--json", "--pack-destination", packed], PKG));
  tarball = join(packed, info.filename);
  const files = info.files.map((f) => f.path).sort();
  assert.equal(info.name, "grl-wasm");
  assert.ok(files.includes("grl_wasm_bg.wasm"), `the tarball holds the .wasm: ${files}`);

  const readme = readFileSync(join(PKG, "README.md"), "utf8");
  // The package's own README (Cargo.toml's `readme`), not the repository's.
  assert.equal(readme, readFileSync(new URL("../../npm/README.md", import.meta.url), "utf8"));
  for (const api of ['import init, { Restorer } from "grl-wasm"', "await init()", "Restorer.create(", ".restore(", "onProgress", "signal", "dispose()"]) {
    assert.ok(readme.includes(api), `the package README shows ${api}`);
  }
  const types = readFileSync(join(PKG, "grl_wasm.d.ts"), "utf8");
  // The options may be left out, as in `await restorer.restore(image)`.
  assert.match(types, /static create\(weights: Uint8Array \| number\[\], options\?: CreateOptions\): Promise<Restorer>;/);
  assert.match(types, /restore\(image: ImageData, options\?: RestoreOptions\): Promise<ImageData>;/);
  assert.match(types, /loseDevice\(\): void;/);
  assert.match(types, /probe\(backend: string\): Promise<ProbeResult>;/);

  const wasm = readFileSync(join(PKG, "grl_wasm_bg.wasm"));
  const tgz = statSync(tarball).size;
  const gz = gzipSync(wasm, { level: 9 }).length;
  console.log(`tarball ${info.filename}: ${tgz} bytes (${mib(tgz)}), unpacked ${info.unpackedSize} bytes, ${files.length} files`);
  console.log(`grl_wasm_bg.wasm: ${wasm.length} bytes raw (${mib(wasm.length)}), ${gz} bytes gzipped (${mib(gz)})`);
  assert.ok(tgz < wasm.length, "the tarball is compressed");
});

test("a scratch app installs the tarball, type-checks strictly and bundles with Vite", () => {
  assert.ok(tarball, "npm pack ran");
  const app = join(scratch, "app");
  cpSync(APP, app, { recursive: true });
  mkdirSync(join(app, "public"));
  copyFileSync(MODEL, join(app, "public", "sr-x2.safetensors"));
  const manifest = { name: "grl-wasm-scratch-app", private: true, version: "0.0.0", type: "module", dependencies: { "grl-wasm": `file:${tarball}` } };
  writeFileSync(join(app, "package.json"), JSON.stringify(manifest, null, 2));

  run("npm", ["install", "--offline", "--no-audit", "--no-fund"], app);
  const installed = JSON.parse(readFileSync(join(app, "node_modules/grl-wasm/package.json"), "utf8"));
  assert.equal(installed.name, "grl-wasm");
  assert.ok(existsSync(join(app, "node_modules/grl-wasm/grl_wasm_bg.wasm")), "the .wasm is installed");

  // Node's resolver follows `exports`: the entry and the .wasm (for bundlers without
  // `new URL(..., import.meta.url)`: `init({ module_or_path })`), nothing unexported.
  const resolve = (specifier) => spawnSync(process.execPath, ["--input-type=module", "-e", `console.log(import.meta.resolve(${JSON.stringify(specifier)}))`], { cwd: app, encoding: "utf8" });
  assert.match(resolve("grl-wasm").stdout, /node_modules\/grl-wasm\/grl_wasm\.js$/m);
  assert.match(resolve("grl-wasm/grl_wasm_bg.wasm").stdout, /node_modules\/grl-wasm\/grl_wasm_bg\.wasm$/m);
  assert.match(resolve("grl-wasm/grl_wasm_bg.wasm.d.ts").stderr, /ERR_PACKAGE_PATH_NOT_EXPORTED/);

  // Strict, lib check on: the package's own .d.ts is checked too; the entry's @ts-expect-error
  // lines fail the check if its types decay to `any`.
  run(process.execPath, [TSC, "-p", join(app, "tsconfig.json")], app);
});

test("the bundled app restores x2 on the CPU and on WebGPU in Chromium", { timeout: 4 * RUN_TIMEOUT }, async () => {
  const app = join(scratch, "app");
  assert.ok(existsSync(join(app, "node_modules/grl-wasm")), "the app is installed");
  let t0 = Date.now();
  await build({ root: app, configFile: false, logLevel: "warn", build: { outDir: "dist", target: "es2022" } });
  const assets = readdirSync(join(app, "dist/assets"));
  const wasmAsset = assets.find((f) => f.endsWith(".wasm"));
  assert.ok(wasmAsset, `Vite emitted the .wasm: ${assets.join(", ")}`);
  assert.equal(statSync(join(app, "dist/assets", wasmAsset)).size, statSync(join(PKG, "grl_wasm_bg.wasm")).size);
  console.log(`vite build: ${seconds(Date.now() - t0)}; assets ${assets.map((f) => `${f} ${kib(statSync(join(app, "dist/assets", f)).size)}`).join(", ")}`);

  site = await serveDist(app);
  const browser = await launchBrowser();
  try {
    const { page, why } = await openApp(browser);

    const restore = async (backend, size) => {
      t0 = Date.now();
      const report = await page
        .evaluate(([b, s]) => window.grlPackageTest.run(b, s), [backend, size])
        .catch((e) => assert.fail(`${backend}: ${e.message}${why()}`));
      const { rgba, ...figures } = report;
      console.log(`${backend} ${size.width}x${size.height} -> ${report.output.width}x${report.output.height}: create ${seconds(report.createMs)}, restore ${seconds(report.restoreMs)} (${report.progress.length} tiles), total ${seconds(Date.now() - t0)}; ${JSON.stringify({ ...figures, info: undefined, progress: undefined })}`);
      assert.equal(report.info.backend, backend, `info.backend (adapter: ${report.info.adapter})`);
      assert.equal(report.info.scale, 2);
      assert.equal(report.info.task, "sr");
      assert.ok(report.info.padSize >= 1 && 32 % report.info.padSize === 0, `32-pixel tiles fit the pad size ${report.info.padSize}`);
      assert.deepEqual(report.output, { width: 2 * size.width, height: 2 * size.height }, "the output is twice the input");
      assert.ok(report.progress.length >= 1, "progress events");
      const last = report.progress.at(-1);
      assert.equal(last.done, last.total, "the last progress event says all tiles are done");
      assert.deepEqual(report.progress.map((p) => p.done), Array.from({ length: last.total }, (_, i) => i + 1), "one event per tile, in order");
      assert.ok(report.opaque, "alpha passes through (opaque)");
      assert.ok(report.inputUnchanged, "the input ImageData is not modified");
      assert.ok(report.std > 20, `the output is not blank: std dev ${report.std.toFixed(2)}`);
      assert.ok(report.mean > 40 && report.mean < 215, `the output is not saturated: mean ${report.mean.toFixed(1)}`);
      assert.ok(report.correlation > 0.8, `the output follows the input: correlation ${report.correlation.toFixed(3)}`);
      return report;
    };

    // Two 32x32 tiles (overlap 8) on the CPU; one on WebGPU, compared with the CPU's.
    const cpuTwoTiles = await restore("cpu", { width: 48, height: 32 });
    assert.equal(cpuTwoTiles.progress.length, 2, "48x32 in 32-pixel tiles: two tiles");
    const cpu = await restore("cpu", { width: 32, height: 32 });
    const gpu = await restore("webgpu", { width: 32, height: 32 });
    assert.ok(gpu.info.adapter.length > 0, "the WebGPU adapter is named");
    let [maxDiff, sumDiff] = [0, 0];
    for (let i = 0; i < cpu.rgba.length; i++) {
      const d = Math.abs(cpu.rgba[i] - gpu.rgba[i]);
      maxDiff = Math.max(maxDiff, d);
      sumDiff += d;
    }
    console.log(`webgpu vs cpu: max |diff| ${maxDiff}, mean |diff| ${(sumDiff / cpu.rgba.length).toFixed(4)} (of 255)`);
    assert.ok(maxDiff <= 2, `WebGPU and CPU agree within 2/255: max |diff| ${maxDiff}`);
  } finally {
    await browser.close();
  }
});

/** Waits until `condition()` holds, polling; fails with `what` after `ms`. */
async function until(condition, what, ms = 20_000) {
  for (const start = Date.now(); !condition(); ) {
    if (Date.now() - start > ms) assert.fail(what());
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The scratch app (served as `site`) open and ready in a new page; `why()` gives its console. */
async function openApp(browser) {
  const page = await browser.newPage();
  const logs = [];
  page.on("console", (m) => logs.push(`[${m.type()}] ${m.text()}`));
  page.on("pageerror", (e) => logs.push(`[pageerror] ${e.message}`));
  const why = () => `\nlogs:\n${logs.join("\n")}`;
  await page.goto(site.url);
  await page.waitForFunction(() => document.body.dataset.state === "ready", null, { timeout: 30_000 }).catch(() => assert.fail(`the app did not start${why()}`));
  return { page, why };
}

test("the CPU fallback on a pool of workers: one thread's bytes, every tile's progress, cancel, dispose", { timeout: 4 * RUN_TIMEOUT }, async () => {
  assert.ok(site, "the app is built and served");
  const browser = await launchBrowser();
  try {
    const { page, why } = await openApp(browser);
    const call = (name, ...args) => page.evaluate(([n, a]) => window.grlPackageTest[n](...a), [name, args]).catch((e) => assert.fail(`${name}: ${e.message}${why()}`));

    // 96x72 in 32-pixel tiles with overlap 8: 4 x 3 tiles.
    const size = { width: 96, height: 72 };
    const one = await call("pool", 1, size);
    const two = await call("pool", 2, size);
    assert.equal(one.threads, 1, "threads 1: the calling thread");
    assert.equal(two.threads, 2, `threads 2: two workers started${why()}`);
    const total = one.progress.at(-1).total;
    assert.equal(total, 12);
    assert.deepEqual(one.progress.map((p) => p.done), Array.from({ length: total }, (_, i) => i + 1), "one event per tile");
    assert.deepEqual(two.progress, one.progress, "the pool reports every tile, in the same order, with the same rectangles");
    assert.equal(two.rgba.length, 4 * 4 * size.width * size.height);
    const differing = two.rgba.filter((v, i) => v !== one.rgba[i]).length;
    console.log(`threads 1 vs 2, ${size.width}x${size.height} in ${total} tiles: ${differing} of ${one.rgba.length} bytes differ`);
    assert.equal(differing, 0, "two workers give the bytes of one thread");
    await until(() => page.workers().length === 0, () => `disposed Restorers left ${page.workers().length} workers`);

    const cores = await page.evaluate(() => navigator.hardwareConcurrency);
    const auto = await call("pool", "auto", { width: 48, height: 32 });
    assert.equal(auto.threads, cores > 1 ? Math.min(cores, 64) : 1, `threads "auto" starts navigator.hardwareConcurrency (${cores}) workers`);

    // Aborted after its first tile: rejects with "cancelled" before the rest; the pool then
    // restores the image again, to the same bytes (no answer of the cancelled run is mixed in).
    const cancelled = await call("cancelPool", 2, size);
    assert.equal(cancelled.error, "cancelled");
    assert.ok(cancelled.progress >= 1 && cancelled.progress < total, `cancelled after ${cancelled.progress} of ${total} tiles`);
    assert.equal(cancelled.after.rgba.filter((v, i) => v !== two.rgba[i]).length, 0, "the restore after a cancel gives the same bytes");
    assert.equal(page.workers().length, 2, "the kept Restorer's two workers run");
    await call("disposeKept");
    await until(() => page.workers().length === 0, () => `dispose() left ${page.workers().length} workers running`);
    assert.equal(await call("disposeDuring", 2, size), "the Restorer was disposed", "dispose() during a restore stops it");
    await until(() => page.workers().length === 0, () => `dispose() during a restore left ${page.workers().length} workers running`);

    assert.equal(await call("createError", { backend: "cpu", threads: 0 }), 'threads is 0: expected a whole number of workers or "auto"');
    assert.equal(await call("createError", { backend: "cpu", threads: "many" }), 'threads must be a number or "auto"');
  } finally {
    await browser.close();
  }
});
