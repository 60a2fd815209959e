// Shared by the www tests: Debian's Chromium through playwright-core, with the flags of the
// repository's webdriver.json (the same browser setup as the wasm-pack browser tests), and
// a built site (www/dist, or a test's own app) served by Vite's preview server on a free local port.
import { readFileSync } from "node:fs";
import { chromium } from "playwright-core";
import { preview } from "vite";

const webdriver = JSON.parse(readFileSync(new URL("../../webdriver.json", import.meta.url), "utf8"));
const options = webdriver["goog:chromeOptions"];

/**
 * Launches headless Chromium with WebGPU (SwiftShader) enabled; with `webgpu: false`, without
 * --enable-unsafe-webgpu, where `navigator.gpu` exists but offers no adapter (as on a machine
 * whose GPU is blocklisted).
 */
export function launchBrowser({ webgpu = true } = {}) {
  const args = webgpu ? options.args : options.args.filter((a) => a !== "--enable-unsafe-webgpu");
  return chromium.launch({ executablePath: options.binary, args, headless: true });
}

/**
 * Serves the dist/ of `root` (default www, with its vite.config.ts) under the URL path `base`
 * (default "/"; "/grl-wasm/" as on GitHub Pages, where "/" and absolute asset paths are not the
 * site's); returns { url, close }, `url` ending in `base`.
 */
export async function serveDist(root, { base = "/" } = {}) {
  const config = root ? { root, configFile: false } : { root: new URL("..", import.meta.url).pathname };
  const server = await preview({ ...config, base, preview: { host: "127.0.0.1", port: 0 }, logLevel: "warn" });
  const url = server.resolvedUrls.local[0];
  return { url, close: () => server.close() };
}
