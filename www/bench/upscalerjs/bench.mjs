// grl-wasm beside UpscalerJS (npm `upscaler` with `@upscalerjs/esrgan-slim` and `-medium`) on the
// held-out photos: the same inputs for both (made by `grl degrade`: 256x256 centre crops, the
// bicubic downscaling `grl eval` uses), PSNR and SSIM by one definition (`grl compare`, the one
// `grl eval` uses, the scale shaved at the borders), time per image in headless Chromium on each
// backend each side offers, and what each case downloads.
//
//   node bench.mjs MODEL.safetensors [--heldout DIR] [--crop 256] [--runs 1] [--out DIR] [--cases LIST]
//
// MODEL: any grl-wasm super-resolution model (its scale picks UpscalerJS's models). --cases:
// comma-separated SIDE:BACKEND with SIDE ours, esrgan-slim or esrgan-medium (default: every
// pair). GRL: the grl binary (default target/release/grl, built by `cargo build --release`);
// GRL_PKG: the npm package (default ../../../pkg, built by scripts/build-package.sh).
// Installs this folder's own dependencies (npm ci) when they are missing. Prints a markdown
// table, then one JSON line per case.
import { execFileSync } from "node:child_process";
import { createServer } from "node:http";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { extname, join, resolve } from "node:path";
import { gzipSync } from "node:zlib";

const here = new URL(".", import.meta.url).pathname;
const repo = resolve(here, "../../..");
const args = parseArgs(process.argv.slice(2));
const grl = process.env.GRL ?? [join(process.env.CARGO_TARGET_DIR ?? "", "release/grl"), join(repo, "target/release/grl")].find(existsSync);
const pkg = resolve(process.env.GRL_PKG ?? join(repo, "pkg"));
if (!grl) fail("no grl binary: build it (cargo build --release --bin grl) or set GRL");
if (!existsSync(join(pkg, "grl_wasm.js"))) fail(`no npm package in ${pkg}: run scripts/build-package.sh or set GRL_PKG`);
if (!existsSync(join(here, "node_modules/upscaler"))) {
  console.error("installing UpscalerJS and TF.js (npm ci in www/bench/upscalerjs)");
  execFileSync("npm", ["ci", "--no-audit", "--no-fund"], { cwd: here, stdio: "inherit" });
}
const { chromium } = await import("playwright-core");

const scale = Number(/scale:\s+x(\d+)/.exec(execFileSync(grl, ["info", args.model], { encoding: "utf8" }))?.[1]);
if (!scale) fail(`${args.model} is not a super-resolution model (grl info shows no scale)`);
const out = args.out ?? mkdtempSync(join(tmpdir(), `grl-vs-upscalerjs-x${scale}-`));
execFileSync(grl, ["degrade", args.heldout, "--degradation", `bicubic:${scale}`, "--crop", String(args.crop), "-o", out]);
const names = readdirSync(join(out, "degraded")).filter((n) => n.endsWith(".png")).sort();

const cases = args.cases.filter(({ side }) => side === "ours" || [2, 3, 4, 8].includes(scale));
const results = [{ label: "bicubic (grl degrade's baseline)", ...score(join(out, "baseline")) }];
const server = await serve({ "/in/": join(out, "degraded"), "/nm/": join(here, "node_modules"), "/pkg/": pkg, "/model": args.model });
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", headless: true, args: browserFlags() });
try {
  for (const spec of cases) results.push(await runCase(spec));
} finally {
  await browser.close();
  server.close();
}
printTable(results);
results.forEach(({ label, ...result }) => console.log(JSON.stringify({ case: label, scale, ...result })));

/** One case in a fresh tab: its outputs scored by grl compare, its downloads summed. */
async function runCase(spec) {
  const id = `${spec.side}-${spec.backend}`;
  const label = spec.side === "ours" ? `grl-wasm ${spec.model} (${spec.backend})` : `UpscalerJS ${spec.side} (${spec.backend})`;
  console.error(`${label}: ${names.length} images`);
  const tab = await browser.newPage();
  const fetched = new Set();
  tab.on("request", (request) => fetched.add(new URL(request.url()).pathname));
  tab.on("console", (message) => console.error(`  [${id}] ${message.text()}`));
  try {
    await tab.goto(`${server.url}/page.html`);
    const caseSpec = { side: spec.side === "ours" ? "ours" : "theirs", model: spec.side, backend: spec.backend, scale };
    const run = await tab.evaluate(([c, n, r]) => window.runCase(c, n, r), [caseSpec, names, args.runs]);
    const dir = join(out, "restored", id);
    mkdirSync(dir, { recursive: true });
    for (const [name, png] of Object.entries(run.outputs)) writeFileSync(join(dir, name), Buffer.from(png, "base64"));
    const seconds = run.seconds.reduce((a, b) => a + b, 0) / run.seconds.length;
    return { label, ran: run.ran, ...score(dir), seconds_per_image: seconds, ...downloads(fetched) };
  } catch (e) {
    return { label, error: String(e.message ?? e).replace(/^page\.evaluate: (Error: )?/, "").split("\n")[0] };
  } finally {
    await tab.close();
  }
}

/** Mean PSNR and SSIM of a folder of outputs, by grl compare. */
function score(dir) {
  const line = execFileSync(grl, ["compare", "--reference", join(out, "clean"), dir, "--shave", String(scale), "--json"], { encoding: "utf8" });
  const { psnr_db, ssim, images } = JSON.parse(line);
  return { psnr_db, ssim, images };
}

/** Bytes the tab fetched (raw and gzipped, as a server would send them), model apart from code. */
function downloads(paths) {
  const sizes = { model_bytes: 0, model_gzip: 0, code_bytes: 0, code_gzip: 0 };
  for (const path of paths) {
    const file = server.file(path);
    if (!file || path.startsWith("/in/") || path === "/page.html" || path === "/page.js") continue;
    const bytes = readFileSync(file);
    const kind = path === "/model" || path.includes("/models/") ? "model" : "code";
    sizes[`${kind}_bytes`] += bytes.length;
    sizes[`${kind}_gzip`] += gzipSync(bytes, { level: 9 }).length;
  }
  return sizes;
}

/** A static server of the page, the inputs, node_modules, the package and the model, cross-origin
 *  isolated (TF.js's threaded wasm needs SharedArrayBuffer). */
async function serve(routes) {
  const types = { ".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm", ".html": "text/html", ".json": "application/json", ".png": "image/png" };
  const file = (path) => {
    if (path === "/page.html" || path === "/page.js") return join(here, path);
    for (const [prefix, target] of Object.entries(routes)) {
      if (path === prefix) return target;
      if (prefix.endsWith("/") && path.startsWith(prefix) && !path.includes("..")) return join(target, decodeURIComponent(path.slice(prefix.length)));
    }
    return null;
  };
  const http = createServer((req, res) => {
    const path = file(req.url.split("?")[0]);
    if (!path || !existsSync(path)) {
      if (!req.url.startsWith("/favicon")) console.error(`  404 ${req.url}`);
      return res.writeHead(404).end();
    }
    res.writeHead(200, {
      "content-type": types[extname(path)] ?? "application/octet-stream",
      "cross-origin-opener-policy": "same-origin",
      "cross-origin-embedder-policy": "require-corp",
    });
    res.end(readFileSync(path));
  });
  await new Promise((ok) => http.listen(0, "127.0.0.1", ok));
  return { url: `http://127.0.0.1:${http.address().port}`, file, close: () => http.close() };
}

/** The repository's browser flags (webdriver.json: WebGPU on), and WebGL on SwiftShader. */
function browserFlags() {
  const options = JSON.parse(readFileSync(join(repo, "webdriver.json"), "utf8"))["goog:chromeOptions"];
  return [...options.args, "--enable-unsafe-swiftshader"];
}

function printTable(rows) {
  const kb = (n) => (n / 1024).toFixed(0);
  console.log(`x${scale}, ${names.length} held-out photos (${args.heldout}), ${args.crop}x${args.crop} centre crops, PSNR/SSIM on RGB with ${scale} pixels shaved (grl compare)\n`);
  console.log("| method | ran on | PSNR dB | SSIM | s / image | model kB (gzip) | code kB (gzip) |");
  console.log("| --- | --- | --- | --- | --- | --- | --- |");
  for (const r of rows) {
    if (r.error) console.log(`| ${r.label} | failed: ${r.error} | | | | | |`);
    else if (r.seconds_per_image === undefined) console.log(`| ${r.label} | | ${r.psnr_db.toFixed(2)} | ${r.ssim.toFixed(4)} | | | |`);
    else
      console.log(
        `| ${r.label} | ${r.ran} | ${r.psnr_db.toFixed(2)} | ${r.ssim.toFixed(4)} | ${r.seconds_per_image.toFixed(2)} | ` +
          `${kb(r.model_bytes)} (${kb(r.model_gzip)}) | ${kb(r.code_bytes)} (${kb(r.code_gzip)}) |`,
      );
  }
  console.log();
}

function parseArgs(argv) {
  const model = argv[0];
  if (!model || model.startsWith("--") || !existsSync(model)) fail("usage: node bench.mjs MODEL.safetensors [--heldout DIR] [--crop 256] [--runs 1] [--out DIR] [--cases ours:webgpu,esrgan-slim:webgl,...]");
  const options = { heldout: join(repo, "data/heldout"), crop: 256, runs: 1, out: undefined, cases: undefined };
  for (let i = 1; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, "");
    if (!(key in options) || argv[i + 1] === undefined) fail(`unknown option ${argv[i]} or missing value`);
    options[key] = ["crop", "runs"].includes(key) ? Number(argv[i + 1]) : argv[i + 1];
  }
  if (!(options.crop > 0) || !(options.runs > 0)) fail("--crop and --runs take positive numbers");
  const all = ["ours:webgpu", "ours:cpu", ...["esrgan-slim", "esrgan-medium"].flatMap((m) => ["webgl", "webgpu", "wasm"].map((b) => `${m}:${b}`))];
  const cases = (options.cases ?? all.join(",")).split(",").map((c) => {
    const [side, backend] = c.split(":");
    if (!all.includes(c)) fail(`case ${c}: expected one of ${all.join(", ")}`);
    return { side, backend, model: basename(model) };
  });
  return { ...options, model: resolve(model), cases };
}

function basename(path) {
  return path.split("/").pop().replace(/\.safetensors$/, "");
}

function fail(message) {
  console.error(`bench: ${message}`);
  process.exit(2);
}
