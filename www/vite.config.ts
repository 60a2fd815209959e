import { defineConfig, type Plugin } from "vite";
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";

const modelsDir = fileURLToPath(new URL("../models", import.meta.url));

/**
 * Fails the build when ../models holds no web-format model: the site must ship its default
 * model. (The models themselves reach dist/ through `import.meta.glob` in src/models.ts, as
 * hashed assets, so a new model file gets a new URL and never meets a stale cached copy.)
 */
function requireBundledModels(): Plugin {
  return {
    name: "grl-require-bundled-models",
    buildStart() {
      let files: string[] = [];
      try {
        files = readdirSync(modelsDir).filter((f) => f.endsWith(".safetensors"));
      } catch {
        // reported below
      }
      if (!files.includes("denoise.safetensors")) {
        this.error(`${modelsDir}/denoise.safetensors is missing: the demo ships it as its default model`);
      }
    },
  };
}

// The package built by wasm-pack (../pkg), imported as an npm user would import "grl-wasm".
export default defineConfig({
  // Relative URLs, so that dist/ works from any static server and any sub-path.
  base: "./",
  resolve: {
    alias: { "grl-wasm": fileURLToPath(new URL("../pkg/grl_wasm.js", import.meta.url)) },
  },
  plugins: [requireBundledModels()],
  server: { fs: { allow: [".."] } },
  worker: { format: "es" },
  build: { target: "es2022", assetsInlineLimit: 0 },
});
