/**
 * Sample photos, to try the page without an image of one's own: crops of scikit-image's
 * `chelsea` (CC0), made by scripts/make-samples.py; bundled by Vite as hashed assets.
 */
import noisyUrl from "../samples/cat-noisy.png?url";
import smallUrl from "../samples/cat-small.png?url";

/** The sample that suits a model of this scale: a small photo for an upscaler, a noisy one (sigma 25) otherwise. */
export function sampleFor(scale: number): { name: string; url: string } {
  return scale > 1 ? { name: "sample-cat-small.png", url: smallUrl } : { name: "sample-cat-noisy.png", url: noisyUrl };
}

/** Downloads the sample for a model of this scale, as a file the page opens like a user's. */
export async function fetchSample(scale: number): Promise<File> {
  const sample = sampleFor(scale);
  const response = await fetch(sample.url);
  if (!response.ok) throw new Error(`${sample.name}: the server answered ${response.status} ${response.statusText}`);
  return new File([await response.blob()], sample.name, { type: "image/png" });
}
