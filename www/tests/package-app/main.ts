// The scratch app of www/tests/package.test.mjs: uses "grl-wasm" exactly as an npm user's app
// would, from the installed tarball, type-checked with `strict` against the package's .d.ts
// (lib check on) and bundled by Vite. The test calls `window.grlPackageTest.run(backend)`.
import init, { Restorer, type CreateOptions, type RestoreOptions, type RestorerInfo } from "grl-wasm";

/** What one run reports back to the test (plain data, through page.evaluate). */
export interface RunReport {
  info: RestorerInfo;
  input: { width: number; height: number };
  output: { width: number; height: number };
  progress: Array<{ done: number; total: number; tile: number }>;
  /** Mean and standard deviation of the output's RGB values. */
  mean: number;
  std: number;
  /** Correlation of the output's RGB with the input upsampled (nearest neighbour). */
  correlation: number;
  /** Whether every output alpha is 255 (the input is opaque). */
  opaque: boolean;
  /** The input is untouched by restore. */
  inputUnchanged: boolean;
  createMs: number;
  restoreMs: number;
  /** The output's RGBA, for comparing backends. */
  rgba: number[];
}

/** What a restore on the CPU pool reports back to the test. */
export interface PoolReport {
  threads: number;
  progress: Array<{ done: number; total: number; x: number; y: number }>;
  rgba: number[];
}

declare global {
  interface Window {
    grlPackageTest: {
      run(backend: "cpu" | "webgpu", size: { width: number; height: number }): Promise<RunReport>;
      pool(threads: number | "auto", size: { width: number; height: number }): Promise<PoolReport>;
      cancelPool(threads: number, size: { width: number; height: number }): Promise<{ error: string; progress: number; total: number; after: PoolReport }>;
      disposeKept(): void;
      disposeDuring(threads: number, size: { width: number; height: number }): Promise<string>;
      createError(options: unknown): Promise<string>;
    };
  }
}

/** A small opaque photo-like scene (gradient sky, sun, hills) drawn by the browser. */
function makeImage(width: number, height: number): ImageData {
  const canvas = new OffscreenCanvas(width, height);
  const g = canvas.getContext("2d");
  if (!g) throw new Error("no 2D canvas");
  const sky = g.createLinearGradient(0, 0, 0, height);
  sky.addColorStop(0, "#3b6fd8");
  sky.addColorStop(1, "#f2c38b");
  g.fillStyle = sky;
  g.fillRect(0, 0, width, height);
  g.fillStyle = "#ffe27a";
  g.beginPath();
  g.arc(width * 0.7, height * 0.32, width * 0.15, 0, 2 * Math.PI);
  g.fill();
  g.fillStyle = "#2f6b3a";
  g.beginPath();
  g.moveTo(0, height);
  for (let x = 0; x <= width; x += 2) g.lineTo(x, height * (0.68 + 0.1 * Math.sin(x / 4)));
  g.lineTo(width, height);
  g.fill();
  return g.getImageData(0, 0, width, height);
}

let weights: Promise<Uint8Array> | undefined;
let ready: Promise<unknown> | undefined;

/** The package, initialised, and the model's bytes. */
async function setup(): Promise<Uint8Array> {
  ready ??= init();
  await ready;
  weights ??= fetch("./sr-x2.safetensors").then(async (r) => {
    if (!r.ok) throw new Error(`sr-x2.safetensors: HTTP ${r.status}`);
    return new Uint8Array(await r.arrayBuffer());
  });
  return weights;
}

/** Restores a scene on `restorer` in 32-pixel tiles (overlap 8), recording the progress. */
async function poolRestore(restorer: Restorer, size: { width: number; height: number }, signal?: AbortSignal, onTile?: (done: number) => void): Promise<PoolReport> {
  const progress: PoolReport["progress"] = [];
  const out = await restorer.restore(makeImage(size.width, size.height), {
    tileSize: 32,
    overlap: 8,
    signal,
    onProgress: (done, total, tile) => {
      progress.push({ done, total, x: tile.x, y: tile.y });
      onTile?.(done);
    },
  });
  return { threads: restorer.info.threads, progress, rgba: Array.from(out.data) };
}

/** A restore on the CPU with `threads` workers; the Restorer is disposed after. */
async function pool(threads: number | "auto", size: { width: number; height: number }): Promise<PoolReport> {
  const restorer = await Restorer.create(await setup(), { backend: "cpu", threads });
  try {
    return await poolRestore(restorer, size);
  } finally {
    restorer.dispose();
  }
}

let kept: Restorer | undefined;

/**
 * Aborts a pooled restore after its first tile, then restores the same image again on the same
 * Restorer (kept, its workers alive, until `disposeKept`).
 */
async function cancelPool(threads: number, size: { width: number; height: number }) {
  kept = await Restorer.create(await setup(), { backend: "cpu", threads });
  const controller = new AbortController();
  let [progress, total] = [0, 0];
  const error = await poolRestore(kept, size, controller.signal, (done) => {
    progress = done;
    controller.abort();
  }).then(
    (r) => `resolved after ${(total = r.progress.length)} tiles`,
    (e: Error) => e.message,
  );
  const after = await poolRestore(kept, size);
  return { error, progress, total: after.progress.at(-1)?.total ?? 0, after };
}

function disposeKept(): void {
  kept?.dispose();
  kept = undefined;
}

/** Disposes a Restorer from the first progress event of its restore; what the restore says. */
async function disposeDuring(threads: number, size: { width: number; height: number }): Promise<string> {
  const restorer = await Restorer.create(await setup(), { backend: "cpu", threads });
  return poolRestore(restorer, size, undefined, () => restorer.dispose()).then(
    (r) => `resolved after ${r.progress.length} tiles`,
    (e: Error) => e.message,
  );
}

/** The message Restorer.create rejects with for `options`. */
async function createError(options: unknown): Promise<string> {
  return Restorer.create(await setup(), options as CreateOptions).then(
    (r) => (r.dispose(), "created"),
    (e: Error) => e.message,
  );
}

async function run(backend: "cpu" | "webgpu", { width, height }: { width: number; height: number }): Promise<RunReport> {
  const bytes = await setup();
  const createOptions: CreateOptions = { backend };
  let t0 = performance.now();
  const restorer: Restorer = await Restorer.create(bytes, createOptions);
  const createMs = performance.now() - t0;
  const info: RestorerInfo = restorer.info;
  const img = makeImage(width, height);
  const before = Array.from(img.data);
  const progress: RunReport["progress"] = [];
  const onProgress: NonNullable<RestoreOptions["onProgress"]> = (done, total, tile) => {
    progress.push({ done, total, tile: tile.tile });
  };
  t0 = performance.now();
  const out: ImageData = await restorer.restore(img, { tileSize: 32, overlap: 8, onProgress });
  const restoreMs = performance.now() - t0;
  restorer.dispose();

  const scale = out.width / img.width;
  let [n, sum, sumSq, inSum, inSq, cross] = [0, 0, 0, 0, 0, 0];
  let opaque = true;
  for (let y = 0; y < out.height; y++) {
    for (let x = 0; x < out.width; x++) {
      const o = (y * out.width + x) * 4;
      const i = (Math.floor(y / scale) * img.width + Math.floor(x / scale)) * 4;
      opaque &&= out.data[o + 3] === 255;
      for (let c = 0; c < 3; c++) {
        const [v, u] = [out.data[o + c], img.data[i + c]];
        n++;
        sum += v;
        sumSq += v * v;
        inSum += u;
        inSq += u * u;
        cross += v * u;
      }
    }
  }
  const mean = sum / n;
  const std = Math.sqrt(sumSq / n - mean * mean);
  const inMean = inSum / n;
  const inStd = Math.sqrt(inSq / n - inMean * inMean);
  return {
    info,
    input: { width: img.width, height: img.height },
    output: { width: out.width, height: out.height },
    progress,
    mean,
    std,
    correlation: (cross / n - mean * inMean) / (std * inStd),
    opaque,
    inputUnchanged: before.every((v, i) => v === img.data[i]),
    createMs,
    restoreMs,
    rgba: Array.from(out.data),
  };
}

/**
 * Never called: compile-time checks that the package's types are precise, not `any`. The
 * options may be left out; each `@ts-expect-error` line is an error (a wrong backend, a tile
 * size that is neither a number nor "auto", a callback of the wrong shape, a misspelt info
 * field): if the .d.ts lost its types, the directive would be unused and tsc would fail.
 */
export async function typeChecks(bytes: Uint8Array, img: ImageData): Promise<void> {
  const r: Restorer = await Restorer.create(bytes);
  const out: ImageData = await r.restore(img);
  const signal: AbortSignal = new AbortController().signal;
  await r.restore(out, { tileSize: "auto", overlap: 16, signal, onProgress: (done: number, total: number, tile) => void [done, total, tile.x, tile.width] });
  const padSize: number = r.info.padSize;
  const threads: number = r.info.threads;
  await Restorer.create(bytes, { backend: "cpu", threads: "auto" });
  await Restorer.create(bytes, { threads: 2 });
  r.dispose();
  // @ts-expect-error "metal" is not a backend
  await Restorer.create(bytes, { backend: "metal" });
  // @ts-expect-error threads is a number or "auto"
  await Restorer.create(bytes, { threads: "all" });
  // @ts-expect-error tileSize is a number or "auto"
  await r.restore(img, { tileSize: "big" });
  // @ts-expect-error onProgress gets numbers, not strings
  await r.restore(img, { onProgress: (done: string) => done });
  // @ts-expect-error restore resolves to an ImageData, not a string
  const s: string = await r.restore(img, {});
  // @ts-expect-error the info has no field "scal"
  const n: number = r.info.scal;
  // @ts-expect-error backend is "webgpu" | "cpu"
  const b: "auto" = r.info.backend;
  // @ts-expect-error the weights are bytes
  await Restorer.create("sr-x2.safetensors");
  void [padSize, threads, s, n, b];
}

window.grlPackageTest = { run, pool, cancelPool, disposeKept, disposeDuring, createError };
document.body.dataset.state = "ready";
