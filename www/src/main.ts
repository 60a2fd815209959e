/**
 * The demo page: open an image, restore it with a GRL model in a Web Worker, compare, save.
 *
 * `document.body.dataset.state` tells automated checks where the page is: "loading" (a model
 * is loading), "ready", "running", "cancelling", "done", "cancelled" or "error".
 */
import "./style.css";
import { CompareView } from "./compare";
import { formatBytes, formatCount, formatSize } from "./format";
import { canvasToPng, decodeImage, ImageFileError, resultFileName, saveBlob, sizeProblem, type OpenedImage } from "./image-io";
import { BUNDLED_MODELS, DEFAULT_MODEL_ID } from "./models";
import type { Backend } from "./protocol";
import { fetchSample } from "./samples";
import { readSettings } from "./settings";
import { DetailsView } from "./ui/details";
import { byId } from "./ui/dom";
import { wireImageInput } from "./ui/image-input";
import { bundledChoice, ModelMenu, type ModelChoice } from "./ui/model-menu";
import { Notice } from "./ui/notice";
import { ProgressView } from "./ui/progress";
import { pruneWeights } from "./weights-cache";
import { CancelledError, RestorationWorker, type LoadedModel, type RestoreJob } from "./worker-client";

type State = "loading" | "ready" | "running" | "cancelling" | "done" | "cancelled" | "error";

const settings = readSettings(location.search);

const el = {
  file: byId<HTMLInputElement>("file"),
  empty: byId("empty"),
  frame: byId("frame"),
  imageName: byId("image-name"),
  sizes: byId("sizes"),
  zoomFit: byId<HTMLButtonElement>("zoom-fit"),
  zoomActual: byId<HTMLButtonElement>("zoom-actual"),
  modelMeta: byId("model-meta"),
  restore: byId<HTMLButtonElement>("restore"),
  cancel: byId<HTMLButtonElement>("cancel"),
  download: byId<HTMLButtonElement>("download"),
  tile: byId<HTMLSelectElement>("tile"),
  backend: byId<HTMLSelectElement>("backend"),
};

const worker = new RestorationWorker();
const viewer = new CompareView({
  scroll: byId("viewer-scroll"),
  frame: el.frame,
  before: byId<HTMLCanvasElement>("before"),
  result: byId<HTMLCanvasElement>("result"),
  tiles: byId("tiles"),
  divider: byId("divider"),
});
const progress = new ProgressView(byId<HTMLProgressElement>("progress"), byId("progress-text"));
const notice = new Notice(byId("notice"));
const envNotice = new Notice(byId("env-notice"));
const details = new DetailsView({
  input: byId("d-input"),
  output: byId("d-output"),
  time: byId("d-time"),
  backend: byId("d-backend"),
  adapter: byId("d-adapter"),
});
const menu = new ModelMenu(byId<HTMLSelectElement>("model"), byId<HTMLButtonElement>("own-model"));

let state: State = "loading";
let choice: ModelChoice | null = null;
/** The loaded model; null while one loads (or failed to). */
let model: LoadedModel | null = null;
/** Counts model loads, so that a superseded load's answer is ignored. */
let loads = 0;
let image: OpenedImage | null = null;
/** An image was opened and waits for a model to restore it with. */
let wantRun = false;
let job: RestoreJob | null = null;
/** Settles when the running restore has ended, however it ended. */
let jobEnded: Promise<void> = Promise.resolve();
let result: { canvasName: string } | null = null;

/** Sets the state and what the controls allow in it. */
function setState(next: State): void {
  state = next;
  document.body.dataset.state = next;
  const busy = next === "running" || next === "cancelling";
  el.restore.disabled = busy || !model || !image || tooLarge() !== null;
  el.restore.hidden = busy;
  el.cancel.hidden = !busy;
  el.cancel.disabled = next === "cancelling";
  el.download.disabled = busy || !result;
  menu.disabled = busy;
  el.backend.disabled = busy;
  el.restore.textContent = result ? "Restore again" : "Restore";
}

/** Why the open image is too large for the loaded model, or null. */
function tooLarge(): string | null {
  return model && image ? sizeProblem(image.pixels.width, image.pixels.height, model.info.scale) : null;
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Shows a failure and puts the page in the "error" state (`stopped`: a load or restore ended). */
function fail(title: string, text: string, stopped = true): void {
  if (stopped) progress.finish("Stopped.", false);
  notice.show("error", title, text);
  setState("error");
}

function backend(): Backend {
  return el.backend.value as Backend;
}

function tileSize(): number | "auto" {
  return el.tile.value === "auto" ? "auto" : Number(el.tile.value);
}

function describeModel(loaded: LoadedModel | null, next: ModelChoice): void {
  if (!loaded) {
    el.modelMeta.textContent = next.description;
    return;
  }
  const { info } = loaded;
  const facts = [
    `${formatCount(info.params)} parameters`,
    // Bundled models say their scale in their description.
    ...(next.id === "custom" ? [info.scale > 1 ? `output x${info.scale}` : "same size out"] : []),
    `${formatBytes(loaded.bytes)}${loaded.cached ? ", cached" : ""}`,
  ];
  el.modelMeta.textContent = `${next.description} ${facts.join(" · ")}.`;
}

/** Says when the model runs on the CPU although the user did not ask for it, and why. */
function showBackendNotice(loaded: LoadedModel): void {
  if (loaded.info.backend === "cpu" && backend() === "auto") {
    // The package's words for a software adapter passed over (see RestorerInfo.fallbackReason).
    const software = loaded.info.fallbackReason?.startsWith("WebGPU runs on a software adapter") ?? false;
    envNotice.show(
      "warn",
      software ? "WebGPU runs in software here: restoring on the CPU, which is faster." : "No WebGPU here: restoring on the CPU.",
      software
        ? `${loaded.info.fallbackReason}. Choose WebGPU in the settings to use it anyway.`
        : `${loaded.webgpu ?? loaded.info.fallbackReason ?? "WebGPU did not start."} It works, but usually far more slowly than on a GPU; Chrome and Edge 113 or later have WebGPU on most computers.`,
    );
  } else {
    envNotice.hide();
  }
}

/** Loads `next` in the worker; restores the open image with it once loaded. */
async function loadModel(next: ModelChoice): Promise<void> {
  const load = ++loads;
  choice = next;
  model = null;
  menu.show(next.id);
  describeModel(null, next);
  details.showModel(null);
  notice.hide();
  progress.start(`Loading ${next.label}…`);
  setState("loading");
  try {
    const loaded = await worker.load(next.source, backend(), (bytes, total) =>
      progress.bytes(`Downloading ${next.label}: ${formatBytes(bytes)}${total ? ` of ${formatBytes(total)}` : ""}`, bytes, total),
    );
    if (load !== loads) return;
    modelLoaded(loaded, next);
    progress.finish(`${next.label} is ready${loaded.cached ? " (weights from the browser's cache)" : ""}.`, false);
    if (image) run();
    else setState("ready");
  } catch (e) {
    if (load !== loads) return;
    progress.finish("No model loaded.", false);
    fail(`Could not load the model “${next.label}”.`, messageOf(e), false);
  }
}

function modelLoaded(loaded: LoadedModel, loadedChoice: ModelChoice): void {
  model = loaded;
  describeModel(loaded, loadedChoice);
  details.showModel(loaded);
  document.body.dataset.backend = loaded.info.backend;
  showBackendNotice(loaded);
}

/** After a cancel replaced the worker: the same model loads again, quietly. */
worker.onRestart = (reload) => {
  const load = ++loads;
  model = null;
  const reloading = choice;
  el.modelMeta.textContent = "Reloading the model…";
  reload
    .then((loaded) => {
      if (load !== loads || !reloading) return;
      modelLoaded(loaded, reloading);
      if (wantRun) run();
      else setState(state);
    })
    .catch((e) => {
      if (load === loads) fail("Could not reload the model.", messageOf(e));
    });
};

/** Opens an image file: shows it, then restores it. */
async function openImage(file: File): Promise<void> {
  const name = file.name || "pasted image";
  let opened: OpenedImage;
  try {
    opened = await decodeImage(file, name);
  } catch (e) {
    fail("Cannot open this file.", e instanceof ImageFileError ? e.message : messageOf(e), false);
    return;
  }
  if (job) {
    job.cancel();
    await jobEnded;
  }
  image = opened;
  result = null;
  const { width, height } = opened.pixels;
  viewer.showInput(opened.pixels);
  el.empty.hidden = true;
  el.frame.hidden = false;
  el.imageName.textContent = name;
  el.sizes.textContent = formatSize(width, height);
  details.showInput(width, height);
  notice.hide();
  wantRun = true;
  if (model) run();
  else setState(state); // the restore starts once the model has loaded
}

/** Opens the sample photo that suits the chosen model (noisy for a denoiser, small for an upscaler, a JPEG for the artefact remover). */
async function openSample(): Promise<void> {
  let file: File;
  try {
    file = await fetchSample(model?.info ?? { task: "dn", scale: 1 });
  } catch (e) {
    fail("Cannot open the sample photo.", messageOf(e), false);
    return;
  }
  await openImage(file);
}

/** Restores the open image with the loaded model. */
function run(): void {
  if (!model || !image || job || !choice) return;
  wantRun = false;
  const { width, height } = image.pixels;
  const { scale } = model.info;
  const problem = tooLarge();
  if (problem) {
    progress.finish("Not restored.", false);
    fail("This image is too large.", problem, false);
    return;
  }
  const runChoice = choice;
  const source = image;
  notice.hide();
  viewer.clearTiles();
  progress.start("Restoring…");
  let tiles = 0;
  const current = worker.restore(source.pixels, { tileSize: tileSize(), overlap: settings.overlap }, (done, total, tile) => {
    tiles = total;
    progress.update(done, total);
    viewer.markTile(tile);
  });
  job = current;
  setState("running");
  jobEnded = current.promise.then(
    ({ image: restored, seconds }) => {
      job = null;
      result = { canvasName: resultFileName(source.name, runChoice.id) };
      viewer.clearTiles();
      viewer.showResult(restored);
      el.sizes.textContent = `${formatSize(width, height)} → ${formatSize(restored.width, restored.height)}`;
      details.showResult(restored.width, restored.height, scale, seconds, tiles, runChoice.label);
      progress.finish(`Done: ${runChoice.label}. Drag the line to compare.`, true);
      setState("done");
    },
    (e) => {
      job = null;
      viewer.clearTiles();
      if (e instanceof CancelledError) {
        progress.finish("Cancelled.", false);
        notice.show("info", "Cancelled.", "The image is as it was; press Restore to run it again.");
        setState("cancelled");
      } else {
        fail("The restore failed.", messageOf(e));
      }
    },
  );
}

function cancel(): void {
  if (!job) return;
  job.cancel();
  progress.finish("Cancelling…", false);
  setState("cancelling");
}

async function download(): Promise<void> {
  if (!result) return;
  try {
    saveBlob(await canvasToPng(byId<HTMLCanvasElement>("result")), result.canvasName);
  } catch (e) {
    notice.show("error", "Could not save the PNG.", messageOf(e));
  }
}

function setupControls(): void {
  wireImageInput(el.file, (file) => void openImage(file));
  byId<HTMLButtonElement>("sample").addEventListener("click", () => void openSample());
  el.restore.addEventListener("click", run);
  el.cancel.addEventListener("click", cancel);
  window.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && job) cancel();
  });
  el.download.addEventListener("click", () => void download());
  el.zoomFit.addEventListener("click", () => viewer.setZoom("fit"));
  el.zoomActual.addEventListener("click", () => viewer.setZoom("actual"));
  viewer.onZoom = (zoom) => {
    el.zoomFit.setAttribute("aria-pressed", String(zoom === "fit"));
    el.zoomActual.setAttribute("aria-pressed", String(zoom === "actual"));
  };
  menu.onChoose = (next) => void loadModel(next);
  menu.onFileError = (message) => fail("Cannot open this model file.", message, false);
  if (typeof settings.tileSize === "number" && !Array.from(el.tile.options).some((o) => o.value === String(settings.tileSize))) {
    el.tile.add(new Option(`${settings.tileSize} px (from the URL)`, String(settings.tileSize)));
  }
  el.tile.value = String(settings.tileSize);
  el.backend.value = settings.backend;
  el.backend.addEventListener("change", () => {
    if (choice) void loadModel(choice);
  });
}

function start(): void {
  setupControls();
  void pruneWeights(BUNDLED_MODELS.map((m) => m.url));
  const first = bundledChoice(settings.model ?? DEFAULT_MODEL_ID) ?? bundledChoice(BUNDLED_MODELS[0]?.id ?? "");
  if (!first) {
    fail("This build has no bundled model.", "Use your own model file (a GRL checkpoint converted with grl convert).");
    return;
  }
  void loadModel(first);
}

start();
