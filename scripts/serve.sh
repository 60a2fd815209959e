#!/usr/bin/env bash
# Command 1 of the README: installs what is missing, builds the package and the demo page, and
# serves the page on a local URL that it prints. PORT overrides the port (default 8080).
set -euo pipefail
source "$(dirname "$0")/env.sh"
"$ROOT/scripts/setup.sh"
"$ROOT/scripts/build-package.sh"
"$ROOT/scripts/build-site.sh"
cd "$ROOT/www"
port="${PORT:-8080}"
step "serving the demo at http://127.0.0.1:$port/ (Ctrl-C stops it)"
exec npx vite preview --host 127.0.0.1 --port "$port" --strictPort
