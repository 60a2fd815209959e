#!/usr/bin/env bash
# The www/ tests: the built demo page (www/dist, served under a sub-path as on GitHub Pages) and
# the npm package (pkg/) driven in headless Chromium. Run by scripts/test.sh and the Pages
# workflow, after scripts/build-package.sh and scripts/build-site.sh.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT/www"
step "www tests: the demo page and the npm package in headless Chromium"
npm test
