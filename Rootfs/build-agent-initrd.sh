#!/usr/bin/env bash
# Builds the initramfs that brings kiln-agent to every sandbox: a newc cpio holding the static
# agent as /init, /dev/console, and the directories it mounts on. kiln passes it with --initrd;
# the agent mounts the image (/dev/vda, read-only), puts the write layer over it and serves
# from there, so images need no agent (nor shell, nor libc) and upgrading kiln rebuilds no image.
# Uncompressed: the kernel copies it in one go, and the agent is most of it.
#
# Cached in ${KILN_CACHE:-$HOME/.cache/kiln}/agent-initrd/<key>, <key> hashing this script and the
# agent binary (built as Rootfs/build-sandbox.sh builds it: see agent.sh; KILN_AGENT overrides).
#
# stdout: one line for `eval "$(Rootfs/build-agent-initrd.sh)"`:
#   KILN_AGENT_INITRD=/path/agent-initrd.cpio
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
force=0
[ "${1:-}" = --force ] && force=1
log() { echo "agent-initrd: $*" >&2; }
die() { echo "agent-initrd: ERROR: $*" >&2; exit 1; }
command -v cpio >/dev/null || die "cpio not found: apt-get install -y cpio"

# shellcheck source=agent.sh
. "$here/agent.sh"

cache=${KILN_CACHE:-${HOME:-/root}/.cache/kiln}
key=$( { sha256sum <"$agent"; cat "${BASH_SOURCE[0]}"; } | sha256sum | cut -c1-16)
out=$cache/agent-initrd/$key
emit() { echo "KILN_AGENT_INITRD=$out/agent-initrd.cpio"; }
if [ "$force" = 0 ] && [ -f "$out/.complete" ]; then log "cached: $out"; emit; exit 0; fi

mkdir -p "$cache/agent-initrd"
exec 9>"$cache/agent-initrd/.lock"
flock 9
if [ "$force" = 0 ] && [ -f "$out/.complete" ]; then log "cached: $out"; emit; exit 0; fi

work=$out.tmp
rm -rf "$work" "$out"
mkdir -p "$work/tree"/{dev,proc,kiln/image,kiln/layer}
install -m 0755 "$agent" "$work/tree/init"

# /dev/console is written by hand (newc needs no mknod, so no root): without it the kernel starts
# /init with no stdin, stdout or stderr and the agent's messages never reach the console.
newc_entry() { # name mode(octal) rdevmajor rdevminor
    local name=$1 mode=$2 maj=$3 min=$4 namesize=$(( ${#1} + 1 ))
    printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X' \
        0 $((8#$mode)) 0 0 1 0 0 0 0 "$maj" "$min" "$namesize" 0
    printf '%s\0' "$name"
    local pad=$(( (4 - (110 + namesize) % 4) % 4 ))
    [ "$pad" = 0 ] || head -c "$pad" /dev/zero
}
{
    (cd "$work/tree" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0)
    newc_entry dev/console 020600 5 1
    newc_entry TRAILER!!! 0 0 0
} >"$work/agent-initrd.cpio"
rm -rf "$work/tree"
echo "kiln-agent $(stat -c %s "$agent") bytes, sha256 $(sha256sum <"$agent" | cut -c1-16); agent-initrd.cpio $(stat -c %s "$work/agent-initrd.cpio") bytes" >"$work/manifest"
touch "$work/.complete"
mv "$work" "$out"
log "built: $out"
sed 's/^/agent-initrd:   /' "$out/manifest" >&2
emit
