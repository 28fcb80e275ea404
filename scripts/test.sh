#!/usr/bin/env bash
# Install flashsight with its test tools, check the layer rules (lint-imports, contracts in pyproject.toml) and
# run the test suite. The README's first command; .ci/run calls it.
# Uses the active virtual environment, or makes .venv. As root on Debian it also installs Nsight Systems
# (Debian's non-free nsight-systems 2022.4) so the tests can profile a real process with nsys, and Chromium so
# a test renders the report headless.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${VIRTUAL_ENV:-}" ]; then
  [ -x .venv/bin/python ] || python3 -m venv .venv
  . .venv/bin/activate
fi
# Real nsys for the live profiling test: installed where we can (root on Debian bookworm, as in CI); elsewhere
# that one test is skipped (and fails under CI=true, where nsys must be there).
if command -v nsys >/dev/null 2>&1 || { [ "$(id -u)" = 0 ] && grep -qs bookworm /etc/os-release; }; then
  bash .ci/install-nsys.sh
else
  echo "note: nsys not found and not installable here (needs root on Debian bookworm): the live nsys test is skipped"
fi
# Chromium for the headless render test of report.html (CI has no browser): Debian's, as root.
if command -v chromium >/dev/null 2>&1 || { [ "$(id -u)" = 0 ] && [ -f /etc/debian_version ]; }; then
  bash .ci/install-chromium.sh
else
  echo "note: chromium not found and not installable here (needs root on Debian): the report render test is skipped"
fi
python -m pip install -q --disable-pip-version-check -e '.[test,cluster]'
lint-imports
python -m pytest "$@"
