#!/usr/bin/env bash
# The firmware.confirm hook for releases: the daemon runs it, with its own version appended, once
# its BootNotification is Accepted (src/firmware/confirm.ts).
#
#   firmware-confirm-release.sh <running version>
#
# Clears the trial mark when the release on trial is the one that confirms; anything else (no
# trial, a trial of another release) leaves the mark to the start check and is no error.
set -euo pipefail
# shellcheck source=firmware-release-lib.sh
. "$(dirname "$(readlink -f "$0")")/firmware-release-lib.sh"

(($# == 1)) || die "usage: $0 <running version>"
[[ -d "$PREFIX" ]] || die "no $PREFIX"
take_lock
[[ -f "$TRIAL_FILE" ]] || exit 0
version="$(trial_get version)"
if [[ "$version" != "$1" || "$(current_version)" != "$1" ]]; then
  log "release $1 confirms, but release ${version:-?} is on trial: left to the start check"
  exit 0
fi
clear_trial
log "release $1 confirmed"
