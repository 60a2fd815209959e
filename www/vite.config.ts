import { defineConfig } from "vite";
import { fileURLToPath } from "node:url";

// The package built by wasm-pack (../pkg), imported as an npm user would import "grl-wasm".
export default defineConfig({
  resolve: {
    alias: { "grl-wasm": fileURLToPath(new URL("../pkg/grl_wasm.js", import.meta.url)) },
  },
  server: { fs: { allow: [".."] } },
  build: { target: "es2022" },
});
