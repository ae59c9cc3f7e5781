#!/usr/bin/env bash
# One-time set-up on a fresh Debian machine, safe to run again (it skips what is done):
# Debian packages (mosquitto, prusa-slicer, admesh, chromium), the project's virtual environment, and
# OctoPrint in a virtual environment of its own (it pins versions that clash with the app's).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
need_apt=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need_apt+=(mosquitto)
command -v prusa-slicer >/dev/null 2>&1 || need_apt+=(prusa-slicer)
command -v admesh >/dev/null 2>&1 || need_apt+=(admesh)
# the browser tests (pytest -m browser) drive Debian's Chromium with Playwright's Python package;
# Playwright's own browser download cannot run here, so none is attempted
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
# the G-code check's C lexer (setup.py) is compiled by pip: a C compiler and Python's headers
command -v gcc >/dev/null 2>&1 || need_apt+=(gcc)
"$PYTHON" -c 'import os, sys, sysconfig; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
  || need_apt+=(python3-dev)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.cofab-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ setup.py -nt "$stamp" ] \
   || [ firmware_bridge/gcode_check/_lexer.c -nt "$stamp" ]; then
  echo "setup: installing cofab and its dependencies into .venv"
  .venv/bin/pip install -q --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
  .venv/bin/pip install -q -e '.[dev]' 2>&1 | grep -v '^WARNING: Location' || true
  .venv/bin/python -c "import cofab.cli, hub.app, fabnode.agent" && touch "$stamp"
fi

if [ ! -x .octoprint-venv/bin/octoprint ]; then
  echo "setup: installing OctoPrint into .octoprint-venv"
  "$PYTHON" -m venv .octoprint-venv
  .octoprint-venv/bin/pip install -q 'octoprint>=1.11,<1.12' 2>&1 | grep -v '^WARNING: Location' || true
  .octoprint-venv/bin/octoprint --version >/dev/null
fi
echo "setup: done"
