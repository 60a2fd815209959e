#!/usr/bin/env bash
# Builds the npm package into pkg/ (settings from wasm-pack.toml), finishes its package.json
# from npm/manifest.json (scripts/npm-manifest.py: files, exports, sideEffects, repository),
# shrinks the .wasm with npm's binaryen (Debian's wasm-opt breaks modules), and prints its size
# raw and gzipped.
# wasm-opt takes minutes on this module, so its output is cached by the input's hash.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"

# The cdylib's file name carries no hash (deps/grl_wasm.wasm): two checkouts sharing the target
# directory overwrite each other's, and cargo, which fingerprints each checkout apart, calls the
# other's file fresh. A stamp says whose it is; another checkout's is deleted, so cargo relinks.
profile=$(python3 scripts/config.py get build.profile)
cdylib="$CARGO_TARGET_DIR/wasm32-unknown-unknown/$profile/deps/grl_wasm.wasm"
stamp="$cdylib.checkout"
if [ -f "$cdylib" ] && [ "$(cat "$stamp" 2>/dev/null)" != "$ROOT $(sha256sum "$cdylib" | cut -d' ' -f1)" ]; then
  step "the wasm in the target directory was built by another checkout: relinking"
  rm -f "$cdylib"
fi

step "wasm-pack build $(python3 scripts/config.py build-flags)"
# shellcheck disable=SC2046
wasm-pack build $(python3 scripts/config.py build-flags)
echo "$ROOT $(sha256sum "$cdylib" | cut -d' ' -f1)" > "$stamp"

out_dir=$(python3 scripts/config.py get build.out-dir)
python3 scripts/npm-manifest.py "$out_dir"
wasm="$out_dir/grl_wasm_bg.wasm"
flags=$(python3 scripts/config.py get build.wasm-opt)
key=$( (sha256sum "$wasm" | cut -d' ' -f1; echo "$flags"; www/node_modules/.bin/wasm-opt --version) | sha256sum | cut -d' ' -f1)
cached="$GRL_CACHE/wasm-opt-cache/$key.wasm"
if [ -f "$cached" ]; then
  step "wasm-opt: unchanged input, cached output"
else
  step "wasm-opt $flags (minutes)"
  mkdir -p "$(dirname "$cached")"
  # shellcheck disable=SC2086
  www/node_modules/.bin/wasm-opt $flags "$wasm" -o "$cached.tmp"
  mv "$cached.tmp" "$cached"
fi
cp "$cached" "$wasm"
printf 'wasm size: %s bytes raw, %s bytes gzipped (%s)\n' \
  "$(stat -c %s "$wasm")" "$(gzip -9 -c "$wasm" | wc -c)" "$wasm"
