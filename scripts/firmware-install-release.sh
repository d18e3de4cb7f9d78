#!/usr/bin/env bash
# The firmware.install hook for release tarballs (scripts/make-release.sh; DESIGN item 9):
#
#   firmware-install-release.sh <image.tar.gz>
#
# Unpacks the image beside the running release (PREFIX/releases, the same file system), verifies
# it (one release directory, nothing but files and directories, its MANIFEST, every file against
# SHA256SUMS, the Node.js major it needs, and the release's own daemon printing its version),
# marks it on trial, and switches PREFIX/current to it in one rename. Exit 0: the daemon stops
# and systemd starts the new release, which must confirm itself (firmware-confirm-release.sh)
# or firmware-trial-check.sh restores this one. Any other exit: nothing was switched, the image's
# remains are removed, and the daemon reports InstallationFailed.
set -euo pipefail
# shellcheck source=firmware-release-lib.sh
. "$(dirname "$(readlink -f "$0")")/firmware-release-lib.sh"

(($# == 1)) || die "usage: $0 <release.tar.gz>"
image="$1"
[[ -f "$image" ]] || die "no image at $image"
[[ -d "$PREFIX/releases" ]] || die "no releases under $PREFIX (install with scripts/install.sh)"
take_lock
running="$(current_version)"
[[ -n "$running" ]] || die "$PREFIX/current is not a release link (install with scripts/install.sh)"

# Room first: only the running release stays (the new one will join it, and be the only other).
for old in "$PREFIX"/releases/* "$PREFIX"/releases/.incoming.*; do
  [[ -e "$old" && "$old" != "$PREFIX/releases/$running" ]] || continue
  rm -rf "$old" 2>/dev/null || log "could not remove $old (left as it is)"
done

incoming="$(mktemp -d "$PREFIX/releases/.incoming.XXXXXX")"
trap 'rm -rf "$incoming"' EXIT
tar -xzf "$image" -C "$incoming" --no-same-owner 2>/dev/null || die "$image is not a readable .tar.gz"

shopt -s nullglob dotglob
top=("$incoming"/*)
shopt -u nullglob dotglob
((${#top[@]} == 1)) && [[ -d "${top[0]}" && ! -L "${top[0]}" ]] || die "$image must hold exactly one release directory"
dir="${top[0]}"
odd="$(find "$dir" ! -type f ! -type d -printf '%P\n' | head -n 1)"
[[ -z "$odd" ]] || die "$image holds something other than files and directories: $odd"
chmod -R u+w,go-w,a+rX "$dir"

[[ -f "$dir/MANIFEST" ]] || die "$image has no MANIFEST"
manifest() { sed -n "s/^$1=//p" "$dir/MANIFEST" | head -n 1; }
[[ "$(manifest format)" == 1 ]] || die "MANIFEST format is not 1"
version="$(manifest version)"
[[ "$version" =~ ^[0-9A-Za-z][0-9A-Za-z._+-]*$ ]] || die "MANIFEST version is not usable: '$version'"
[[ "$version" != "$running" ]] || die "release $version is already running"
need_node="$(manifest node)"
[[ "$need_node" =~ ^[0-9]+$ ]] || die "MANIFEST node is not a major version: '$need_node'"
have_node="$(node -p 'process.versions.node.split(".")[0]')"
((have_node >= need_node)) || die "release $version needs Node.js $need_node, this system has $have_node"

[[ -f "$dir/SHA256SUMS" && "$(sha256sum <"$dir/SHA256SUMS" | cut -d' ' -f1)" == "$(manifest sha256sums)" ]] ||
  die "SHA256SUMS does not match the MANIFEST"
(cd "$dir" && sha256sum --check --strict --quiet SHA256SUMS >/dev/null 2>&1) || die "a file of release $version does not match SHA256SUMS"
listed="$(cut -c67- "$dir/SHA256SUMS" | LC_ALL=C sort)"
present="$(cd "$dir" && find . -type f ! -path ./SHA256SUMS ! -path ./MANIFEST -printf '%P\n' | LC_ALL=C sort)"
[[ "$listed" == "$present" ]] || die "release $version holds files SHA256SUMS does not list"

# The release's own daemon must load (its code, its dependencies and their native parts on this
# Node.js) and be the version it says.
said="$(cd "$dir" && timeout 60 node dist/src/bin/chargepointd.js --version 2>&1)" || die "release $version does not start: ${said:0:200}"
[[ "$said" == "$version" ]] || die "release $version reports version '${said:0:80}'"

dest="$PREFIX/releases/$version"
mv -T "$dir" "$dest"
sync "$PREFIX/releases"
# The mark before the link: a crash between the two leaves a mark the start check drops (its
# release is not current), never a switched release without one.
write_trial "$version" "$running" 0 "$(date +%s)"
switch_to "$version"
log "release $version installed beside $running and switched to; on trial until it confirms"
