#!/usr/bin/env bash
# Makes sure Debian's InfluxDB 1.x server (`influxd`) is installed; installs it with apt-get when root.
set -euo pipefail
if command -v influxd >/dev/null 2>&1 || [ -x /usr/bin/influxd ]; then exit 0; fi
if [ "$(id -u)" != 0 ]; then
  echo "influxd (InfluxDB 1.x) is needed: run 'sudo apt-get install influxdb' (Debian/Ubuntu), then retry." >&2
  exit 1
fi
echo "Installing Debian's influxdb package (InfluxDB 1.x server)..."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# The package's service is not started here: the project runs its own private influxd on loopback.
apt-get install -y -qq --no-install-recommends influxdb >/dev/null
