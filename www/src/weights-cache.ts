/**
 * Model weights kept in the browser's Cache API, keyed by URL: the first load downloads them,
 * later loads (and later visits) read them from disk. Bundled models have content-hashed URLs,
 * so a new model is a new key; {@link pruneWeights} drops keys the site no longer ships.
 * Without the Cache API (an insecure origin) weights are simply downloaded each time.
 */

const CACHE_NAME = "grl-wasm-weights-v1";

/** Weights and where they came from. */
export interface Weights {
  bytes: Uint8Array<ArrayBuffer>;
  cached: boolean;
}

async function openCache(): Promise<Cache | null> {
  try {
    return "caches" in self ? await caches.open(CACHE_NAME) : null;
  } catch {
    return null; // e.g. storage disabled by the user
  }
}

/** Reads a response body, reporting the bytes received so far. */
async function readBody(response: Response, onBytes: (loaded: number, total: number | null) => void): Promise<Uint8Array<ArrayBuffer>> {
  const length = Number(response.headers.get("content-length"));
  const total = Number.isFinite(length) && length > 0 ? length : null;
  if (!response.body) return new Uint8Array(await response.arrayBuffer());
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let loaded = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    loaded += value.byteLength;
    onBytes(loaded, total);
  }
  const bytes = new Uint8Array(loaded);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

/**
 * The weights at `url`: from the cache when there (and `useCache`), else downloaded (with
 * progress) and then stored.
 */
export async function loadWeights(
  url: string,
  useCache: boolean,
  onBytes: (loaded: number, total: number | null) => void,
): Promise<Weights> {
  const cache = useCache ? await openCache() : null;
  const hit = await cache?.match(url);
  if (hit) return { bytes: new Uint8Array(await hit.arrayBuffer()), cached: true };
  let response: Response;
  try {
    response = await fetch(url);
  } catch (e) {
    throw new Error(`could not download the model (${e instanceof Error ? e.message : e})`);
  }
  if (!response.ok) throw new Error(`could not download the model: HTTP ${response.status} for ${url}`);
  const bytes = await readBody(response, onBytes);
  if (cache) {
    const headers = { "content-type": "application/octet-stream", "content-length": String(bytes.byteLength) };
    await cache.put(url, new Response(bytes, { headers })).catch(() => {
      // Quota exceeded or storage off: the model still works, it is just not kept.
    });
  }
  return { bytes, cached: false };
}

/** Deletes cached weights whose URL is not in `keep` (models this site no longer ships). */
export async function pruneWeights(keep: string[]): Promise<void> {
  const cache = await openCache();
  if (!cache) return;
  const wanted = new Set(keep);
  for (const request of await cache.keys()) {
    if (!wanted.has(request.url)) await cache.delete(request);
  }
}
