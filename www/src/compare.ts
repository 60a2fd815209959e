/**
 * The image viewer: the opened image alone, then a before/after comparison with a split the
 * user drags (mouse, touch, or arrow keys on the handle). Two zooms: "fit" (the whole image in
 * the viewer) and "actual" (one image pixel per screen pixel, panned by dragging or scrolling).
 * Tiles that a running restore has finished are shaded over the image.
 */
import type { TileRect } from "./protocol";

export type Zoom = "fit" | "actual";

/** The elements the viewer drives (see index.html). */
export interface CompareElements {
  /** The scrolling box that holds the frame. */
  scroll: HTMLElement;
  /** The box sized to the displayed image; holds the canvases and overlays. */
  frame: HTMLElement;
  /** The input image (the "before" side). */
  before: HTMLCanvasElement;
  /** The restored image, at its own pixel size (the "after" side). */
  result: HTMLCanvasElement;
  /** Holds the finished-tile shading. */
  tiles: HTMLElement;
  /** The split line and its handle (role=slider). */
  divider: HTMLElement;
}

/** The most a small image is magnified to fit the viewer. */
const MAX_FIT_MAGNIFICATION = 8;

function draw(canvas: HTMLCanvasElement, image: ImageData): void {
  canvas.width = image.width;
  canvas.height = image.height;
  canvas.getContext("2d")!.putImageData(image, 0, 0);
}

export class CompareView {
  private zoom: Zoom = "fit";
  /** Where the split is, from 0 (all after) to 1 (all before). */
  private split = 0.5;
  private input: { width: number; height: number } | null = null;
  private output: { width: number; height: number } | null = null;
  /** Called when the zoom changes (so the page can update its zoom buttons). */
  onZoom: (zoom: Zoom) => void = () => {};

  constructor(private readonly el: CompareElements) {
    new ResizeObserver(() => this.layout()).observe(el.scroll);
    el.scroll.addEventListener("scroll", () => this.placeHandle(), { passive: true });
    el.frame.addEventListener("pointerdown", (e) => this.pointerDown(e));
    el.frame.addEventListener("dblclick", (e) => this.toggleZoomAt(e));
    el.divider.addEventListener("keydown", (e) => this.key(e));
    matchMedia(`(resolution: ${devicePixelRatio}dppx)`).addEventListener("change", () => this.layout());
  }

  /** Whether a result is shown next to the input. */
  get comparing(): boolean {
    return this.output !== null;
  }

  /** Shows `image` alone (a newly opened image), dropping any earlier result. */
  showInput(image: ImageData): void {
    draw(this.el.before, image);
    this.input = { width: image.width, height: image.height };
    this.clearResult();
  }

  /** Shows `image`, the restored input, in comparison with the input. */
  showResult(image: ImageData): void {
    draw(this.el.result, image);
    this.output = { width: image.width, height: image.height };
    this.split = 0.5;
    this.el.frame.classList.add("comparing");
    this.layout();
  }

  /** Back to the input alone. */
  clearResult(): void {
    this.output = null;
    this.el.result.width = 0;
    this.el.result.height = 0;
    this.el.frame.classList.remove("comparing");
    this.clearTiles();
    this.layout();
  }

  /** Shades a tile the restore has finished (in input pixels). */
  markTile(rect: TileRect): void {
    if (!this.input) return;
    const { width, height } = this.input;
    const x = Math.min(rect.x, width);
    const y = Math.min(rect.y, height);
    const box = document.createElement("div");
    box.className = "tile";
    box.style.left = `${(x / width) * 100}%`;
    box.style.top = `${(y / height) * 100}%`;
    box.style.width = `${((Math.min(rect.x + rect.width, width) - x) / width) * 100}%`;
    box.style.height = `${((Math.min(rect.y + rect.height, height) - y) / height) * 100}%`;
    this.el.tiles.append(box);
  }

  clearTiles(): void {
    this.el.tiles.replaceChildren();
  }

  setZoom(zoom: Zoom, focus: { x: number; y: number } = { x: 0.5, y: 0.5 }): void {
    this.zoom = zoom;
    this.layout();
    const { scroll, frame } = this.el;
    scroll.scrollLeft = focus.x * frame.offsetWidth - scroll.clientWidth / 2;
    scroll.scrollTop = focus.y * frame.offsetHeight - scroll.clientHeight / 2;
    this.onZoom(zoom);
  }

  /** Sizes the frame for the zoom, and places the split. */
  private layout(): void {
    const size = this.output ?? this.input;
    const { scroll, frame } = this.el;
    if (!size) return;
    // On phones the viewer takes the image's shape (see style.css).
    scroll.style.setProperty("--aspect", `${size.width} / ${size.height}`);
    scroll.classList.add("has-image");
    const dpr = devicePixelRatio || 1;
    const style = getComputedStyle(scroll);
    const roomX = scroll.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    const roomY = scroll.clientHeight - parseFloat(style.paddingTop) - parseFloat(style.paddingBottom);
    const factor =
      this.zoom === "fit" ? Math.min(roomX / size.width, roomY / size.height, MAX_FIT_MAGNIFICATION) : 1 / dpr;
    frame.style.width = `${Math.max(1, Math.floor(size.width * factor))}px`;
    frame.style.height = `${Math.max(1, Math.floor(size.height * factor))}px`;
    // Magnified pixels drawn as squares: what the pixels are, not the browser's blur.
    frame.classList.toggle("pixelated", factor * dpr > 1.01);
    frame.classList.toggle("small", size.width * factor < 200 || size.height * factor < 80);
    scroll.classList.toggle("actual", this.zoom === "actual");
    frame.style.setProperty("--split", String(this.split));
    this.placeHandle();
  }

  /** Keeps the split handle in the visible middle of a frame taller than the viewer. */
  private placeHandle(): void {
    const { scroll, frame } = this.el;
    const top = Math.max(0, scroll.scrollTop - frame.offsetTop);
    const visible = Math.min(frame.offsetHeight - top, scroll.clientHeight);
    frame.style.setProperty("--handle-y", `${top + visible / 2}px`);
  }

  private setSplit(split: number): void {
    this.split = Math.min(1, Math.max(0, split));
    this.el.frame.style.setProperty("--split", String(this.split));
    this.el.divider.setAttribute("aria-valuenow", String(Math.round(this.split * 100)));
  }

  private pointerDown(e: PointerEvent): void {
    if (e.button !== 0) return;
    const { frame, scroll, divider } = this.el;
    const onDivider = divider.contains(e.target as Node);
    const splitting = this.comparing && (onDivider || this.zoom === "fit");
    const panning = !splitting && this.zoom === "actual";
    if (!splitting && !panning) return;
    e.preventDefault();
    frame.setPointerCapture(e.pointerId);
    const start = { x: e.clientX, y: e.clientY, left: scroll.scrollLeft, top: scroll.scrollTop };
    const move = (m: PointerEvent) => {
      if (splitting) {
        const rect = frame.getBoundingClientRect();
        this.setSplit((m.clientX - rect.left) / rect.width);
      } else {
        scroll.scrollLeft = start.left - (m.clientX - start.x);
        scroll.scrollTop = start.top - (m.clientY - start.y);
      }
    };
    const end = () => {
      frame.removeEventListener("pointermove", move);
      frame.removeEventListener("pointerup", end);
      frame.removeEventListener("pointercancel", end);
      frame.classList.remove("dragging");
    };
    frame.classList.add("dragging");
    frame.addEventListener("pointermove", move);
    frame.addEventListener("pointerup", end);
    frame.addEventListener("pointercancel", end);
    if (splitting && !onDivider) move(e);
    if (onDivider) divider.focus({ preventScroll: true });
  }

  private toggleZoomAt(e: MouseEvent): void {
    const rect = this.el.frame.getBoundingClientRect();
    const focus = { x: (e.clientX - rect.left) / rect.width, y: (e.clientY - rect.top) / rect.height };
    this.setZoom(this.zoom === "fit" ? "actual" : "fit", focus);
  }

  private key(e: KeyboardEvent): void {
    const step = e.shiftKey ? 0.1 : 0.02;
    const moves: Record<string, number> = { ArrowLeft: this.split - step, ArrowRight: this.split + step, Home: 0, End: 1 };
    if (!(e.key in moves)) return;
    e.preventDefault();
    this.setSplit(moves[e.key]);
  }
}
