#!/usr/bin/env bash
# Install Debian's Nsight Systems (non-free: nsight-systems 2022.4 on bookworm) for the CPU-only nsys tests.
# Idempotent: does nothing when nsys is already on PATH. Run as root on Debian bookworm.
# bookworm-updates is needed too: libcuda1, a dependency, only resolves with it.
set -euo pipefail

if command -v nsys >/dev/null 2>&1; then
  echo "nsys already installed: $(nsys --version 2>/dev/null | head -1)"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "install-nsys.sh must run as root (it adds an apt source and installs a package)" >&2
  exit 1
fi
. /etc/os-release
if [ "${VERSION_CODENAME:-}" != bookworm ]; then
  echo "install-nsys.sh knows Debian bookworm; this is ${PRETTY_NAME:-unknown}" >&2
  exit 1
fi

SOURCES=/etc/apt/sources.list.d/flashsight-nonfree.sources
has_nonfree_updates() {  # some source already gives non-free for bookworm-updates
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && grep -q "non-free" "$f" && grep -q "bookworm-updates" "$f" && return 0
  done
  return 1
}
if ! has_nonfree_updates; then
  cat > "$SOURCES" <<'EOF'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: contrib non-free non-free-firmware
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends nsight-systems
nsys --version
