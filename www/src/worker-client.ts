/**
 * The page's side of the restoration worker: requests as promises, progress as callbacks, and
 * a cancel that always works. The package stops a restore before its next tile; when a tile
 * takes longer than {@link CANCEL_GRACE_MS} (a slow GPU, or the CPU fallback, which computes
 * in one piece), the worker is ended and a fresh one reloads the model.
 */
import type { Backend, ModelSource, Pixels, Reply, Request, RestorerInfo, TileRect } from "./protocol";

/** How long a cancel may wait for the current tile before the worker is replaced. */
export const CANCEL_GRACE_MS = 2000;

/** A load or restore that stopped because it was cancelled. */
export class CancelledError extends Error {
  constructor() {
    super("cancelled");
    this.name = "CancelledError";
  }
}

/** A model the worker has loaded. */
export interface LoadedModel {
  info: RestorerInfo;
  bytes: number;
  cached: boolean;
  /** Null when WebGPU works, else why not. */
  webgpu: string | null;
}

/** A restore's outcome. */
export interface Restored {
  image: ImageData;
  seconds: number;
}

/** A restore under way. */
export interface RestoreJob {
  promise: Promise<Restored>;
  /** Asks it to stop; the promise then rejects with {@link CancelledError}. */
  cancel(): void;
}

interface Pending {
  resolve: (reply: Reply) => void;
  reject: (error: Error) => void;
  onReply?: (reply: Reply) => void;
}

export class RestorationWorker {
  private worker!: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextJob = 1;
  private lastLoad: { source: ModelSource; backend: Backend } | null = null;
  /**
   * Called when a cancel had to replace the worker: `reload` is the current model loading
   * again in the new one.
   */
  onRestart: (reload: Promise<LoadedModel>) => void = () => {};

  constructor() {
    this.spawn();
  }

  /** Loads a model, replacing the current one; `onDownload` hears of the weights' bytes. */
  load(source: ModelSource, backend: Backend, onDownload?: (loaded: number, total: number | null) => void): Promise<LoadedModel> {
    this.lastLoad = { source, backend };
    const job = this.nextJob++;
    return this.request({ type: "load", job, source, backend }, (reply) => {
      if (reply.type === "download") onDownload?.(reply.loaded, reply.total);
    }).then((reply) => {
      if (reply.type !== "loaded") throw new Error(`unexpected reply ${reply.type}`);
      const { info, bytes, cached, webgpu } = reply;
      return { info, bytes, cached, webgpu };
    });
  }

  /** Restores `image` with the loaded model; `onProgress` hears of each tile done. */
  restore(
    image: ImageData,
    options: { tileSize: number | "auto"; overlap: number },
    onProgress?: (done: number, total: number, tile: TileRect) => void,
  ): RestoreJob {
    const job = this.nextJob++;
    const pixels: Pixels = { width: image.width, height: image.height, data: image.data };
    const promise = this.request({ type: "restore", job, image: pixels, ...options }, (reply) => {
      if (reply.type === "progress") onProgress?.(reply.done, reply.total, reply.tile);
    }).then((reply) => {
      if (reply.type !== "restored") throw new Error(`unexpected reply ${reply.type}`);
      const { width, height, data } = reply.image;
      return { image: new ImageData(data, width, height), seconds: reply.seconds };
    });
    return { promise, cancel: () => this.cancel(job) };
  }

  private cancel(job: number): void {
    if (!this.pending.has(job)) return;
    this.post({ type: "cancel", job });
    setTimeout(() => {
      if (this.pending.has(job)) this.restart();
    }, CANCEL_GRACE_MS);
  }

  /** Ends the worker (everything pending is cancelled) and starts a fresh one with the model. */
  private restart(): void {
    console.warn(`cancel: the current tile did not end within ${CANCEL_GRACE_MS} ms; replacing the worker`);
    this.worker.terminate();
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const p of pending) p.reject(new CancelledError());
    this.spawn();
    if (this.lastLoad) this.onRestart(this.load(this.lastLoad.source, this.lastLoad.backend));
  }

  private spawn(): void {
    this.worker = new Worker(new URL("./worker.ts", import.meta.url), { type: "module", name: "grl-restorer" });
    this.worker.onmessage = (event: MessageEvent<Reply>) => this.receive(event.data);
    this.worker.onerror = (event) => {
      // A worker that failed (to start, usually) is replaced, so later requests do not hang.
      this.worker.terminate();
      this.failAll(`the restoration worker stopped: ${event.message || "it could not start"}`);
      this.spawn();
    };
    this.worker.onmessageerror = () => this.failAll("the restoration worker sent a message the page could not read");
  }

  private receive(reply: Reply): void {
    const pending = this.pending.get(reply.job);
    if (!pending) return;
    switch (reply.type) {
      case "download":
      case "progress":
        pending.onReply?.(reply);
        return;
      case "failed":
        this.pending.delete(reply.job);
        pending.reject(reply.cancelled ? new CancelledError() : new Error(reply.message));
        return;
      default:
        this.pending.delete(reply.job);
        pending.resolve(reply);
    }
  }

  private failAll(message: string): void {
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const p of pending) p.reject(new Error(message));
  }

  private request(message: Request, onReply: (reply: Reply) => void): Promise<Reply> {
    return new Promise((resolve, reject) => {
      this.pending.set(message.job, { resolve, reject, onReply });
      this.post(message);
    });
  }

  private post(message: Request): void {
    // Copies, not transfers: the page keeps its input, and the model's bytes for a restart.
    this.worker.postMessage(message);
  }
}
