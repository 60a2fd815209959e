/**
 * The progress bar of a restore: tiles done of total and the time left, estimated from the
 * tiles after the first (the first one also pays for compiling the GPU kernels).
 */
import { formatSeconds } from "../format";

export class ProgressView {
  private started = 0;
  private firstTileAt = 0;

  constructor(
    private readonly bar: HTMLProgressElement,
    private readonly label: HTMLElement,
  ) {}

  /** A new run: an indeterminate bar until the first tile is done. */
  start(text = "Starting…"): void {
    this.started = performance.now();
    this.firstTileAt = 0;
    this.bar.removeAttribute("value");
    this.bar.max = 1;
    this.label.textContent = text;
  }

  /** `done` of `total` tiles finished. */
  update(done: number, total: number): void {
    const now = performance.now();
    if (done === 1 || !this.firstTileAt) this.firstTileAt = now;
    this.bar.max = total;
    this.bar.value = done;
    let left = "";
    if (done >= total) {
      left = "finishing…";
    } else if (done >= 2) {
      const perTile = (now - this.firstTileAt) / 1000 / (done - 1);
      left = `about ${formatSeconds(perTile * (total - done))} left`;
    } else {
      const perTile = (now - this.started) / 1000 / done;
      left = `at most ${formatSeconds(perTile * (total - done))} left`;
    }
    this.label.textContent = `Tile ${done} of ${total} · ${left}`;
  }

  /** Download progress of the weights (`total` null when unknown). */
  bytes(text: string, loaded: number, total: number | null): void {
    if (total) {
      this.bar.max = total;
      this.bar.value = loaded;
    } else {
      this.bar.removeAttribute("value");
    }
    this.label.textContent = text;
  }

  /** A finished or stopped run: a full or empty bar and a last word. */
  finish(text: string, full: boolean): void {
    this.bar.max = 1;
    this.bar.value = full ? 1 : 0;
    this.label.textContent = text;
  }
}
