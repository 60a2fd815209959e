/**
 * Sample photos, to try the page without an image of one's own: crops of scikit-image's
 * `chelsea` (CC0), made by scripts/make-samples.py; bundled by Vite as hashed assets.
 */
import jpegUrl from "../samples/cat-jpeg.jpg?url";
import noisyUrl from "../samples/cat-noisy.png?url";
import smallUrl from "../samples/cat-small.png?url";
import tinyUrl from "../samples/cat-tiny.png?url";

/** What a sample is chosen by: the loaded model's task and scale. */
export interface SampleModel {
  task: string;
  scale: number;
}

interface Sample {
  name: string;
  url: string;
  type: string;
}

/**
 * The sample that suits a model: a quarter-size photo for an x4 upscaler (its output stays
 * small), a half-size one for other upscalers, a JPEG of quality 15 for a JPEG artefact
 * remover, a noisy one (sigma 25) otherwise.
 */
export function sampleFor(model: SampleModel): Sample {
  if (model.scale >= 4) return { name: "sample-cat-tiny.png", url: tinyUrl, type: "image/png" };
  if (model.scale > 1) return { name: "sample-cat-small.png", url: smallUrl, type: "image/png" };
  if (model.task === "jpeg") return { name: "sample-cat-jpeg.jpg", url: jpegUrl, type: "image/jpeg" };
  return { name: "sample-cat-noisy.png", url: noisyUrl, type: "image/png" };
}

/** Downloads the sample for a model, as a file the page opens like a user's. */
export async function fetchSample(model: SampleModel): Promise<File> {
  const sample = sampleFor(model);
  const response = await fetch(sample.url);
  if (!response.ok) throw new Error(`${sample.name}: the server answered ${response.status} ${response.statusText}`);
  return new File([await response.blob()], sample.name, { type: sample.type });
}
