#!/usr/bin/env bash
# Builds the npm package into pkg/ (settings from wasm-pack.toml), shrinks the .wasm with npm's
# binaryen, and prints its size raw and gzipped.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"

step "wasm-pack build $(python3 scripts/config.py build-flags)"
# shellcheck disable=SC2046
wasm-pack build $(python3 scripts/config.py build-flags)

out_dir=$(python3 scripts/config.py get build.out-dir)
wasm="$out_dir/grl_wasm_bg.wasm"
step "wasm-opt $(python3 scripts/config.py get build.wasm-opt)"
# shellcheck disable=SC2046
www/node_modules/.bin/wasm-opt $(python3 scripts/config.py get build.wasm-opt) "$wasm" -o "$wasm.opt"
mv "$wasm.opt" "$wasm"
printf 'wasm size: %s bytes raw, %s bytes gzipped (%s)\n' \
  "$(stat -c %s "$wasm")" "$(gzip -9 -c "$wasm" | wc -c)" "$wasm"
