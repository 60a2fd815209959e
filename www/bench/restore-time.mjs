// Times `Restorer.restore` of one image in headless Chromium, on WebGPU (SwiftShader here) and
// on the CPU fallback, with the package as built in ../pkg (scripts/build-package.sh).
//
//   node bench/restore-time.mjs MODEL.safetensors [SIZE=256] [RUNS=2] [BACKENDS=webgpu,cpu]
//
// GRL_PKG=DIR times another build of the package (to compare two builds in turn).
// Prints each tile as it finishes, then, per backend, the time of each run (the first includes
// WebGPU's pipeline compilation) and the tile size chosen. A figure, not a test: nothing is asserted but that restores work.
import { createServer } from "node:http";
import { readFileSync, existsSync } from "node:fs";
import { extname, join, resolve } from "node:path";
import { launchBrowser } from "../tests/browser.mjs";

const [model, size = "256", runs = "2", backends = "webgpu,cpu"] = process.argv.slice(2);
if (!model || !existsSync(model)) {
  console.error("usage: node bench/restore-time.mjs MODEL.safetensors [SIZE] [RUNS] [BACKENDS]");
  process.exit(2);
}
const pkg = resolve(process.env.GRL_PKG ?? new URL("../../pkg", import.meta.url).pathname);
const types = { ".js": "text/javascript", ".wasm": "application/wasm", ".html": "text/html" };
const page = `<!doctype html><script type="module">
import init, { Restorer } from "/pkg/grl_wasm.js";
window.bench = async (backend, size, runs) => {
  await init();
  const weights = new Uint8Array(await (await fetch("/model")).arrayBuffer());
  const restorer = await Restorer.create(weights, { backend });
  const pixels = new Uint8ClampedArray(size * size * 4);
  for (let i = 0; i < size * size; i++) {
    const x = i % size, y = Math.floor(i / size);
    pixels.set([128 + 100 * Math.sin(x / 9), 128 + 100 * Math.cos(y / 7), (x * y) % 256, 255], i * 4);
  }
  const image = new ImageData(pixels, size, size);
  const times = [];
  let tiles = 0, tile = 0, out;
  for (let r = 0; r < runs; r++) {
    const t = performance.now();
    const onProgress = (d, n, rect) => {
      tiles = n;
      tile = rect.tile;
      console.log("run " + (r + 1) + ": tile " + d + " of " + n + " (" + rect.tile + ") at " + ((performance.now() - t) / 1000).toFixed(1) + " s");
    };
    out = await restorer.restore(image, { onProgress });
    times.push((performance.now() - t) / 1000);
  }
  const info = restorer.info;
  restorer.dispose();
  return { backend: info.backend, adapter: info.adapter, name: info.name, params: info.params, times, tiles, tile, out: [out.width, out.height] };
};
</script>`;
const server = createServer((req, res) => {
  const path = req.url.split("?")[0];
  const file = path === "/model" ? model : path.startsWith("/pkg/") ? join(pkg, path.slice(5)) : null;
  if (path === "/") return res.writeHead(200, { "content-type": "text/html" }).end(page);
  if (!file || !existsSync(file)) return res.writeHead(404).end();
  res.writeHead(200, { "content-type": types[extname(file)] ?? "application/octet-stream" }).end(readFileSync(file));
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const browser = await launchBrowser();
try {
  for (const backend of backends.split(",")) {
    const tab = await browser.newPage();
    // Each tile as it finishes: a long run shows its pace before it ends.
    tab.on("console", (message) => message.type() === "log" && console.log(`  [${backend}] ${message.text()}`));
    await tab.goto(`http://127.0.0.1:${server.address().port}/`);
    const r = await tab.evaluate(([b, s, n]) => window.bench(b, s, n), [backend, Number(size), Number(runs)]);
    console.log(
      `${r.name} (${r.params} parameters) ${size}x${size} -> ${r.out.join("x")} on ${r.backend} (${r.adapter}): ` +
        `${r.times.map((t) => t.toFixed(1) + " s").join(", ")} (${r.tiles} tiles of ${r.tile})`,
    );
    await tab.close();
  }
} finally {
  await browser.close();
  server.close();
}
