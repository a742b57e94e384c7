#!/usr/bin/env bash
# Puts kiln's default image into the image store: Debian bookworm (minbase, python3,
# ca-certificates) from Rootfs/build-debian.sh's tarball, as a one-layer OCI image (umoci), pulled
# with `kiln pull` like any image and named kiln.local/default:latest (and kiln.local/debian:bookworm).
# `kiln run` without --image, --rootfs or $KILN_SANDBOX_ROOTFS runs it. The store is kiln's own
# ($KILN_IMAGE_STORE, else /var/lib/kiln/images as root, else under $XDG_DATA_HOME).
#
# The OCI layout is cached in ${KILN_CACHE:-$HOME/.cache/kiln}/default-image/<key> (<key>: the
# Debian tarball's own cache key and this script); pulling an image the store already has
# converts nothing, so a second run takes well under a second.
#
# usage: KILN=path/to/kiln Rootfs/build-default-image.sh
# stdout: KILN_DEFAULT_IMAGE=kiln.local/default:latest
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
log() { echo "default-image: $*" >&2; }
die() { echo "default-image: ERROR: $*" >&2; exit 1; }
kiln=${KILN:-$here/../.build/release/kiln}
[ -x "$kiln" ] || die "no kiln binary at $kiln (set KILN)"
command -v umoci >/dev/null || die "umoci not found: apt-get install -y umoci"

eval "$("$here/build-debian.sh")"
[ -f "${KILN_DEBIAN_TAR:-}" ] || die "Rootfs/build-debian.sh gave no tarball"
cache=${KILN_CACHE:-${HOME:-/root}/.cache/kiln}
key=$( { basename "$(dirname "$KILN_DEBIAN_TAR")"; cat "${BASH_SOURCE[0]}"; } | sha256sum | cut -c1-16)
layout=$cache/default-image/$key/layout
if [ ! -f "$cache/default-image/$key/.complete" ]; then
    t=$EPOCHREALTIME
    rm -rf "$cache/default-image/$key"
    mkdir -p "$cache/default-image/$key"
    umoci init --layout "$layout"
    umoci new --image "$layout:bookworm"
    umoci raw add-layer --image "$layout:bookworm" "$KILN_DEBIAN_TAR"
    umoci config --image "$layout:bookworm" \
        --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --config.env LANG=C.UTF-8 \
        --config.cmd /bin/bash
    touch "$cache/default-image/$key/.complete"
    log "OCI layout built in $(awk -v a="$t" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }') s: $layout"
fi
t=$EPOCHREALTIME
"$kiln" pull "oci:$layout:bookworm" >/dev/null || die "kiln pull oci:$layout:bookworm failed"
"$kiln" image tag "oci:$layout:bookworm" kiln.local/default:latest >/dev/null || die "kiln image tag failed"
"$kiln" image tag "oci:$layout:bookworm" kiln.local/debian:bookworm >/dev/null || die "kiln image tag failed"
log "in the store as kiln.local/default:latest ($(awk -v a="$t" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }') s)"
echo "KILN_DEFAULT_IMAGE=kiln.local/default:latest"
