// The foundation page: shows the WebGPU adapter and a computation done by Burn on it.
import init, { probe } from "grl-wasm";

interface ProbeResult {
  backend: string;
  adapter: string;
  values: number[];
  maxAbsErr: number;
}

const show = (id: string, text: string) => {
  document.getElementById(id)!.textContent = text;
};

async function adapterDescription(): Promise<string> {
  if (!("gpu" in navigator)) throw new Error("This browser has no WebGPU (navigator.gpu is missing).");
  const adapter = await navigator.gpu.requestAdapter();
  if (!adapter) throw new Error("WebGPU is present but offers no adapter.");
  const { vendor, architecture, description } = adapter.info;
  return [vendor, architecture, description].filter(Boolean).join(" / ") || "unnamed adapter";
}

async function main() {
  try {
    show("adapter", await adapterDescription());
    await init();
    const result = (await probe("webgpu")) as ProbeResult;
    show("probe", `softmax(q kᵀ/√d) v on ${result.backend}: ${result.values.length} values`);
    show("error", result.maxAbsErr.toExponential(2));
    show("values", result.values.map((v) => v.toFixed(5)).join("  "));
    document.body.dataset.state = "done";
  } catch (e) {
    show("probe", e instanceof Error ? e.message : String(e));
    document.body.dataset.state = "error";
  }
}

main();
