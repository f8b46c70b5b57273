#!/usr/bin/env bash
# ensure-debian-package.sh PROGRAM PACKAGE WHAT: makes sure PROGRAM is installed, installing Debian's
# PACKAGE with apt-get when root (the project's servers and browsers come from Debian, not downloads);
# otherwise says what to install. The package's own service is never started here.
set -euo pipefail
program="$1" package="$2" what="$3"
if command -v "$program" >/dev/null 2>&1 || [ -x "/usr/bin/$program" ]; then exit 0; fi
if [ "$(id -u)" != 0 ]; then
  echo "$program ($what) is needed: run 'sudo apt-get install $package' (Debian/Ubuntu), then retry." >&2
  exit 1
fi
echo "Installing Debian's $package package ($what)..."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "$package" >/dev/null
