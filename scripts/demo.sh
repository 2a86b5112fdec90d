#!/usr/bin/env bash
# Sets up, then shows the main job: a rendezvous server and two peers meeting through it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec bun scripts/demo.ts "$@"
