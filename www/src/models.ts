/**
 * The models the site ships: every `models/*.safetensors` at the repository root, bundled by
 * Vite as hashed assets (a retrained model gets a new URL, so cached weights never go stale),
 * named by task for the model menu.
 */

/** One model the page can offer. */
export interface BundledModel {
  /** The file's stem, e.g. "denoise", "sr-x2". */
  id: string;
  /** What the menu says, e.g. "Denoise", "Upscale x2". */
  label: string;
  /** One line about what it does. */
  description: string;
  /** Absolute URL of the weights. */
  url: string;
}

/** Menu labels of the models we know by file name; others get a label made from the name. */
const KNOWN: Record<string, { label: string; description: string; order: number }> = {
  denoise: { label: "Denoise", description: "Removes noise from colour photos.", order: 0 },
  "sr-x2": { label: "Upscale x2", description: "Super-resolution: twice the width and height.", order: 1 },
  "sr-x3": { label: "Upscale x3", description: "Super-resolution: three times the width and height.", order: 2 },
  "sr-x4": { label: "Upscale x4", description: "Super-resolution: four times the width and height.", order: 3 },
  jpeg: { label: "Remove JPEG artefacts", description: "Removes blocking and ringing from JPEG photos.", order: 4 },
  deblur: { label: "Deblur", description: "Sharpens motion- or defocus-blurred photos.", order: 5 },
};

/** The id the page starts with. */
export const DEFAULT_MODEL_ID = "denoise";

const urls = import.meta.glob<string>("../../models/*.safetensors", { query: "?url", import: "default", eager: true });

function labelFor(id: string): string {
  const sr = /^sr-x(\d)$/.exec(id);
  if (sr) return `Upscale x${sr[1]}`;
  return id.replace(/[-_]+/g, " ").replace(/^./, (c) => c.toUpperCase());
}

/** The bundled models, known ones first in a fixed order, then the rest by name. */
export const BUNDLED_MODELS: BundledModel[] = Object.entries(urls)
  .map(([path, url]) => {
    const id = path.replace(/^.*\//, "").replace(/\.safetensors$/, "");
    const known = KNOWN[id];
    return {
      id,
      label: known?.label ?? labelFor(id),
      description: known?.description ?? "A GRL model bundled with this page.",
      url: new URL(url, document.baseURI).href,
      order: known?.order ?? 100,
    };
  })
  .sort((a, b) => a.order - b.order || a.id.localeCompare(b.id))
  .map(({ order: _order, ...model }) => model);

