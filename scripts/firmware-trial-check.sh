#!/usr/bin/env bash
# Restores the previous release when the one on trial does not confirm (docs/firmware.md).
#
#   firmware-trial-check.sh              before every start (ExecStartPre of chargepoint.service):
#                                        counts the start; past 3 starts, or past
#                                        firmware.confirmTimeoutSeconds since the switch, restores
#   firmware-trial-check.sh --deadline [--restart]
#                                        the timer (chargepoint-firmware-trial.timer): only the
#                                        time limit, for a release that runs but never registers;
#                                        --restart restarts the service into the restored release
#                                        (a running or failed one; not one an operator stopped)
#
# A restore points PREFIX/current back at the previous release, writes
# STATE_DIR/firmware-result.json {"status":"InstallationFailed","info":...} for the restored
# daemon to report, and drops the mark; the failed release stays for inspection until the next
# install. Always exits 0 unless it cannot work at all: a start is never blocked by this check.
set -euo pipefail
# shellcheck source=firmware-release-lib.sh
. "$(dirname "$(readlink -f "$0")")/firmware-release-lib.sh"

mode=start
restart=false
for arg in "$@"; do
  case "$arg" in
  --deadline) mode=deadline ;;
  --restart) restart=true ;;
  *) die "unknown argument: $arg" ;;
  esac
done

[[ -d "$PREFIX" ]] || exit 0
take_lock
[[ -f "$TRIAL_FILE" ]] || exit 0
version="$(trial_get version)"
previous="$(trial_get previous)"
starts="$(trial_get starts)"
since="$(trial_get since)"
if [[ ! "$starts" =~ ^[0-9]+$ || ! "$since" =~ ^[0-9]+$ || -z "$version" ]]; then
  log "unreadable trial mark $TRIAL_FILE: dropped"
  clear_trial
  exit 0
fi
# A mark whose switch never happened, or a release switched by hand: nothing is on trial.
if [[ "$(current_version)" != "$version" ]]; then
  log "release $version is no longer current: its trial is over"
  clear_trial
  exit 0
fi

restore() {
  local why="$1"
  if [[ -z "$previous" || ! -d "$PREFIX/releases/$previous" ]]; then
    log "release $version $why, but there is no previous release to restore: kept"
    clear_trial
    return
  fi
  # The result before the link: a crash between the two repeats the restore at the next start.
  printf '{"status":"InstallationFailed","info":"release %s %s; restored %s"}\n' "$version" "$why" "$previous" |
    write_durably "$STATE_DIR/firmware-result.json"
  switch_to "$previous"
  clear_trial
  log "release $version $why: restored release $previous"
  "$restart" && restart_service
  return 0
}

# Into the restored release: a service that failed (an exit 78 systemd does not restart) is
# started again, a running one restarted; one an operator stopped stays stopped.
restart_service() {
  if systemctl is-failed --quiet chargepoint.service; then
    systemctl --no-block restart chargepoint.service
  else
    systemctl --no-block try-restart chargepoint.service
  fi
}

timeout_s="$(confirm_timeout)"
elapsed=$(($(date +%s) - since))
if [[ "$mode" == start ]]; then
  starts=$((starts + 1))
  if ((starts > TRIAL_MAX_STARTS)); then
    restore "did not confirm in $TRIAL_MAX_STARTS starts"
    exit 0
  fi
fi
if ((elapsed > timeout_s)); then
  restore "did not confirm within ${timeout_s}s"
  exit 0
fi
if [[ "$mode" == start ]]; then
  write_trial "$version" "$previous" "$starts" "$since"
  log "release $version on trial: start $starts of $TRIAL_MAX_STARTS, ${elapsed}s of ${timeout_s}s"
fi
