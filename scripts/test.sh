#!/usr/bin/env bash
# The test suite: set up (if needed), lint, format check, type check, import contracts, then
# pytest. Extra arguments go to pytest, e.g. `scripts/test.sh -m "not integration"`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "test: ruff check" >&2
.venv/bin/ruff check .
echo "test: ruff format --check" >&2
.venv/bin/ruff format --check .
echo "test: mypy" >&2
.venv/bin/mypy
echo "test: lint-imports" >&2
.venv/bin/lint-imports --no-cache
exec .venv/bin/pytest "$@"
