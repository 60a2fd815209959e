// The CPU fallback on one thread against its pool of Web Workers, in headless Chromium: a
// 512x512 denoise with the bundled model (../models/denoise.safetensors), `threads: 1` (the
// page's thread) against `threads: N` (N workers), alternating, the median of RUNS each, with
// the package as built in ../pkg (scripts/build-package.sh).
//
//   node bench/restore-time.mjs is for one backend's times; this one:
//   node bench/pool-speed.mjs [SIZE=512] [RUNS=3] [THREADS=2] [MODEL=../models/denoise.safetensors]
//
// Prints each run, the medians, their ratio, whether both outputs are the same bytes, the CPU
// time the browser's processes used per second of each run (about 1 for one thread, up to N for
// N workers: whether the workers ran side by side, even where other work on the cores slows
// them down), and the machine's load average around the runs. A figure, not a test: nothing is
// asserted but that the restores work.
import { execFileSync } from "node:child_process";
import { createServer } from "node:http";
import { readFileSync, readdirSync, existsSync } from "node:fs";
import { extname, join, resolve } from "node:path";
import { cpus, loadavg } from "node:os";
import { launchBrowser } from "../tests/browser.mjs";

const here = (path) => new URL(path, import.meta.url).pathname;
const [size = "512", runs = "3", threads = "2", model = here("../../models/denoise.safetensors")] = process.argv.slice(2);
if (!existsSync(model)) {
  console.error(`${model} is missing; usage: node bench/pool-speed.mjs [SIZE] [RUNS] [THREADS] [MODEL]`);
  process.exit(2);
}
const pkg = resolve(process.env.GRL_PKG ?? here("../../pkg"));
const types = { ".js": "text/javascript", ".wasm": "application/wasm", ".html": "text/html" };
const page = `<!doctype html><script type="module">
import init, { Restorer } from "/pkg/grl_wasm.js";
await init();
const weights = new Uint8Array(await (await fetch("/model")).arrayBuffer());
const restorers = {};
const image = (size) => {
  const pixels = new Uint8ClampedArray(size * size * 4);
  for (let i = 0; i < size * size; i++) {
    const x = i % size, y = Math.floor(i / size);
    const noise = ((i * 2654435761) >>> 0) % 51 - 25;
    pixels.set([128 + 90 * Math.sin(x / 9) + noise, 128 + 90 * Math.cos(y / 7) - noise, (x * y) % 256, 255], i * 4);
  }
  return new ImageData(pixels, size, size);
};
window.bench = async (threads, size) => {
  restorers[threads] ??= await Restorer.create(weights, { backend: "cpu", threads });
  const restorer = restorers[threads];
  let tiles = 0, tile = 0;
  const t = performance.now();
  const out = await restorer.restore(image(size), { onProgress: (d, n, rect) => { tiles = n; tile = rect.tile; } });
  const seconds = (performance.now() - t) / 1000;
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", out.data));
  const hash = Array.from(digest.slice(0, 8), (b) => b.toString(16).padStart(2, "0")).join("");
  return { seconds, tiles, tile, threads: restorer.info.threads, hash, cores: navigator.hardwareConcurrency };
};
window.ready = true;
</script>`;
const server = createServer((req, res) => {
  const path = req.url.split("?")[0];
  const file = path === "/model" ? model : path.startsWith("/pkg/") ? join(pkg, path.slice(5)) : null;
  if (path === "/") return res.writeHead(200, { "content-type": "text/html" }).end(page);
  if (!file || !existsSync(file)) return res.writeHead(404).end();
  res.writeHead(200, { "content-type": types[extname(file)] ?? "application/octet-stream" }).end(readFileSync(file));
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const browser = await launchBrowser({ webgpu: false });
const load = () => loadavg().map((l) => l.toFixed(2)).join(" ");
const ticks = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }));
/** CPU seconds (user + system) of this process's descendants (the browser), from /proc. */
function browserCpu() {
  const procs = new Map();
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      procs.set(Number(pid), { parent: Number(fields[1]), cpu: (Number(fields[11]) + Number(fields[12])) / ticks });
    } catch {
      // gone meanwhile
    }
  }
  const ours = (pid) => {
    for (let p = procs.get(pid)?.parent; p; p = procs.get(p)?.parent) if (p === process.pid) return true;
    return false;
  };
  return [...procs].filter(([pid]) => ours(pid)).reduce((sum, [, p]) => sum + p.cpu, 0);
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
try {
  const tab = await browser.newPage();
  tab.on("pageerror", (e) => console.error(`[pageerror] ${e.message}`));
  tab.on("console", (m) => m.type() !== "log" && console.error(`[${m.type()}] ${m.text()}`));
  await tab.goto(`http://127.0.0.1:${server.address().port}/`);
  await tab.waitForFunction(() => window.ready === true, null, { timeout: 60_000 });
  const settings = [1, Number(threads)];
  console.log(`${cpus().length} cores here; load average (1, 5, 15 min) before: ${load()}`);
  // Warm-up: creates both Restorers (workers started, the module's code tiered up).
  for (const t of settings) await tab.evaluate(([n]) => window.bench(n, 64), [t]);
  const times = { [settings[0]]: [], [settings[1]]: [] };
  const busy = { [settings[0]]: [], [settings[1]]: [] };
  const hashes = new Set();
  for (let r = 0; r < Number(runs); r++) {
    for (const t of r % 2 === 0 ? settings : [...settings].reverse()) {
      const cpu = browserCpu();
      const result = await tab.evaluate(([n, s]) => window.bench(n, s), [t, Number(size)]);
      const cores = (browserCpu() - cpu) / result.seconds;
      times[t].push(result.seconds);
      busy[t].push(cores);
      hashes.add(result.hash);
      console.log(
        `run ${r + 1}, threads ${t} (${result.threads} in use, navigator.hardwareConcurrency ${result.cores}): ` +
          `${result.seconds.toFixed(2)} s, ${cores.toFixed(2)} CPU s per s, ${result.tiles} tiles of ${result.tile}, output ${result.hash}; load ${load()}`,
      );
    }
  }
  const [one, many] = settings.map((t) => median(times[t]));
  console.log(`${size}x${size} denoise on the CPU fallback, median of ${runs}: threads 1 ${one.toFixed(2)} s, threads ${threads} ${many.toFixed(2)} s: ${(one / many).toFixed(2)}x`);
  console.log(`CPU seconds per second, median: threads 1 ${median(busy[settings[0]]).toFixed(2)}, threads ${threads} ${median(busy[settings[1]]).toFixed(2)}`);
  console.log(`outputs: ${hashes.size === 1 ? "the same bytes" : `DIFFERENT (${[...hashes].join(", ")})`}; load average after: ${load()}`);
} finally {
  await browser.close();
  server.close();
}
