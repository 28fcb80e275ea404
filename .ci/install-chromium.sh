#!/usr/bin/env bash
# Install Debian's Chromium for the headless render test of report.html (CI has no browser preinstalled).
# Idempotent: does nothing when chromium is already on PATH. Needs root on Debian (apt-get).
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
  echo "chromium already installed: $(chromium --version 2>/dev/null | head -1)"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "install-chromium.sh must run as root (apt-get install chromium)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core
chromium --version
