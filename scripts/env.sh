# Sourced by every script: the one cargo target directory, shared by the native tests, the CLI,
# the wasm package and the browser tests, and kept outside the clone so that a fresh clone on
# the same machine does not build Burn cold again. Override with CARGO_TARGET_DIR.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/grl-wasm/target}"
export PATH="$HOME/.cargo/bin:$PATH"
# The folder beside the target directory for the other per-machine caches (the venv,
# cargo-installed tools, wasm-opt's outputs), named without `..`: `target/..` does not resolve
# before the target directory exists (a machine whose tools were installed failed there).
export GRL_CACHE="${GRL_CACHE:-$(dirname "$CARGO_TARGET_DIR")}"
# The Python tools of the scripts (the workflow linter), in a virtual environment there:
# installed once per machine by scripts/setup.sh.
export GRL_VENV="${GRL_VENV:-$GRL_CACHE/venv}"
# Vulkan's loader complains on every start without it (headless machines have none).
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/grl-wasm-runtime-$(id -u)}"
mkdir -p -m 700 "$XDG_RUNTIME_DIR"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export ROOT
# Print a timestamped step, so that logs show where the minutes go.
step() { printf '\n[%s %s] %s\n' "$(date +%H:%M:%S)" "$(basename "$0" .sh)" "$*"; }
