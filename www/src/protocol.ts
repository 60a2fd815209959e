/**
 * The messages between the page and the restoration worker (src/worker.ts). Every request
 * carries a `job` number that the worker's answers repeat.
 */
import type { RestorerInfo } from "grl-wasm";

export type { RestorerInfo };

/** Where a model runs: "auto" is WebGPU with the CPU as fallback. */
export type Backend = "auto" | "webgpu" | "cpu";

/** Where the weights come from. */
export type ModelSource =
  /** A bundled model, fetched once and then read from the browser's Cache API. */
  | { kind: "url"; url: string; cache: boolean }
  /** A file the user opened (not cached: it is on their disk already). */
  | { kind: "file"; name: string; bytes: ArrayBuffer };

/** A tile, in input pixels. */
export interface TileRect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** RGBA pixels, row-major, 4 bytes a pixel. */
export interface Pixels {
  width: number;
  height: number;
  data: Uint8ClampedArray<ArrayBuffer>;
}

/** Page to worker. */
export type Request =
  /** Loads a model (replacing the current one) on `backend`. */
  | { type: "load"; job: number; source: ModelSource; backend: Backend }
  /** Restores an image with the current model. */
  | { type: "restore"; job: number; image: Pixels; tileSize: number | "auto"; overlap: number }
  /** Stops a running restore before its next tile. */
  | { type: "cancel"; job: number };

/** Worker to page. */
export type Reply =
  /** Bytes of weights downloaded so far (`total` is null when the server does not say). */
  | { type: "download"; job: number; loaded: number; total: number | null }
  /**
   * The model is ready (`info.adapter` names what it runs on, as the browser says); `webgpu` is
   * null when WebGPU works here, else why it does not (the model then runs on the CPU when
   * the backend was "auto").
   */
  | { type: "loaded"; job: number; info: RestorerInfo; bytes: number; cached: boolean; webgpu: string | null }
  /** Tiles done of total, after each tile. */
  | { type: "progress"; job: number; done: number; total: number; tile: TileRect }
  /** The restored image, and the seconds the restore took. */
  | { type: "restored"; job: number; image: Pixels; seconds: number }
  /** A load or restore failed; `cancelled` when it stopped because it was cancelled. */
  | { type: "failed"; job: number; message: string; cancelled: boolean };
