#!/usr/bin/env bash
# Puts a pinned `uv` in .local/tools (a tiny virtualenv of its own), so `make` needs only python3.
set -euo pipefail
version="$1"
tools=".local/tools"
if ! python3 -m venv --clear "$tools" >/dev/null 2>&1; then
  # Debian/Ubuntu ship venv separately.
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "Installing python3-venv..."
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv --clear "$tools"
  else
    echo "python3 cannot create virtualenvs: run 'sudo apt-get install python3-venv', then retry." >&2
    exit 1
  fi
fi
"$tools/bin/pip" install -q --disable-pip-version-check "uv==$version"
