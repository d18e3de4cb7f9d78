#!/usr/bin/env bash
# One-time setup of a development machine or CI: the Debian packages the driver tests talk to,
# the locked npm dependencies, and the build.
set -euo pipefail
cd "$(dirname "$0")/.."

# Real peers for the tests: socat makes pseudo-terminal pairs (a serial line with an emulated
# device on the other end), pymodbus is an independent Modbus implementation, mosquitto a real
# MQTT broker; systemd provides systemd-analyze (unit verification) and systemd-notify; vsftpd is
# the FTP / FTPS server the file-transfer tests start (test/support/file-servers.ts).
need=()
command -v socat >/dev/null 2>&1 || need+=(socat)
/usr/bin/python3 -c 'import pymodbus' >/dev/null 2>&1 || need+=(python3-pymodbus)
[ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
[ -x /usr/sbin/vsftpd ] || need+=(vsftpd)
if ((${#need[@]} > 0)); then
  echo "setup: installing ${need[*]}"
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  elif command -v sudo >/dev/null 2>&1; then
    sudo apt-get update -qq
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "setup: please install the Debian packages: ${need[*]}" >&2
    exit 1
  fi
fi

# npm install rather than npm ci: see README (the registry lacks some optional platform binaries).
npm install --no-audit --no-fund
npm run build
