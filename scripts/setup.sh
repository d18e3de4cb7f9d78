#!/usr/bin/env bash
# One-time setup of a development machine or CI: the Debian packages the driver tests talk to,
# the locked npm dependencies, and the build.
#
#   scripts/setup.sh [packages] [deps] [build]     the named steps only; all three by default
#
# It leaves the work tree as it found it: `npm ci` installs exactly the lock file and never writes
# it. (`npm install` rewrote it whenever the local npm computes the lock differently from the npm
# that wrote it: npm 10 drops the `libc` fields npm 11 records for the platform binaries.)
set -euo pipefail
cd "$(dirname "$0")/.."

# Real peers for the tests: socat makes pseudo-terminal pairs (a serial line with an emulated
# device on the other end), pymodbus is an independent Modbus implementation, mosquitto a real
# MQTT broker; systemd provides systemd-analyze (unit verification) and systemd-notify; vsftpd is
# the FTP / FTPS server the file-transfer tests start (test/support/file-servers.ts).
packages() {
  local need=()
  command -v socat >/dev/null 2>&1 || need+=(socat)
  /usr/bin/python3 -c 'import pymodbus' >/dev/null 2>&1 || need+=(python3-pymodbus)
  [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
  command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
  [ -x /usr/sbin/vsftpd ] || need+=(vsftpd)
  ((${#need[@]} > 0)) || return 0
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
      echo "setup: please install the Debian packages: ${need[*]}" >&2
      exit 1
    fi
    sudo=(sudo)
  fi
  # apt and the packages' maintainer scripts talk a lot on a container (debconf without
  # apt-utils, invoke-rc.d without a running init): all of it goes to a log, shown only on failure.
  local log
  log="$(mktemp "${TMPDIR:-/tmp}/setup-apt.XXXXXX")"
  echo "setup: installing ${need[*]} (apt-get; its output: $log)"
  if ! { "${sudo[@]}" apt-get update -qq &&
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"; } >"$log" 2>&1; then
    cat "$log" >&2
    echo "setup: apt-get failed installing ${need[*]}" >&2
    exit 1
  fi
  rm -f "$log"
}

deps() {
  # npm ci empties node_modules before it installs, following a symbolic link: a node_modules
  # that links to an install shared with other work trees is left to its owner.
  if [ -L node_modules ]; then
    echo "setup: node_modules links to $(readlink node_modules), a shared install: not reinstalled"
    return 0
  fi
  # The packages whose install scripts must run (native addons, esbuild's binary check) are
  # listed in package.json's allowScripts, so npm 11 runs them without a warning. Outside CI, npm
  # would also look for a newer npm once a week and print an "npm notice" on stderr about it.
  npm ci --no-audit --no-fund --no-update-notifier
}

build() {
  npm run build
}

steps=("$@")
((${#steps[@]} > 0)) || steps=(packages deps build)
for step in "${steps[@]}"; do
  case "$step" in
  packages | deps | build) "$step" ;;
  *)
    echo "setup: unknown step '$step' (packages, deps, build)" >&2
    exit 64
    ;;
  esac
done
