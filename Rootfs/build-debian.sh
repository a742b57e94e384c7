#!/usr/bin/env bash
# Builds the root filesystem of kiln's default image from Debian packages: mmdebstrap, bookworm,
# minbase variant plus python3 and ca-certificates, written as one tarball. The image store (the
# layer applier) turns it into the stored default image; nothing here knows about kiln-agent:
# kiln supplies the agent (Rootfs/build-agent-initrd.sh).
#
# The mirror is the machine's own apt sources (/etc/apt/sources.list.d/debian.sources, or
# KILN_DEBIAN_SOURCES), so it works wherever apt does, including behind a local mirror.
# Cached in ${KILN_CACHE:-$HOME/.cache/kiln}/debian/<key>; <key> hashes this script, the package
# list, the sources and the Date: lines of the apt lists' Release files, so an `apt-get update`
# that sees a newer archive rebuilds it (without apt lists: today's date).
#
# stdout: one line for `eval "$(Rootfs/build-debian.sh)"`:
#   KILN_DEBIAN_TAR=/path/rootfs.tar
set -euo pipefail

force=0
[ "${1:-}" = --force ] && force=1
log() { echo "debian-rootfs: $*" >&2; }
die() { echo "debian-rootfs: ERROR: $*" >&2; exit 1; }

suite=bookworm
packages=python3,ca-certificates
sources=${KILN_DEBIAN_SOURCES:-/etc/apt/sources.list.d/debian.sources}
command -v mmdebstrap >/dev/null || die "mmdebstrap not found: apt-get install -y mmdebstrap"
[ -r "$sources" ] || die "no apt sources at $sources (set KILN_DEBIAN_SOURCES)"

release_dates=$(grep -h '^Date:' /var/lib/apt/lists/*Release 2>/dev/null | sort || true)
[ -n "$release_dates" ] || release_dates="no apt lists; built $(date -u +%F)"
cache=${KILN_CACHE:-${HOME:-/root}/.cache/kiln}
key=$( { cat "${BASH_SOURCE[0]}"; echo "$suite $packages"; cat "$sources"; echo "$release_dates"; } \
       | sha256sum | cut -c1-16)
out=$cache/debian/$key
emit() { echo "KILN_DEBIAN_TAR=$out/rootfs.tar"; }
if [ "$force" = 0 ] && [ -f "$out/.complete" ]; then log "cached: $out"; emit; exit 0; fi

mkdir -p "$cache/debian"
exec 9>"$cache/debian/.lock"
flock 9
if [ "$force" = 0 ] && [ -f "$out/.complete" ]; then log "cached: $out"; emit; exit 0; fi

work=$out.tmp
rm -rf "$work" "$out"
mkdir -p "$work"
started=$(date +%s.%N)
# As root mmdebstrap builds in a directory of its own (mode root); unprivileged it needs subuids
# (mode unshare). Its default cleanup removes apt's caches and lists, so the image stays small.
# No device nodes in /dev (--skip=output/dev): the agent mounts devtmpfs there, and the layer
# applier can then refuse every device node, as it must for layers from elsewhere.
mmdebstrap --variant=minbase --include="$packages" --format=tar --skip=output/dev \
    --aptopt='Acquire::Retries "3"' \
    "$suite" "$work/rootfs.tar" "$sources" >&2 || die "mmdebstrap failed (see above)"
elapsed=$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
{
    echo "suite $suite, variant minbase, packages $packages"
    echo "rootfs.tar $(stat -c %s "$work/rootfs.tar") bytes, sha256 $(sha256sum <"$work/rootfs.tar" | cut -c1-16)"
    echo "mmdebstrap $(mmdebstrap --version | awk '{ print $2 }'), ${elapsed} s"
} >"$work/manifest"
touch "$work/.complete"
mv "$work" "$out"
log "built: $out"
sed 's/^/debian-rootfs:   /' "$out/manifest" >&2
emit
