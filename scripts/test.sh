#!/usr/bin/env bash
# Install flashsight with its test tools and run the test suite. The README's first command; .ci/run calls it.
# Uses the active virtual environment, or makes .venv. As root on Debian it also installs Nsight Systems
# (Debian's non-free nsight-systems 2022.4) so the tests can profile a real process with nsys.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${VIRTUAL_ENV:-}" ]; then
  [ -x .venv/bin/python ] || python3 -m venv .venv
  . .venv/bin/activate
fi
if [ -x .ci/install-nsys.sh ] || [ -f .ci/install-nsys.sh ]; then bash .ci/install-nsys.sh; fi
python -m pip install -q --disable-pip-version-check -e '.[test]'
python -m pytest "$@"
