// The README's screenshot of the demo page: the built site (www/dist) served under /grl-wasm/ as
// on GitHub Pages, opened in headless Chromium, the sample photo restored by the default model,
// then the page captured with the comparison split at 30%.
//
//   node bench/screenshot.mjs [OUT=../docs/demo.png] [BACKEND=webgpu|cpu]
//
// cpu (the default) restores in seconds here; webgpu runs on SwiftShader on a machine without a
// GPU (minutes) but shows the WebGPU adapter in the details. Prints the file's size.
import { statSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { launchBrowser, serveDist } from "../tests/browser.mjs";

const [out = fileURLToPath(new URL("../../docs/demo.png", import.meta.url)), backend = "cpu"] = process.argv.slice(2);
const VIEWPORT = { width: 1000, height: 640 };

const site = await serveDist(undefined, { base: "/grl-wasm/" });
const browser = await launchBrowser({ webgpu: backend === "webgpu" });
try {
  const page = await browser.newPage({ viewport: VIEWPORT });
  await page.goto(site.url);
  await page.waitForFunction(() => document.body.dataset.state === "ready", null, { timeout: 120_000 });
  await page.click("#sample");
  await page.waitForFunction(() => ["done", "error"].includes(document.body.dataset.state), null, { timeout: 600_000 });
  const state = await page.evaluate(() => document.body.dataset.state);
  if (state !== "done") throw new Error(`the restore ended "${state}": ${await page.textContent("#notice")}`);
  // The split at 30%: more of the restored side (and a smaller PNG than half noise).
  await page.focus("#divider");
  for (let i = 0; i < 2; i++) await page.keyboard.press("Shift+ArrowLeft");
  await page.evaluate(() => document.activeElement.blur());
  await page.mouse.move(0, 0);
  await page.screenshot({ path: out });
  console.log(`${out}: ${statSync(out).size} bytes (${backend}, ${VIEWPORT.width}x${VIEWPORT.height})`);
} finally {
  await browser.close();
  await site.close();
}
