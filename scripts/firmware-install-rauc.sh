#!/usr/bin/env bash
# The firmware hooks for a board updated by RAUC with A/B slots (docs/firmware.md, "RAUC"):
#
#   firmware-install-rauc.sh <bundle.raucb>      firmware.install: rauc install <bundle>
#   firmware-install-rauc.sh --confirm <version> firmware.confirm: rauc status mark-good
#
# RAUC verifies the bundle's signature against its keyring, writes the other slot and makes it
# the bootloader's next choice; exit 0 lets the daemon stop for the reboot (firmware.afterInstall
# "reboot") into it. The new slot is on trial in the bootloader (its boot attempts counter): if it
# does not boot, or never confirms and the watchdog or a technician reboots it, the attempts run
# out and the bootloader falls back to the old slot. mark-good, once the BootNotification is
# Accepted, makes the booted slot the good one.
set -euo pipefail

die() {
  echo "firmware: $*" >&2
  exit 1
}
command -v rauc >/dev/null 2>&1 || die "rauc is not installed"

if [[ "${1:-}" == --confirm ]]; then
  (($# == 2)) || die "usage: $0 --confirm <running version>"
  rauc status mark-good || die "rauc status mark-good failed"
  echo "firmware: booted slot marked good (version $2)" >&2
  exit 0
fi

(($# == 1)) || die "usage: $0 <bundle.raucb> | --confirm <running version>"
[[ -f "$1" ]] || die "no bundle at $1"
rauc install "$1" || die "rauc install $1 failed"
