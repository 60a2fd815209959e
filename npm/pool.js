// The Web Workers of the CPU fallback (src/web/pool.rs drives them). Each worker runs its own
// instance of the package's WebAssembly module with its own copy of the model, and restores the
// tiles it is sent; the scheduler in Rust cuts the tiles and blends the results in order.
//
// wasm-bindgen copies this file to snippets/<crate>/npm/pool.js in the package. It is both the
// pool (imported by the package's JS) and each worker's script: a worker is started on this
// file's own URL (`new Worker(new URL(..., import.meta.url))`, which Vite, webpack and Parcel
// bundle) and knows itself by its name. No shared memory: it works on any static host, without
// cross-origin isolation headers.

const NAME = "grl-wasm tile worker";

const message = (e) => String(e?.message ?? e);

/**
 * Starts `size` workers, each with an instance of `module` (the page's compiled
 * WebAssembly.Module, so no worker fetches or compiles it again) and a copy of the `weights`.
 * Resolves to a pool of the workers that started; rejects with the first worker's error when
 * none did (no Worker support, a bundler that did not ship this file, a failed load).
 */
export async function startPool(module, weights, size) {
  weights = weights.slice(); // a view of WebAssembly memory: copied before it can move
  const starts = await Promise.allSettled(Array.from({ length: size }, () => startWorker(module, weights)));
  const workers = starts.filter((s) => s.status === "fulfilled").map((s) => s.value);
  if (workers.length === 0) throw new Error(`no worker started: ${message(starts[0]?.reason)}`);
  return new WorkerPool(workers);
}

function startWorker(module, weights) {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL("./pool.js", import.meta.url), { type: "module", name: NAME });
    worker.onerror = (event) => {
      worker.terminate();
      reject(new Error(event.message || "the worker script did not load"));
    };
    worker.onmessage = ({ data }) => {
      if (data.ready) return resolve(worker);
      worker.terminate();
      reject(new Error(data.error));
    };
    worker.postMessage({ module: module instanceof WebAssembly.Module ? module : undefined, weights });
  });
}

/** Started workers: `run` sends one a batch of tiles, `terminate` ends them all. */
class WorkerPool {
  #workers;
  /** Jobs sent and not answered: id -> { worker, job, resolve }. */
  #pending = new Map();
  #nextId = 0;
  #ended = null;

  constructor(workers) {
    this.#workers = workers;
    workers.forEach((worker, index) => {
      worker.onmessage = ({ data }) => this.#settle(data.id, data.output ? { output: data.output } : { error: data.error });
      worker.onerror = (event) => this.#failWorker(index, `a worker failed: ${event.message || "unknown error"}`);
    });
  }

  get size() {
    return this.#workers.length;
  }

  /** Whether `terminate` was called. */
  get ended() {
    return this.#ended !== null;
  }

  /**
   * Runs `count` tiles (planar `input`, transferred) on worker `worker`. Never rejects:
   * resolves to `{ job, output }` (a Float32Array) or `{ job, error }`.
   */
  run(worker, job, input, count, channels, height, width, extra) {
    if (this.#ended) return Promise.resolve({ job, error: this.#ended });
    const id = this.#nextId++;
    return new Promise((resolve) => {
      this.#pending.set(id, { worker, job, resolve });
      this.#workers[worker].postMessage({ id, input, count, channels, height, width, extra }, [input.buffer]);
    });
  }

  /** Ends every worker; jobs in flight resolve with an error. */
  terminate() {
    this.#ended ??= "the Restorer was disposed";
    this.#workers.forEach((worker) => worker.terminate());
    for (const id of [...this.#pending.keys()]) this.#settle(id, { error: this.#ended });
  }

  #settle(id, result) {
    const pending = this.#pending.get(id);
    if (!pending) return;
    this.#pending.delete(id);
    pending.resolve({ job: pending.job, ...result });
  }

  #failWorker(index, error) {
    for (const [id, pending] of [...this.#pending]) if (pending.worker === index) this.#settle(id, { error });
  }
}

// In a worker of the pool: load the module and the model, then restore the tiles sent, one at a time.
if (typeof WorkerGlobalScope !== "undefined" && self instanceof WorkerGlobalScope && self.name === NAME) {
  let tiles;
  let queue = Promise.resolve();
  self.onmessage = ({ data }) => {
    queue = queue.then(() => (data.weights ? start(data) : restore(data)));
  };
  const start = async ({ module, weights }) => {
    try {
      // The package's entry, seen from snippets/<crate>/npm/: imported here, not at the top,
      // as it imports this file; a string literal, so that bundlers follow it.
      const pkg = await import("../../../grl_wasm.js");
      await pkg.default({ module_or_path: module });
      tiles = new pkg.TileWorker(weights);
      self.postMessage({ ready: true });
    } catch (e) {
      self.postMessage({ error: message(e) });
    }
  };
  const restore = async ({ id, input, count, channels, height, width, extra }) => {
    try {
      const output = await tiles.run(input, count, channels, height, width, extra);
      self.postMessage({ id, output }, [output.buffer]);
    } catch (e) {
      self.postMessage({ id, error: message(e) });
    }
  };
}
