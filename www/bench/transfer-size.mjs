// What a visitor downloads from the built demo (www/dist) as GitHub Pages serves it.
//
//   node bench/transfer-size.mjs [DIST=dist]
//
// First visit: the page, every script and style it loads (followed from index.html through the
// assets each names: the worker, the .wasm), and the default model (DEFAULT_MODEL_ID in
// src/models.ts); not the other models or the sample photos, fetched only when asked for.
// GitHub Pages gzips text, scripts and .wasm on the fly (level unknown: shown at gzip -6, with
// -1 and -9 for the range) and sends .safetensors (application/octet-stream) and .png as they are.
// Second visit: GitHub Pages sends `Cache-Control: max-age=600` with an ETag. Within 10 minutes
// the browser's HTTP cache answers every file without a request; later each is revalidated
// (304 Not Modified: headers, no body). The model is read from the Cache API (src/weights-cache.ts)
// with no request at all; a new deploy changes the hashed names of changed assets only.
// The demo test (tests/demo.test.mjs) checks firstVisitFiles against the requests the page makes.
import { readFileSync, readdirSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

/** Extensions GitHub Pages compresses (by their content types); others are sent as stored. */
const COMPRESSED = [".html", ".js", ".css", ".wasm", ".json", ".svg"];
/** Assets followed for references: the ones the browser parses. */
const PARSED = [".html", ".js", ".css"];

/** The default model's id, as src/models.ts states it. */
export function defaultModelId(srcDir = fileURLToPath(new URL("../src/", import.meta.url))) {
  const match = /export const DEFAULT_MODEL_ID = "([^"]+)"/.exec(readFileSync(join(srcDir, "models.ts"), "utf8"));
  if (!match) throw new Error("src/models.ts: no DEFAULT_MODEL_ID");
  return match[1];
}

/** Every file under `dir`, as paths relative to it. */
function filesUnder(dir, root = dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? filesUnder(join(dir, e.name), root) : [relative(root, join(dir, e.name))],
  );
}

/**
 * The files of `dist` a first visit downloads: index.html, the scripts, styles and .wasm it
 * reaches by name (an asset is named in a file when its hashed file name occurs in the text),
 * and the default model. Sorted paths relative to `dist`.
 */
export function firstVisitFiles(dist, modelId = defaultModelId()) {
  const assets = filesUnder(dist).filter((f) => f !== "index.html");
  const seen = new Set(["index.html"]);
  const queue = ["index.html"];
  while (queue.length) {
    const text = readFileSync(join(dist, queue.pop()), "utf8");
    for (const asset of assets) {
      const name = asset.split("/").pop();
      const loadedNow = [...PARSED, ".wasm"].some((ext) => name.endsWith(ext));
      if (loadedNow && !seen.has(asset) && text.includes(name)) {
        seen.add(asset);
        if (PARSED.some((ext) => name.endsWith(ext))) queue.push(asset);
      }
    }
  }
  const model = assets.filter((f) => new RegExp(`(^|/)${modelId}-[\\w-]+\\.safetensors$`).test(f));
  if (model.length !== 1) throw new Error(`${dist}: expected one ${modelId} model asset, found ${model.length}`);
  return [...seen, ...model].sort();
}

/** Bytes on the wire for one file: gzipped at `level` when GitHub Pages compresses its type. */
function wireBytes(bytes, name, level) {
  return COMPRESSED.some((ext) => name.endsWith(ext)) ? gzipSync(bytes, { level }).length : bytes.length;
}

const mb = (n) => `${(n / 1e6).toFixed(2)} MB`;

function main() {
  const dist = process.argv[2] ?? fileURLToPath(new URL("../dist/", import.meta.url));
  const rows = firstVisitFiles(dist).map((name) => {
    const bytes = readFileSync(join(dist, name));
    return { name, raw: bytes.length, wire: [1, 6, 9].map((level) => wireBytes(bytes, name, level)) };
  });
  const total = (i) => rows.reduce((sum, r) => sum + (i < 0 ? r.raw : r.wire[i]), 0);
  console.log("first visit (GitHub Pages: gzip for html/js/css/wasm, .safetensors as stored):");
  for (const r of rows) console.log(`  ${r.name.padEnd(44)} ${String(r.raw).padStart(10)} raw ${String(r.wire[1]).padStart(10)} on the wire`);
  console.log(`  total: ${mb(total(1))} on the wire at gzip -6 (${mb(total(0))} at -1, ${mb(total(2))} at -9), ${mb(total(-1))} raw, ${rows.length} requests`);
  console.log(`second visit: 0 bytes of content; within 10 minutes (max-age=600) no request, later ${rows.length - 1} revalidations (304, headers only); the model comes from the Cache API`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main();
