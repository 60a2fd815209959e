// End to end: the built demo page in headless Chromium reaches WebGPU and shows Burn's result.
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { after, before, test } from "node:test";
import { launchBrowser, serveDist } from "./browser.mjs";

let browser;
let site;

before(async () => {
  site = await serveDist();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await site?.close();
});

test("the page shows the WebGPU adapter and Burn's probe on it", async () => {
  const page = await browser.newPage();
  const logs = [];
  page.on("console", (m) => logs.push(m.text()));
  await page.goto(site.url);
  await page.waitForFunction(() => document.body.dataset.state !== "loading", null, { timeout: 300_000 });
  mkdirSync("test-results", { recursive: true });
  await page.screenshot({ path: "test-results/foundation.png", fullPage: true });
  const state = await page.evaluate(() => document.body.dataset.state);
  const probe = await page.textContent("#probe");
  assert.equal(state, "done", `page failed: ${probe}\n${logs.join("\n")}`);
  const adapter = await page.textContent("#adapter");
  assert.ok(adapter && adapter.length > 2 && adapter !== "…", `adapter shown: ${adapter}`);
  const error = Number(await page.textContent("#error"));
  console.log(`adapter: ${adapter}; probe error vs f64: ${error}`);
  assert.ok(error < 1e-5, `probe error ${error}`);
  const values = (await page.textContent("#values")).trim().split(/\s+/).map(Number);
  assert.equal(values.length, 32);
  assert.ok(values.some((v) => Math.abs(v) > 1e-3), "values are not all zero");
});
