#!/usr/bin/env bash
# Lints the GitHub Actions workflows (they cannot run here): actionlint, installed by
# scripts/setup.sh, and the rule that keeps them thin: each `run:` step is one script of this
# repository that scripts/test.sh runs too, so that what deploys is what the tests ran.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"
step "actionlint .github/workflows"
# No shellcheck or pyflakes: every run step is a script path (checked below), the same on every machine.
"$GRL_VENV/bin/actionlint" -shellcheck= -pyflakes= -oneline

tested=$(grep -o 'scripts/[a-z0-9-]*\.sh' scripts/test.sh)
status=0
while IFS=: read -r file line step; do
  run=$(sed -E 's/^[[:space:]]*(-[[:space:]]*)?run:[[:space:]]*//' <<< "$step")
  if ! [[ "$run" =~ ^scripts/[a-z0-9-]+\.sh$ ]]; then
    echo "$file:$line: run step \"$run\" is not one repository script (scripts/NAME.sh)"; status=1
  elif ! grep -qx "$run" <<< "$tested"; then
    echo "$file:$line: $run is not run by scripts/test.sh"; status=1
  fi
done < <(grep -nHE '^[[:space:]]*(-[[:space:]]*)?run:' .github/workflows/*.yml)
[ "$status" -eq 0 ] && echo "workflows: every run step is a script that scripts/test.sh runs"
exit "$status"
