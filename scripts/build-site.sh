#!/usr/bin/env bash
# Builds the demo page into www/dist (type check, then Vite; the package in pkg/ must be built:
# scripts/build-package.sh) and prints what a visitor downloads from it on GitHub Pages.
# Run by scripts/serve.sh, scripts/test.sh and the Pages workflow.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT/www"
step "vite build"
npm run build
node bench/transfer-size.mjs
