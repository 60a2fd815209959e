/** The details list: the model's backend and adapter, and the last result's sizes and time. */
import { formatSeconds, formatSize } from "../format";
import type { RestorerInfo } from "../protocol";

export interface DetailsElements {
  input: HTMLElement;
  output: HTMLElement;
  time: HTMLElement;
  backend: HTMLElement;
  adapter: HTMLElement;
}

const NONE = "—";

export class DetailsView {
  constructor(private readonly el: DetailsElements) {}

  /** Where the model runs (unknown while none is loaded). */
  showModel(model: { info: RestorerInfo } | null): void {
    const cpu = model?.info.threads && model.info.threads > 1 ? `CPU (WebAssembly, ${model.info.threads} workers)` : "CPU (WebAssembly)";
    this.el.backend.textContent = model ? (model.info.backend === "webgpu" ? "WebGPU" : cpu) : NONE;
    this.el.adapter.textContent = model?.info.adapter ?? NONE;
  }

  /** The opened image's size, before any result. */
  showInput(width: number, height: number): void {
    this.el.input.textContent = formatSize(width, height);
    this.el.output.textContent = NONE;
    this.el.time.textContent = NONE;
  }

  /** A finished restore. */
  showResult(width: number, height: number, scale: number, seconds: number, tiles: number, model: string): void {
    this.el.output.textContent = `${formatSize(width, height)}${scale > 1 ? ` (x${scale})` : ""}`;
    const tileWord = tiles === 1 ? "1 tile" : `${tiles} tiles`;
    this.el.time.textContent = `${formatSeconds(seconds)} · ${tileWord} · ${model}`;
  }
}
