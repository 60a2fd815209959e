/**
 * Settings read from the page's URL query, for links and automated checks:
 * `?tile=32` (tile side in pixels, or `auto`), `?overlap=8`, `?backend=cpu`, `?model=sr-x2`.
 */
import type { Backend } from "./protocol";

export interface Settings {
  /** Tile side in input pixels, or "auto" (the largest that fits the device). */
  tileSize: number | "auto";
  /** Pixels shared by neighbouring tiles. */
  overlap: number;
  backend: Backend;
  /** A bundled model id to start with, if given. */
  model: string | null;
}

export const DEFAULT_OVERLAP = 16;

function wholeNumber(value: string | null, min: number): number | null {
  if (value === null || !/^\d+$/.test(value)) return null;
  const n = Number(value);
  return n >= min ? n : null;
}

/** The settings in `search` (e.g. `location.search`); anything malformed is ignored. */
export function readSettings(search: string): Settings {
  const query = new URLSearchParams(search);
  const tile = query.get("tile");
  const backend = query.get("backend");
  return {
    tileSize: tile === null || tile === "auto" ? "auto" : (wholeNumber(tile, 8) ?? "auto"),
    overlap: wholeNumber(query.get("overlap"), 0) ?? DEFAULT_OVERLAP,
    backend: backend === "webgpu" || backend === "cpu" ? backend : "auto",
    model: query.get("model"),
  };
}
