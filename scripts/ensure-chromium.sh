#!/usr/bin/env bash
# Makes sure Debian's Chromium (`chromium`) is installed, for the headless browser test of the Dagster UI;
# installs it with apt-get when root.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; then exit 0; fi
if [ "$(id -u)" != 0 ]; then
  echo "chromium is needed for the browser test: run 'sudo apt-get install chromium' (Debian), then retry." >&2
  exit 1
fi
echo "Installing Debian's chromium package (headless browser for the UI test)..."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium >/dev/null
