/**
 * The restoration worker: owns the grl-wasm module and the loaded model, so the page never
 * waits on a model load or a tile. Loads and restores run one after another in arrival order;
 * a cancel acts at once (the package stops before its next tile).
 */
import init, { Restorer } from "grl-wasm";
import type { Backend, ModelSource, Reply, Request } from "./protocol";
import { loadWeights } from "./weights-cache";

let restorer: Restorer | null = null;
let wasmReady: Promise<unknown> | null = null;
/** The restores not finished yet, by job, to cancel them. */
const running = new Map<number, AbortController>();
/** Loads and restores, in order. */
let queue: Promise<void> = Promise.resolve();

function reply(message: Reply, transfer: Transferable[] = []): void {
  // The options form of postMessage, which the page's and the worker's typings share.
  self.postMessage(message, { transfer });
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Why WebGPU cannot work here, in words for the page; null when it has an adapter. */
async function webgpuProblem(): Promise<string | null> {
  if (!self.isSecureContext) return "WebGPU needs a secure page (https:// or localhost).";
  if (!("gpu" in navigator) || !navigator.gpu) return "This browser has no WebGPU.";
  try {
    const adapter = await navigator.gpu.requestAdapter();
    return adapter ? null : "WebGPU is present but found no usable graphics adapter (it may be disabled or blocklisted).";
  } catch (e) {
    return `WebGPU failed to start: ${messageOf(e)}`;
  }
}

async function weightsOf(job: number, source: ModelSource): Promise<{ bytes: Uint8Array<ArrayBuffer>; cached: boolean }> {
  if (source.kind === "file") return { bytes: new Uint8Array(source.bytes), cached: false };
  return loadWeights(source.url, source.cache, (loaded, total) => reply({ type: "download", job, loaded, total }));
}

async function load(job: number, source: ModelSource, backend: Backend): Promise<void> {
  wasmReady ??= init();
  const [weights, webgpu] = await Promise.all([weightsOf(job, source), webgpuProblem(), wasmReady]);
  restorer?.dispose();
  restorer = null;
  const created = await Restorer.create(weights.bytes, { backend });
  restorer = created;
  reply({ type: "loaded", job, info: created.info, bytes: weights.bytes.byteLength, cached: weights.cached, webgpu });
}

async function restore(job: number, request: Extract<Request, { type: "restore" }>, signal: AbortSignal): Promise<void> {
  if (!restorer) throw new Error("no model is loaded");
  const { width, height, data } = request.image;
  const started = performance.now();
  const output = await restorer.restore(new ImageData(data, width, height), {
    tileSize: request.tileSize,
    overlap: request.overlap,
    signal,
    onProgress: (done: number, total: number, tile: { x: number; y: number; width: number; height: number }) =>
      reply({ type: "progress", job, done, total, tile: { x: tile.x, y: tile.y, width: tile.width, height: tile.height } }),
  });
  const seconds = (performance.now() - started) / 1000;
  const image = { width: output.width, height: output.height, data: output.data };
  reply({ type: "restored", job, image, seconds }, [output.data.buffer]);
}

function enqueue(job: number, work: () => Promise<void>, signal?: AbortSignal): void {
  queue = queue.then(async () => {
    try {
      await work();
    } catch (e) {
      const cancelled = signal?.aborted === true || messageOf(e) === "cancelled";
      reply({ type: "failed", job, message: cancelled ? "cancelled" : messageOf(e), cancelled });
    } finally {
      running.delete(job);
    }
  });
}

self.onmessage = (event: MessageEvent<Request>) => {
  const request = event.data;
  switch (request.type) {
    case "load":
      enqueue(request.job, () => load(request.job, request.source, request.backend));
      break;
    case "restore": {
      const controller = new AbortController();
      running.set(request.job, controller);
      enqueue(request.job, () => restore(request.job, request, controller.signal), controller.signal);
      break;
    }
    case "cancel":
      running.get(request.job)?.abort();
      break;
  }
};
