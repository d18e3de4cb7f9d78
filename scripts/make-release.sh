#!/usr/bin/env bash
# Builds a release of the built runtime (npm run build first): the tree that lives in
# PREFIX/releases/<version> (docs/firmware.md, "Releases and rollback").
#
#   scripts/make-release.sh [--version V] [--out DIR]   DIR/chargepoint-<version>.tar.gz (default DIR: release/)
#   scripts/make-release.sh [--version V] --tree DIR    only the release tree, in DIR (install.sh uses it)
#
# The tarball holds one directory, chargepoint-<version>/, with the runtime (the bundles in
# dist/src/bin/, the production node_modules, package.json, config/ schemas and boards, README.md)
# and two files that describe it:
#   SHA256SUMS  the sha256sum line of every other file of the release
#   MANIFEST    key=value lines: format=1, version=<version>, node=<lowest Node.js major it runs on>,
#               sha256sums=<sha256 of SHA256SUMS>
# --version replaces the package version in the release's package.json (a CI or test build); the
# daemon reports that version in BootNotification.
set -euo pipefail

SRC="$(cd "$(dirname "$0")/.." && pwd)"
version=""
out="$SRC/release"
tree=""
die() {
  echo "make-release: $*" >&2
  exit 1
}
while (($# > 0)); do
  case "$1" in
  --version) version="${2:?}" && shift 2 ;;
  --out) out="${2:?}" && shift 2 ;;
  --tree) tree="${2:?}" && shift 2 ;;
  *) die "unknown argument: $1" ;;
  esac
done

[[ -x "$SRC/dist/src/bin/chargepointd.js" ]] || die "no build in $SRC/dist: run npm run build first"
command -v node >/dev/null 2>&1 || die "node is needed to read package.json and package-lock.json"
version="${version:-$(node -p 'require(process.argv[1]).version' "$SRC/package.json")}"
# The version names a directory and goes unquoted into the hooks' JSON: a plain token only.
[[ "$version" =~ ^[0-9A-Za-z][0-9A-Za-z._+-]*$ ]] || die "not a usable version: $version"

# The production dependencies: lock file entries not marked dev, top level only (nested ones come
# with their parent), and only those present (optional ones for other platforms are not).
production_modules() {
  node -e '
    const lock = JSON.parse(require("node:fs").readFileSync(process.argv[1], "utf8"));
    for (const [path, entry] of Object.entries(lock.packages ?? {})) {
      if (path && !entry.dev && !entry.link && path.split("node_modules/").length === 2) console.log(path);
    }' "$SRC/package-lock.json"
}

# What the runtime never loads goes: source maps (the daemon runs without --enable-source-maps),
# TypeScript build info, declarations and sources (Node 20 runs no .ts: some packages ship their
# sources and type tests beside the JavaScript), type packages (@types, which some production
# packages list as dependencies), the packages' test folders, prebuilt addons for other systems
# than Linux, a native addon's build intermediates (objects, static libraries, makefiles; only
# build/Release/*.node is loaded, and its sources stay for a rebuild on another architecture),
# and the folders all this leaves empty (sonic-boom/types/tests held type tests only).
prune_release() {
  local modules="$1/node_modules" gyp build dir
  find "$1" -type f \( -name '*.map' -o -name '*.tsbuildinfo' -o -name '*.d.ts' -o -name '*.d.[cm]ts' \) -delete
  find "$modules" -type f \( -name '*.ts' -o -name '*.[cm]ts' \) -delete
  find "$modules" -depth -type d -name '@types' -exec rm -rf {} +
  while IFS= read -r dir; do
    [[ -f "$dir/../package.json" ]] && rm -rf "$dir"
  done < <(find "$modules" -depth -type d \( -name test -o -name tests \))
  find "$modules" -type d -path '*/prebuilds/*' -not -path '*/prebuilds/*/*' -not -name 'linux-*' -exec rm -rf {} +
  # From inside build/: -path patterns are globs, and the stage's own path may hold [ ] * ?.
  while IFS= read -r gyp; do
    build="$(dirname "$gyp")/build"
    [[ -d "$build" ]] || continue
    (cd "$build" && find . -mindepth 1 -depth -not -path ./Release \
      -not \( -path './Release/*.node' -not -path './Release/*/*' \) -exec rm -rf {} +)
  done < <(find "$modules" -name binding.gyp)
  find "$modules" -mindepth 1 -depth -type d -empty -delete
}

stage_release() {
  local stage="$1" path sums
  # Without --preserve=ownership: the files belong to whoever installs them, never to whoever built them.
  local copy=(cp -R -P --preserve=mode,timestamps)
  mkdir -p "$stage/dist/src/bin" "$stage/node_modules" "$stage/config"
  # The daemon and cpctl are bundles (scripts/bundle.ts) that import only their chunks and the
  # packages: tsc's module files beside them are never loaded, and would double the flash a
  # release takes (two releases are kept for rollback).
  "${copy[@]}" "$SRC/dist/src/bin/chargepointd.js" "$SRC/dist/src/bin/cpctl.js" "$SRC/dist/src/bin/chunks" \
    "$stage/dist/src/bin/"
  "${copy[@]}" "$SRC/README.md" "$stage/"
  node -e '
    const [from, to, version] = process.argv.slice(1);
    const fs = require("node:fs");
    const pkg = JSON.parse(fs.readFileSync(from, "utf8"));
    if (pkg.version !== version) fs.writeFileSync(to, `${JSON.stringify({ ...pkg, version }, null, 2)}\n`);
    else fs.copyFileSync(from, to);
  ' "$SRC/package.json" "$stage/package.json" "$version"
  touch -r "$SRC/package.json" "$stage/package.json"
  # config/dev.json is the development setup (its paths point into the checkout).
  "${copy[@]}" "$SRC/config/boards" "$SRC"/config/*.schema.json "$stage/config/"
  while IFS= read -r path; do
    [[ -e "$SRC/$path" ]] || continue
    mkdir -p "$(dirname "$stage/$path")"
    "${copy[@]}" "$SRC/$path" "$stage/$path"
  done < <(production_modules)
  prune_release "$stage"
  chmod -R u+w,go-w,a+rX "$stage"
  sums="$(cd "$stage" && find . -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0r sha256sum)"
  echo "$sums" >"$stage/SHA256SUMS"
  local node_major
  node_major="$(node -p '/^>=\s*(\d+)/.exec(require(process.argv[1]).engines.node)[1]' "$SRC/package.json")"
  {
    echo "format=1"
    echo "version=$version"
    echo "node=$node_major"
    echo "sha256sums=$(sha256sum <"$stage/SHA256SUMS" | cut -d' ' -f1)"
  } >"$stage/MANIFEST"
  chmod 0644 "$stage/SHA256SUMS" "$stage/MANIFEST"
  touch -r "$SRC/package.json" "$stage/SHA256SUMS" "$stage/MANIFEST"
}

if [[ -n "$tree" ]]; then
  [[ ! -e "$tree" ]] || [[ -z "$(ls -A "$tree")" ]] || die "$tree is not empty"
  mkdir -p "$tree"
  stage_release "$tree"
  exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
name="chargepoint-$version"
stage_release "$work/$name"
mkdir -p "$out"
# Same build, same bytes: sorted, owned by root, gzip without a name or time stamp.
tar --sort=name --owner=0 --group=0 --numeric-owner -C "$work" -cf - "$name" | gzip -n >"$work/$name.tar.gz"
mv "$work/$name.tar.gz" "$out/$name.tar.gz"
echo "$out/$name.tar.gz"
