#!/usr/bin/env bash
# Installs the built runtime (npm run build) as a systemd service.
#
#   sudo scripts/install.sh                      install on this machine
#   DESTDIR=/mnt/rootfs scripts/install.sh       install into another root (an image, a package, CI)
#   DESTDIR=/mnt/rootfs scripts/install.sh --arch arm64    ... for another architecture (or TARGET_ARCH=arm64)
#
# PREFIX (default /opt/chargepoint) holds releases (docs/firmware.md, "Releases and rollback"):
# PREFIX/releases/<version>/ is one release as scripts/make-release.sh builds it (dist/, the
# production node_modules, package.json, config/ schemas and boards, README.md, MANIFEST,
# SHA256SUMS), and PREFIX/current, a relative link to releases/<version>, is the one the unit and
# the command links run. This build's release is replaced as a whole when its content differs and
# becomes current (an installed release is not on trial); the other releases stay, for the
# firmware hooks. A prefix of the older flat layout (dist/ directly in PREFIX) is migrated. The
# helpers that run outside the daemon (chargepoint-stop-post, the firmware hooks and the trial
# check) go to /usr/local/libexec/chargepoint, where no release can change them. The operator's
# files are never touched once they exist: /etc/chargepoint/chargepoint.json (the template
# config/chargepoint.example.json, written only when it is missing: the daemon refuses it until its
# placeholders are filled in and its "template" mark deleted) and the state in /var/lib/chargepoint.
# Running it again with the same build changes nothing. Every link it makes is relative, so it
# resolves inside a DESTDIR root as on the target. The bash completion of cpctl goes to
# /usr/share/bash-completion/completions/cpctl, where bash-completion loads it on the first TAB.
#
# The release carries native modules built on this machine (better-sqlite3, the epoll binding,
# serialport's bindings where it has no prebuilt one: it ships them for x64, arm64 and 32-bit arm,
# glibc and musl): installing into an image for another architecture warns that they must be
# rebuilt there (npm rebuild in the release, on the target or in an emulated chroot). The
# architecture is --arch or TARGET_ARCH (as `uname -m` or Node's process.arch spells it); without
# them, a DESTDIR's is read from the ELF header of its bin/sh (else usr/bin/node, bin/busybox), and
# when that cannot tell, the warning says to give --arch.
#
# The user, its groups and the ownership of /etc/chargepoint, /var/lib/chargepoint, PREFIX and
# PREFIX/releases are declared in sysusers.d and tmpfiles.d files: the configuration file 0600 and
# the state directory 0700, both the daemon user's (they hold the AuthorizationKey; group
# chargepoint only uses cpctl); PREFIX and its releases the daemon user's too, since its
# firmware.install hook adds releases and switches the link. A real install applies them at once,
# which also tightens a file an older install left 0640; with DESTDIR they are only installed, and
# the target applies them at boot (systemd-sysusers and systemd-tmpfiles run before any service),
# so an image can be built without root and without touching this machine's users.
set -euo pipefail

SRC="$(cd "$(dirname "$0")/.." && pwd)"
DESTDIR="${DESTDIR:-}"
TARGET_ARCH="${TARGET_ARCH:-}"
PREFIX="${PREFIX:-/opt/chargepoint}"
# The local vendor layer of systemd's search paths: operators override the unit in /etc with
# drop-ins (systemctl edit), which a reinstall never overwrites.
LIBDIR=/usr/local/lib
LIBEXECDIR=/usr/local/libexec/chargepoint
BINDIR=/usr/local/bin
COMPLETIONSDIR=/usr/share/bash-completion/completions
CONFDIR=/etc/chargepoint
STATEDIR=/var/lib/chargepoint

die() {
  echo "install: $*" >&2
  exit 1
}
say() { echo "install: $*"; }

while (($# > 0)); do
  case "$1" in
  --arch) TARGET_ARCH="${2:?--arch needs an architecture}" && shift 2 ;;
  --arch=*) TARGET_ARCH="${1#--arch=}" && shift ;;
  *) die "unknown argument: $1" ;;
  esac
done

[[ "$PREFIX" == /* ]] || die "PREFIX must be an absolute path: $PREFIX"
# PREFIX goes as text into the units, tmpfiles.d, the hooks' shell library and the configuration
# template, each with its own quoting: what one of them reads as syntax (a space splits the unit's
# ExecStart= and tmpfiles' fields, % is their specifier, $ a variable of ExecStart=, } ends the
# library's "${...:-PREFIX}") is refused rather than escaped four ways. | & [ ] and the rest pass.
[[ "$PREFIX" != *[[:space:][:cntrl:]\"\'\\\$\`%\}]* ]] ||
  die "PREFIX cannot hold white space, control characters, quotes, \\, \$, \`, % or }: the unit, tmpfiles.d, the firmware hooks and the configuration would read them as syntax: $PREFIX"
[[ -z "$DESTDIR" || "$DESTDIR" == /* ]] || die "DESTDIR must be an absolute path: $DESTDIR"
if [[ -z "$DESTDIR" && "$(id -u)" -ne 0 ]]; then
  die "installing on this machine needs root (or set DESTDIR to install into another root)"
fi
[[ -x "$SRC/dist/src/bin/chargepointd.js" ]] || die "no build in $SRC/dist: run npm run build first"
command -v node >/dev/null 2>&1 || die "node is needed to select the production dependencies"

root="${DESTDIR%/}"
target="$root$PREFIX"
version="$(node -p 'require(process.argv[1]).version' "$SRC/package.json")"
release="$target/releases/$version"

# Content, modes and symlinks of a tree, one line each, independent of timestamps and owners.
tree_manifest() {
  (
    cd "$1"
    find . -mindepth 1 -printf '%y %m %p -> %l\n' | LC_ALL=C sort
    find . -type f -print0 | LC_ALL=C sort -z | xargs -0r sha256sum
  )
}

install_release() {
  # Staged outside the root, so a run that finds the release up to date leaves no trace in it.
  local stage
  stage="$(mktemp -d)"
  # shellcheck disable=SC2064 # the path is fixed now; $stage is gone when the trap runs
  trap "rm -rf $(printf '%q' "$stage")" EXIT
  bash "$SRC/scripts/make-release.sh" --tree "$stage/release"
  if [[ -d "$release" ]] && [[ "$(tree_manifest "$stage/release")" == "$(tree_manifest "$release")" ]]; then
    say "unchanged $PREFIX/releases/$version"
  else
    # Swap whole trees on one filesystem: a running daemon keeps its open files, and no mix of two
    # builds ever exists.
    rm -rf "$release.new"
    mkdir -p "$target/releases"
    cp -R -P --preserve=mode,timestamps "$stage/release" "$release.new"
    if [[ -e "$release" ]]; then
      mv "$release" "$release.old"
      mv "$release.new" "$release"
      rm -rf "$release.old"
    else
      mv "$release.new" "$release"
    fi
    say "installed $PREFIX/releases/$version"
  fi
  rm -rf "$stage"
  trap - EXIT
}

# current -> releases/<version>, replaced in one rename. The installer's release is the confirmed
# one: a trial mark left by a firmware hook goes.
make_current() {
  if [[ "$(readlink "$target/current" 2>/dev/null)" != "releases/$version" ]]; then
    ln -sfn "releases/$version" "$target/.current.new"
    mv -T "$target/.current.new" "$target/current"
    say "linked $PREFIX/current -> releases/$version"
  fi
  if [[ -e "$target/trial" ]]; then
    rm -f "$target/trial"
    say "removed the trial mark of $PREFIX"
  fi
}

# The flat layout of older installs (dist/, node_modules/, libexec/ ... directly in PREFIX): once
# the release is current, everything in PREFIX but the releases layout goes.
migrate_flat_layout() {
  local entry removed=false
  for entry in "$target"/* "$target"/.[!.]*; do
    [[ -e "$entry" || -L "$entry" ]] || continue
    case "${entry##*/}" in
    releases | current | trial | .lock) continue ;;
    esac
    rm -rf "$entry"
    removed=true
  done
  if "$removed"; then say "migrated $PREFIX to the releases layout"; fi
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

# The components of the absolute path $2 into the array named $1, with ., .. and repeated slashes
# resolved as text (as GNU's realpath -m -s does).
path_components() {
  local -n into="$1"
  local rest="$2/" part
  into=()
  while [[ -n "$rest" ]]; do
    part="${rest%%/*}"
    rest="${rest#*/}"
    case "$part" in
    "" | .) ;;
    ..) if ((${#into[@]} > 0)); then unset 'into[-1]'; fi ;;
    *) into+=("$part") ;;
    esac
  done
}

# The path from the directory $1 to $2, both absolute, as GNU's realpath -m -s --relative-to gives
# it: BusyBox's realpath, all a plain board image has, takes no options.
relative_path() {
  local -a from to
  local common=0 i path=""
  path_components from "$1"
  path_components to "$2"
  while ((common < ${#from[@]} && common < ${#to[@]})) && [[ "${from[common]}" == "${to[common]}" ]]; do
    ((common += 1))
  done
  for ((i = common; i < ${#from[@]}; i++)); do path+="../"; done
  for ((i = common; i < ${#to[@]}; i++)); do path+="${to[i]}/"; done
  path="${path%/}"
  echo "${path:-.}"
}

# A relative link from $2 to the absolute path $1 (both on the target): right inside DESTDIR too.
# The paths are the target's, taken as text: this machine's links on them, PREFIX/current above
# all when the target is this machine, must not pin the link to what they point at now.
link() {
  local dest="$root$2" target
  target="$(relative_path "$(dirname "$2")" "$1")"
  [[ -L "$dest" && "$(readlink "$dest")" == "$target" ]] && return
  mkdir -p "$(dirname "$dest")"
  ln -sfn "$target" "$dest"
  say "linked $2 -> $target"
}

# Node's name of an architecture (process.arch) from its name in uname -m, Debian or Node.
node_arch() {
  case "$1" in
  x86_64 | amd64 | x64) echo x64 ;;
  aarch64 | arm64 | armv8*) echo arm64 ;;
  arm | armhf | armel | armv6* | armv7*) echo arm ;;
  i386 | i486 | i586 | i686 | ia32) echo ia32 ;;
  *) echo "$1" ;;
  esac
}

# The packages of the release with a native addon, except those shipping a prebuilt one for $1.
native_modules_to_rebuild() {
  local gyp dir prebuilt
  while IFS= read -r gyp; do
    dir="$(dirname "$gyp")"
    # prebuilds/<platform>-<arch>/ exactly: linux-arm* would take arm64's for 32-bit arm. Only the
    # file name is a pattern: PREFIX and DESTDIR may hold [ ] * ?.
    prebuilt=("$dir/prebuilds/linux-$1"/*.node)
    [[ -e "${prebuilt[0]}" ]] && continue
    echo "${dir#"$release/node_modules/"}"
  done < <(find "$release/node_modules" -name binding.gyp -not -path '*/node_modules/*/node_modules/*' | LC_ALL=C sort)
}

# The file that the target's absolute path $1 names, inside the root. Each link on the way is
# followed as the target would follow it, an absolute one from the root (a BusyBox image's
# /bin/sh -> /bin/busybox, a merged /usr's bin -> usr/bin): never into this machine's own tree.
# Fails on a loop of links.
path_in_root() {
  local -a rest more
  local resolved="" part hops=0 link
  IFS=/ read -r -a rest <<<"$1"
  while ((${#rest[@]} > 0)); do
    part="${rest[0]}"
    rest=("${rest[@]:1}")
    case "$part" in
    "" | .) continue ;;
    ..) resolved="${resolved%/*}" && continue ;;
    esac
    if [[ ! -L "$root$resolved/$part" ]]; then
      resolved+="/$part"
      continue
    fi
    ((++hops <= 40)) || return 1
    link="$(readlink "$root$resolved/$part")"
    if [[ "$link" == /* ]]; then resolved=""; fi
    IFS=/ read -r -a more <<<"$link"
    rest=("${more[@]}" "${rest[@]}")
  done
  echo "$root$resolved"
}

# Node's name of the architecture the ELF file $1 was built for (e_machine, read in the byte order
# its header gives), or nothing for a file that is no ELF file or for a machine Node has no name for.
elf_arch() {
  local -a byte
  # od: POSIX, in every BusyBox; the first 20 bytes hold e_ident and e_machine.
  read -r -a byte <<<"$(od -An -tu1 -N20 "$1" 2>/dev/null | tr '\n' ' ')"
  ((${#byte[@]} == 20)) && [[ "${byte[*]:0:4}" == "127 69 76 70" ]] || return 0
  local machine
  case "${byte[5]}" in
  1) machine=$((byte[18] + 256 * byte[19])) ;;
  2) machine=$((256 * byte[18] + byte[19])) ;;
  *) return 0 ;;
  esac
  case "$machine" in
  3) echo ia32 ;;
  40) echo arm ;;
  62) echo x64 ;;
  183) echo arm64 ;;
  243) echo riscv64 ;;
  21) echo ppc64 ;;
  22) echo s390x ;;
  258) echo loong64 ;;
  esac
}

warn_foreign_arch() {
  local target="" from="" host modules candidate file
  host="$(node -p process.arch)"
  if [[ -n "$TARGET_ARCH" ]]; then
    target="$(node_arch "$TARGET_ARCH")"
  elif [[ -n "$DESTDIR" ]]; then
    for candidate in bin/sh usr/bin/node bin/busybox; do
      file="$(path_in_root "/$candidate")" || continue
      [[ -f "$file" ]] || continue
      from="$candidate"
      target="$(elf_arch "$file")"
      break
    done
    if [[ -z "$target" ]]; then
      local why="none of bin/sh, usr/bin/node, bin/busybox is there"
      [[ -z "$from" ]] || why="its $from is no ELF executable of an architecture Node runs on"
      echo "install: warning: cannot tell the architecture of $DESTDIR ($why): if it is not $host, its native modules must be rebuilt there; give --arch to be told which" >&2
      return 0
    fi
    from=" (the ELF header of its $from)"
  fi
  [[ -n "$target" && "$target" != "$host" ]] || return 0
  modules="$(native_modules_to_rebuild "$target" | paste -sd ' ' -)"
  echo "install: warning: the target is $target$from, this machine $host: the native modules ($modules) were built for $host and must be rebuilt for $target (on the target: cd $PREFIX/releases/$version && npm rebuild)" >&2
}

install_release
make_current
migrate_flat_layout

generated="$(mktemp)"
trap 'rm -f "$generated"' EXIT
# Installs a file of the checkout with PREFIX in place of the default one. Replaced by bash as
# quoted text, not by sed, whose replacement would read PREFIX's | and & as its syntax. The "."
# keeps the file's last newlines from the command substitution.
put_for_prefix() {
  local text
  text="$(cat "$SRC/$2" && echo .)"
  text="${text%.}"
  printf '%s' "${text//"/opt/chargepoint"/"$PREFIX"}" >"$generated"
  put "$1" "$generated" "$3"
}
unit_changed=false
for unit in chargepoint.service chargepoint-firmware-trial.service chargepoint-firmware-trial.timer; do
  put_for_prefix 0644 "systemd/$unit" "$LIBDIR/systemd/system/$unit"
  if "$put_changed"; then unit_changed=true; fi
done
put 0644 "$SRC/systemd/chargepoint.sysusers" "$LIBDIR/sysusers.d/chargepoint.conf"
put_for_prefix 0644 systemd/chargepoint.tmpfiles "$LIBDIR/tmpfiles.d/chargepoint.conf"
put 0755 "$SRC/systemd/chargepoint-stop-post" "$LIBEXECDIR/chargepoint-stop-post"
put_for_prefix 0644 scripts/firmware-release-lib.sh "$LIBEXECDIR/firmware-release-lib.sh"
for hook in firmware-install-release.sh firmware-confirm-release.sh firmware-trial-check.sh firmware-install-rauc.sh; do
  put 0755 "$SRC/scripts/$hook" "$LIBEXECDIR/$hook"
done
link "$PREFIX/current/dist/src/bin/cpctl.js" "$BINDIR/cpctl"
link "$PREFIX/current/dist/src/bin/chargepointd.js" "$BINDIR/chargepointd"
put 0644 "$SRC/scripts/cpctl-completion.bash" "$COMPLETIONSDIR/cpctl"

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
  put_for_prefix 0600 config/chargepoint.example.json "$CONFDIR/chargepoint.json"
  say "fill in $CONFDIR/chargepoint.json (every CHANGE-ME, board), then delete its \"template\" line; chargepointd --check --config $CONFDIR/chargepoint.json lists what is left"
fi
warn_foreign_arch

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
