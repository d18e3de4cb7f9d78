#!/usr/bin/env bash
# Installs the built runtime (npm run build) as a systemd service.
#
#   sudo scripts/install.sh                      install on this machine
#   DESTDIR=/mnt/rootfs scripts/install.sh       install into another root (an image, a package, CI)
#
# PREFIX (default /opt/chargepoint) receives the runtime: dist/, the production node_modules,
# package.json, config/ (schemas, boards), README.md and libexec/chargepoint-stop-post. The prefix
# belongs to the installer and is replaced as a whole when its content differs. The operator's
# files are never touched once they exist: /etc/chargepoint/chargepoint.json (a skeleton is written
# only when it is missing) and the state in /var/lib/chargepoint. Running it again with the same
# build changes nothing.
#
# The user, its groups and the ownership of /etc/chargepoint and /var/lib/chargepoint are declared
# in sysusers.d and tmpfiles.d files: the configuration file 0600 and the state directory 0700,
# both the daemon user's (they hold the AuthorizationKey; group chargepoint only uses cpctl). A
# real install applies them at once, which also tightens a file an older install left 0640; with
# DESTDIR they are only installed, and the target applies them at boot (systemd-sysusers and
# systemd-tmpfiles run before any service), so an image can be built without root and without
# touching this machine's users.
set -euo pipefail

SRC="$(cd "$(dirname "$0")/.." && pwd)"
DESTDIR="${DESTDIR:-}"
PREFIX="${PREFIX:-/opt/chargepoint}"
# The local vendor layer of systemd's search paths: operators override the unit in /etc with
# drop-ins (systemctl edit), which a reinstall never overwrites.
LIBDIR=/usr/local/lib
BINDIR=/usr/local/bin
CONFDIR=/etc/chargepoint
STATEDIR=/var/lib/chargepoint

die() {
  echo "install: $*" >&2
  exit 1
}
say() { echo "install: $*"; }

[[ "$PREFIX" == /* ]] || die "PREFIX must be an absolute path: $PREFIX"
[[ -z "$DESTDIR" || "$DESTDIR" == /* ]] || die "DESTDIR must be an absolute path: $DESTDIR"
if [[ -z "$DESTDIR" && "$(id -u)" -ne 0 ]]; then
  die "installing on this machine needs root (or set DESTDIR to install into another root)"
fi
[[ -x "$SRC/dist/src/bin/chargepointd.js" ]] || die "no build in $SRC/dist: run npm run build first"
command -v node >/dev/null 2>&1 || die "node is needed to select the production dependencies"

root="${DESTDIR%/}"
target="$root$PREFIX"

# Content, modes and symlinks of a tree, one line each, independent of timestamps and owners.
tree_manifest() {
  (
    cd "$1"
    find . -mindepth 1 -printf '%y %m %p -> %l\n' | LC_ALL=C sort
    find . -type f -print0 | LC_ALL=C sort -z | xargs -0r sha256sum
  )
}

# The production dependencies: lock file entries not marked dev, top level only (nested ones come
# with their parent), and only those present (optional ones for other platforms are not).
production_modules() {
  node -e '
    const lock = JSON.parse(require("node:fs").readFileSync(process.argv[1], "utf8"));
    for (const [path, entry] of Object.entries(lock.packages ?? {})) {
      if (path && !entry.dev && !entry.link && path.split("node_modules/").length === 2) console.log(path);
    }' "$SRC/package-lock.json"
}

stage_runtime() {
  local stage="$1" path
  # Without --preserve=ownership: the files belong to the installer (root), never to whoever
  # built them, since libexec/ runs as root.
  local copy=(cp -R -P --preserve=mode,timestamps)
  mkdir -p "$stage/dist" "$stage/node_modules" "$stage/libexec" "$stage/config"
  "${copy[@]}" "$SRC/dist/src" "$SRC/dist/hal" "$stage/dist/"
  "${copy[@]}" "$SRC/package.json" "$SRC/README.md" "$stage/"
  # config/dev.json is the development setup (its paths point into the checkout).
  "${copy[@]}" "$SRC/config/boards" "$SRC"/config/*.schema.json "$stage/config/"
  "${copy[@]}" "$SRC/systemd/chargepoint-stop-post" "$stage/libexec/"
  while IFS= read -r path; do
    [[ -e "$SRC/$path" ]] || continue
    mkdir -p "$(dirname "$stage/$path")"
    "${copy[@]}" "$SRC/$path" "$stage/$path"
  done < <(production_modules)
  chmod -R u+w,go-w,a+rX "$stage"
}

install_runtime() {
  # Staged outside the root, so a run that finds the prefix up to date leaves no trace in it.
  local stage
  stage="$(mktemp -d)"
  # shellcheck disable=SC2064 # the path is fixed now; $stage is gone when the trap runs
  trap "rm -rf '$stage'" EXIT
  stage_runtime "$stage"
  if [[ -d "$target" ]] && [[ "$(tree_manifest "$stage")" == "$(tree_manifest "$target")" ]]; then
    say "unchanged $PREFIX"
  else
    # Swap whole trees on one filesystem: a running daemon keeps its open files, and no mix of two
    # builds ever exists.
    rm -rf "$target.new"
    mkdir -p "$(dirname "$target")"
    cp -R -P --preserve=mode,timestamps "$stage" "$target.new"
    if [[ -e "$target" ]]; then
      mv "$target" "$target.old"
      mv "$target.new" "$target"
      rm -rf "$target.old"
    else
      mv "$target.new" "$target"
    fi
    say "installed $PREFIX"
  fi
  rm -rf "$stage"
  trap - EXIT
}

# Installs a file unless the destination already has its content and mode; put_changed tells which.
put_changed=false
put() {
  local mode="$1" src="$2" dest="$root$3"
  put_changed=false
  if [[ -f "$dest" ]] && cmp -s "$src" "$dest" && [[ "$(stat -c %a "$dest")" == "${mode#0}" ]]; then
    return 0
  fi
  install -D -m "$mode" "$src" "$dest"
  put_changed=true
  say "installed $3"
}

link() {
  local dest="$root$2"
  [[ -L "$dest" && "$(readlink "$dest")" == "$1" ]] && return
  mkdir -p "$(dirname "$dest")"
  ln -sfn "$1" "$dest"
  say "linked $2 -> $1"
}

# The operator's configuration is written once, from the development file with the paths of an
# installed system and an identity that says it must be changed.
config_skeleton() {
  node -e '
    const [file, prefix, stateDir] = process.argv.slice(1);
    const config = JSON.parse(require("node:fs").readFileSync(file, "utf8"));
    config.$schema = `${prefix}/config/chargepoint.schema.json`;
    config.chargePointId = "CP-CHANGE-ME";
    config.csms = { ...config.csms, url: "ws://csms.invalid:9000/ocpp" };
    config.stateDir = stateDir;
    config.cli = { socket: "/run/chargepoint/cpctl.sock" };
    process.stdout.write(`${JSON.stringify(config, null, 2)}\n`);
  ' "$SRC/config/dev.json" "$PREFIX" "$STATEDIR"
}

install_runtime

generated="$(mktemp)"
trap 'rm -f "$generated"' EXIT
sed "s|/opt/chargepoint|$PREFIX|g" "$SRC/systemd/chargepoint.service" >"$generated"
put 0644 "$generated" "$LIBDIR/systemd/system/chargepoint.service"
unit_changed="$put_changed"
put 0644 "$SRC/systemd/chargepoint.sysusers" "$LIBDIR/sysusers.d/chargepoint.conf"
put 0644 "$SRC/systemd/chargepoint.tmpfiles" "$LIBDIR/tmpfiles.d/chargepoint.conf"
link "$PREFIX/dist/src/bin/cpctl.js" "$BINDIR/cpctl"
link "$PREFIX/dist/src/bin/chargepointd.js" "$BINDIR/chargepointd"

# The modes of chargepoint.tmpfiles, which also sets the owners: the configuration and the state
# hold the AuthorizationKey, which the technicians of group chargepoint must not read.
make_dir() {
  [[ -d "$root$2" ]] || { mkdir -p -m "$1" "$root$2" && say "created $2"; }
}
make_dir 0750 "$CONFDIR"
make_dir 0700 "$STATEDIR"
if [[ -e "$root$CONFDIR/chargepoint.json" ]]; then
  say "kept $CONFDIR/chargepoint.json"
else
  config_skeleton >"$generated"
  put 0600 "$generated" "$CONFDIR/chargepoint.json"
  say "edit $CONFDIR/chargepoint.json (chargePointId, csms, board) before starting the service"
fi

if [[ -n "$DESTDIR" ]]; then
  say "done; the target creates the user and sets ownership at boot (sysusers.d, tmpfiles.d)"
  exit 0
fi

systemd-sysusers "$LIBDIR/sysusers.d/chargepoint.conf"
systemd-tmpfiles --create "$LIBDIR/tmpfiles.d/chargepoint.conf"
# The shebang finds node through PATH, and systemd gives services a fixed one.
if ! PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin command -v node >/dev/null; then
  say "warning: node is not in /usr/local/bin or /usr/bin, where the service looks for it"
fi
if "$unit_changed" && [[ -d /run/systemd/system ]]; then
  systemctl daemon-reload
fi
say "done; start with: systemctl enable --now chargepoint"
