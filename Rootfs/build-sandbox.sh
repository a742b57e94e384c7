#!/usr/bin/env bash
# Builds the sandbox root filesystem for `kiln run`: an ext4 image with Debian's busybox-static
# and the static `kiln-agent` as /sbin/init (and /init). The image is used read-only and shared
# by every run; the agent puts a tmpfs overlay on top (kiln.overlay=tmpfs on the command line).
#
# Cached in ${KILN_CACHE:-$HOME/.cache/kiln}/sandbox/<key>, <key> hashing this script, the
# busybox-static and e2fsprogs versions and the agent binary. The agent is built statically
# from this checkout (swift build -c release --product kiln-agent, scratch path .build-agent)
# unless KILN_AGENT names a binary.
#
# stdout: one line for `eval "$(Rootfs/build-sandbox.sh)"`:
#   KILN_SANDBOX_ROOTFS=/path/sandbox.ext4
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
force=0
[ "${1:-}" = --force ] && force=1
log() { echo "sandbox-rootfs: $*" >&2; }
die() { echo "sandbox-rootfs: ERROR: $*" >&2; exit 1; }

busybox=/bin/busybox
missing=()
for p in busybox-static e2fsprogs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "sandbox-rootfs: missing packages: ${missing[*]}" >&2
    echo "sandbox-rootfs: install them with:  apt-get install -y ${missing[*]}" >&2
    exit 1
fi
file -L "$busybox" 2>/dev/null | grep -q 'statically linked' || die "$busybox is not the static busybox (busybox-static)"

# shellcheck source=agent.sh
. "$here/agent.sh"

cache=${KILN_CACHE:-${HOME:-/root}/.cache/kiln}
key=$( { dpkg-query -W -f='${Version}\n' busybox-static e2fsprogs
         sha256sum <"$agent"; cat "${BASH_SOURCE[0]}"; } | sha256sum | cut -c1-16)
out=$cache/sandbox/$key
emit() { echo "KILN_SANDBOX_ROOTFS=$out/sandbox.ext4"; }
if [ "$force" = 0 ] && [ -f "$out/.complete" ]; then log "cached: $out"; emit; exit 0; fi

mkdir -p "$cache/sandbox"
exec 9>"$cache/sandbox/.lock"
flock 9
if [ "$force" = 0 ] && [ -f "$out/.complete" ]; then log "cached: $out"; emit; exit 0; fi

work=$out.tmp
rm -rf "$work" "$out"
mkdir -p "$work"
tree=$work/tree

# Mount points must exist in the image: the root is mounted read-only.
mkdir -p "$tree"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,run,root,mnt,overlay,home,var/tmp}
chmod 1777 "$tree/tmp" "$tree/var/tmp"
cp "$busybox" "$tree/bin/busybox"
"$busybox" --list-full | while read -r applet; do
    [ -e "$tree/$applet" ] || ln -s /bin/busybox "$tree/$applet"
done
install -m 0755 "$agent" "$tree/sbin/kiln-agent"
ln -sf /sbin/kiln-agent "$tree/init"
rm -f "$tree/sbin/init"
ln -s /sbin/kiln-agent "$tree/sbin/init"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$tree/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$tree/etc/group"
printf 'kiln\n' >"$tree/etc/hostname"

# 64 MiB leaves room for what users copy in with the image mounted read-write elsewhere; a run
# itself writes only to the tmpfs overlay.
mkfs.ext4 -q -F -L kiln-sandbox -E root_owner=0:0 -d "$tree" "$work/sandbox.ext4" 64M >&2
rm -rf "$tree"
{
    echo "busybox-static $(dpkg-query -W -f='${Version}' busybox-static)"
    echo "kiln-agent $(stat -c %s "$agent") bytes, sha256 $(sha256sum <"$agent" | cut -c1-16)"
    echo "sandbox.ext4 $(stat -c %s "$work/sandbox.ext4") bytes (64 MiB)"
} >"$work/manifest"
touch "$work/.complete"
mv "$work" "$out"
log "built: $out"
sed 's/^/sandbox-rootfs:   /' "$out/manifest" >&2
emit
