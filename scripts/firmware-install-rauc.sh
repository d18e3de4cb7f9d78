#!/usr/bin/env bash
# The firmware hooks for a board updated by RAUC with A/B slots (docs/firmware.md, "RAUC"):
#
#   firmware-install-rauc.sh <bundle.raucb>      firmware.install: rauc install <bundle>
#   firmware-install-rauc.sh --confirm <version> firmware.confirm: rauc status mark-good
#   firmware-install-rauc.sh --check             before a start (a drop-in's ExecStartPre=-):
#                                                tells a bootloader fallback to the daemon
#
# RAUC verifies the bundle's signature against its keyring, writes the other slot and makes it
# the bootloader's next choice; exit 0 lets the daemon stop for the reboot (firmware.afterInstall
# "reboot") into it. The new slot is on trial in the bootloader (its boot attempts counter): if it
# does not boot, or never confirms and the watchdog or a technician reboots it, the attempts run
# out and the bootloader falls back to the old slot. mark-good, once the BootNotification is
# Accepted, makes the booted slot the good one.
#
# The old slot's daemon would then report the update it persisted as Installed: so the install
# records the slot it made primary (STATE_DIR/rauc-pending), and --check, once booted, compares:
# booted from another slot, it writes STATE_DIR/firmware-result.json InstallationFailed (the
# release hooks' contract); either way the record goes.
set -euo pipefail

# shellcheck source=firmware-release-lib.sh
. "$(dirname "$(readlink -f "$0")")/firmware-release-lib.sh"
PENDING="$STATE_DIR/rauc-pending"
command -v rauc >/dev/null 2>&1 || die "rauc is not installed"

# A field of `rauc status --output-format=json`: booted (the booted slot's bootname) or the
# bootname of boot_primary (the slot the bootloader tries first).
rauc_status() {
  rauc status --output-format=json | node -e '
    let text = "";
    process.stdin.on("data", (chunk) => (text += chunk)).on("end", () => {
      const status = JSON.parse(text);
      if (process.argv[1] === "booted") return console.log(status.booted ?? "");
      const slot = (status.slots ?? []).map((entry) => Object.entries(entry)[0]).find(([name]) => name === status.boot_primary);
      console.log(slot?.[1]?.bootname ?? "");
    });' "$1"
}

case "${1:-}" in
--confirm)
  (($# == 2)) || die "usage: $0 --confirm <running version>"
  rauc status mark-good || die "rauc status mark-good failed"
  echo "firmware: booted slot marked good (version $2)" >&2
  ;;
--check)
  (($# == 1)) || die "usage: $0 --check"
  [[ -f "$PENDING" ]] || exit 0
  expected="$(cat "$PENDING")"
  booted="$(rauc_status booted)" || die "rauc status failed"
  rm -f "$PENDING"
  # Slot bootnames are plain words (A, B, system0); anything else is not written into JSON.
  [[ "$booted" =~ ^[A-Za-z0-9._-]*$ ]] || booted=unknown
  if [[ "$expected" =~ ^[A-Za-z0-9._-]+$ && "$booted" != "$expected" ]]; then
    printf '{"status":"InstallationFailed","info":"slot %s did not boot; the bootloader fell back to %s"}\n' \
      "$expected" "$booted" | write_durably "$STATE_DIR/firmware-result.json"
    echo "firmware: slot $expected did not boot; running from $booted" >&2
  fi
  ;;
*)
  (($# == 1)) || die "usage: $0 <bundle.raucb> | --confirm <running version> | --check"
  [[ -f "$1" ]] || die "no bundle at $1"
  rauc install "$1" || die "rauc install $1 failed"
  # The slot is written and will boot: a status that cannot be read only loses the fallback report.
  if primary="$(rauc_status primary)" && [[ -n "$primary" ]]; then
    echo "$primary" | write_durably "$PENDING"
  else
    echo "firmware: installed, but rauc status did not name the new slot: a fallback will not be reported" >&2
  fi
  ;;
esac
