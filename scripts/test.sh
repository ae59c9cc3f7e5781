#!/usr/bin/env bash
# The test suite: set up (if needed), check the import contracts, run pytest. Extra
# arguments go to pytest, e.g. `scripts/test.sh -m "not integration"`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/lint-imports --no-cache
exec .venv/bin/pytest "$@"
