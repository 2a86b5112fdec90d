#!/usr/bin/env bash
# Sets up, then checks everything: types, lint, and every test (as root this includes the NAT lab).
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
status=0
bun run typecheck || status=1
bun run lint || status=1
bun test --timeout 60000 "$@" || status=1
exit $status
