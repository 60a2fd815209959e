#!/usr/bin/env bash
# Command 2 of the README: installs what is missing, then runs every test: the workflow lint and
# the crate's package list (seconds), native cargo tests (CPU and wgpu on Vulkan), the browser
# tests (wasm-pack test in headless Chromium on WebGPU), and the www/ tests against the built
# npm package and demo page (the steps the Pages workflow runs before it deploys www/dist).
# Stops at the first failure.
set -euo pipefail
source "$(dirname "$0")/env.sh"
"$ROOT/scripts/setup.sh"
cd "$ROOT"

"$ROOT/scripts/lint-workflows.sh"
step "crate package: its file list, cargo publish --dry-run --no-verify"
"$ROOT/scripts/check-crate.py"

step "native tests: cargo test --release"
cargo test --release

step "browser tests: wasm-pack test $(python3 scripts/config.py test-flags)"
WASM_BINDGEN_TEST_TIMEOUT=$(python3 scripts/config.py get test.timeout) \
  wasm-pack test $(python3 scripts/config.py test-flags)

"$ROOT/scripts/build-package.sh"
"$ROOT/scripts/build-site.sh"
"$ROOT/scripts/test-www.sh"
