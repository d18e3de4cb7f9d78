# shellcheck shell=bash
# Shared by the release hooks (firmware-install-release.sh, firmware-confirm-release.sh,
# firmware-trial-check.sh): where the releases are, the trial mark, the lock, durable writes.
# scripts/install.sh installs these next to each other in /usr/local/libexec/chargepoint with the
# PREFIX below rewritten to its own; the environment overrides them (tests, a second install).
#
# PREFIX/releases/<version>/   one release each (scripts/make-release.sh)
# PREFIX/current               relative link to releases/<version>: what the service starts
# PREFIX/trial                 the release on trial, until it confirms (key=value lines):
#                                version=<on trial>  previous=<to restore>
#                                starts=<starts counted so far>  since=<switch time, epoch s>
# STATE_DIR/firmware-result.json  {"status":"InstallationFailed","info":...} after a rollback,
#                                 for the restored daemon to report (and remove)

PREFIX="${CHARGEPOINT_PREFIX:-/opt/chargepoint}"
STATE_DIR="${CHARGEPOINT_STATE_DIR:-/var/lib/chargepoint}"
CONFIG_FILE="${CHARGEPOINT_CONFIG:-/etc/chargepoint/chargepoint.json}"
TRIAL_FILE="$PREFIX/trial"
# Starts a release on trial gets without confirming; the check before the next one restores.
TRIAL_MAX_STARTS=3
# firmware.confirmTimeoutSeconds when the configuration does not say.
DEFAULT_CONFIRM_TIMEOUT_S=600

log() { echo "firmware: $*" >&2; }
die() {
  log "$*"
  exit 1
}

# One of the hooks at a time: an install, a start check, the timer and a confirmation touch the
# same link and mark. Opened for reading (flock needs no more), so a lock file the root timer
# created first still serves the daemon's user.
take_lock() {
  local lock="$PREFIX/.lock"
  if [[ ! -e "$lock" ]]; then
    : >>"$lock"
    own_like_dir "$lock"
  fi
  exec 9<"$lock"
  flock 9
}

# The version `current` points at, or nothing when it is not a release link.
current_version() {
  local target
  target="$(readlink "$PREFIX/current" 2>/dev/null)" || return 0
  [[ "$target" == releases/* ]] && echo "${target#releases/}"
  return 0
}

# Files written as root (the timer) stay the daemon's: the owner of the directory they are in.
own_like_dir() {
  [[ "$(id -u)" -eq 0 ]] && chown -h --reference="$(dirname "$1")" "$1"
  return 0
}

# Replaces $1 with stdin whole: temp file, fsync, rename, directory fsync.
write_durably() {
  local dest="$1" tmp
  tmp="$(mktemp "$dest.XXXXXX")"
  cat >"$tmp"
  chmod 0644 "$tmp"
  own_like_dir "$tmp"
  sync "$tmp"
  mv -f "$tmp" "$dest"
  sync "$(dirname "$dest")"
}

# Points `current` at releases/$1 in one rename: no moment without a link.
switch_to() {
  ln -sfn "releases/$1" "$PREFIX/.current.new"
  own_like_dir "$PREFIX/.current.new"
  mv -T "$PREFIX/.current.new" "$PREFIX/current"
  sync "$PREFIX"
}

# A key of the trial mark.
trial_get() {
  sed -n "s/^$1=//p" "$TRIAL_FILE" | head -n 1
}

write_trial() {
  printf 'version=%s\nprevious=%s\nstarts=%s\nsince=%s\n' "$1" "$2" "$3" "$4" | write_durably "$TRIAL_FILE"
}

clear_trial() {
  rm -f "$TRIAL_FILE"
  sync "$PREFIX"
}

# firmware.confirmTimeoutSeconds of the configuration file, or the default.
confirm_timeout() {
  node -e '
    const [file, fallback] = process.argv.slice(1);
    let seconds;
    try { seconds = JSON.parse(require("node:fs").readFileSync(file, "utf8")).firmware?.confirmTimeoutSeconds; } catch {}
    console.log(typeof seconds === "number" && seconds > 0 ? Math.ceil(seconds) : fallback);
  ' "$CONFIG_FILE" "$DEFAULT_CONFIRM_TIMEOUT_S" 2>/dev/null || echo "$DEFAULT_CONFIRM_TIMEOUT_S"
}
