#!/usr/bin/env bash
# Command 2 of the README: installs what is missing, then runs every test: native cargo tests
# (CPU and wgpu on Vulkan), the browser tests (wasm-pack test in headless Chromium on WebGPU),
# and the www/ tests against the built demo page. Stops at the first failure.
set -euo pipefail
source "$(dirname "$0")/env.sh"
"$ROOT/scripts/setup.sh"
cd "$ROOT"

step "native tests: cargo test --release"
cargo test --release

step "browser tests: wasm-pack test $(python3 scripts/config.py test-flags)"
WASM_BINDGEN_TEST_TIMEOUT=$(python3 scripts/config.py get test.timeout) \
  wasm-pack test $(python3 scripts/config.py test-flags)

"$ROOT/scripts/build-package.sh"
step "www tests: build the demo page and drive it in headless Chromium"
cd www
npm run build
npm test
