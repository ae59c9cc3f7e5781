#!/usr/bin/env bash
# The main job: set up (if needed) and run the local demo network. Extra arguments go to
# `cofab demo`, e.g. `scripts/demo.sh --headless --json`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >&2
exec .venv/bin/cofab demo "$@"
