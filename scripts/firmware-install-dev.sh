#!/bin/sh
# The firmware.install hook of the development setup (config/dev.json; DESIGN item 9):
#
#   firmware-install-dev.sh <image>
#
# The simulated board has no flash to write and no slot to switch: the image is accepted as it
# is, so that an UpdateFirmware under `npm run dev` runs the whole path a board runs (download,
# install, the daemon's restart, Installed after the next BootNotification). It checks only what a
# real hook checks first, that there is an image to install. Exit 0 = installed: with
# `afterInstall: "restart"` the daemon exits 10 and the dev loop restarts it, as systemd would.
# The daemon logs the end of stderr (the reason of an InstallationFailed, and on success what was done).
set -eu

say() { echo "firmware-install-dev: $*" >&2; }

[ "$#" -eq 1 ] || {
  say "usage: $0 <image>"
  exit 64
}
image="$1"
[ -f "$image" ] || {
  say "no image at $image"
  exit 1
}
[ -s "$image" ] || {
  say "the image $image is empty"
  exit 1
}
say "simulated board: $image ($(wc -c <"$image" | tr -d ' ') bytes) accepted; a board would now write it to its inactive slot and switch to it"
