#!/usr/bin/env bash
# Builds Kiln's test guest userspace from Debian's busybox-static, without root:
#   initramfs.cpio.gz  busybox + Rootfs/init.sh as /init + /etc/kiln/payload
#   rootfs.ext4        the same tree as an ext4 image (mkfs.ext4 -d), init at /sbin/init
#   vsock-tool         Rootfs/tools/vsock-tool.c built static (also /usr/bin/vsock-tool in both
#                      images): the guest and host ends of the vsock tests
#   /usr/bin/blk-randread  Rootfs/tools/blk-randread.c built static, in both images: random 4 KiB
#                      reads by several processes (E2E blkbench; the guest has no fio)
#
# Cached in ${KILN_CACHE:-$HOME/.cache/kiln}/rootfs/<key>, <key> hashing this
# script, init.sh and the busybox-static and e2fsprogs versions.
#
# stdout: lines for `eval "$(Rootfs/build.sh)"`:
#   KILN_INITRAMFS=/path/initramfs.cpio.gz
#   KILN_ROOTFS=/path/rootfs.ext4
#   KILN_PAYLOAD_SHA256=<sha256 of /etc/kiln/payload inside both images>
#   KILN_VSOCK_TOOL=/path/vsock-tool
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
force=0
[ "${1:-}" = --force ] && force=1
log() { echo "rootfs: $*" >&2; }
die() { echo "rootfs: ERROR: $*" >&2; exit 1; }

busybox=/bin/busybox
missing=()
for p in busybox-static e2fsprogs cpio gzip gcc libc6-dev; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "rootfs: missing packages: ${missing[*]}" >&2
    echo "rootfs: install them with:  apt-get install -y ${missing[*]}" >&2
    exit 1
fi
file -L "$busybox" 2>/dev/null | grep -q 'statically linked' ||
    ldd "$busybox" 2>&1 | grep -q 'not a dynamic executable' ||
    die "$busybox is not the static busybox (busybox-static)"

cache=${KILN_CACHE:-${HOME:-/root}/.cache/kiln}
key=$( { dpkg-query -W -f='${Version}\n' busybox-static e2fsprogs
         cat "${BASH_SOURCE[0]}" "$here/init.sh" "$here/tools/vsock-tool.c" "$here/tools/blk-randread.c"; } | sha256sum | cut -c1-16)
out=$cache/rootfs/$key
emit() {
    echo "KILN_INITRAMFS=$out/initramfs.cpio.gz"
    echo "KILN_ROOTFS=$out/rootfs.ext4"
    echo "KILN_PAYLOAD_SHA256=$(cat "$out/payload.sha256")"
    echo "KILN_VSOCK_TOOL=$out/vsock-tool"
}
if [ "$force" = 0 ] && [ -f "$out/.complete" ]; then log "cached: $out"; emit; exit 0; fi

mkdir -p "$cache/rootfs"
exec 9>"$cache/rootfs/.lock"
flock 9
if [ "$force" = 0 ] && [ -f "$out/.complete" ]; then log "cached: $out"; emit; exit 0; fi

work=$out.tmp
rm -rf "$work" "$out"
mkdir -p "$work"
tree=$work/tree

# --- the tree ---------------------------------------------------------------------
mkdir -p "$tree"/{bin,sbin,usr/bin,usr/sbin,etc/kiln,proc,sys,dev,tmp,root,mnt,run}
chmod 1777 "$tree/tmp"
cp "$busybox" "$tree/bin/busybox"
# One symlink per applet, where busybox would put it (no --install at boot).
"$busybox" --list-full | while read -r applet; do
    [ -e "$tree/$applet" ] || ln -s /bin/busybox "$tree/$applet"
done
install -m 0755 "$here/init.sh" "$tree/init"
gcc -static -O2 -Wall -o "$work/vsock-tool" "$here/tools/vsock-tool.c" >&2
install -m 0755 "$work/vsock-tool" "$tree/usr/bin/vsock-tool"
gcc -static -O2 -Wall -o "$tree/usr/bin/blk-randread" "$here/tools/blk-randread.c" >&2
ln -sf /init "$tree/sbin/init"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$tree/etc/passwd"
printf 'root:x:0:\n' >"$tree/etc/group"
# A payload whose checksum the guest prints: proves the initrd arrived intact.
# ~270 KiB of pseudo-random hex lines (the checksum is recorded here, so awk
# implementations may differ).
awk 'BEGIN { srand(4); for (i = 0; i < 16384; i++) printf "%08x%08x\n", rand() * 4294967295, rand() * 4294967295 }' \
    >"$tree/etc/kiln/payload"
sha256sum "$tree/etc/kiln/payload" | cut -d' ' -f1 >"$work/payload.sha256"

# --- initramfs: GNU cpio for the tree (owner forced to root), plus a second
# archive for /dev/console written by hand (a device node needs no mknod in
# newc, so no root). The kernel unpacks concatenated archives in order.
newc_entry() { # name mode(octal) rdevmajor rdevminor
    local name=$1 mode=$2 maj=$3 min=$4 namesize=$(( ${#1} + 1 ))
    printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X' \
        0 $((8#$mode)) 0 0 1 0 0 0 0 "$maj" "$min" "$namesize" 0
    printf '%s\0' "$name"
    local pad=$(( (4 - (110 + namesize) % 4) % 4 ))
    [ "$pad" = 0 ] || head -c "$pad" /dev/zero
}
{
    (cd "$tree" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0)
    newc_entry dev 040755 0 0
    newc_entry dev/console 020600 5 1
    newc_entry TRAILER!!! 0 0 0
} | gzip -9 -n >"$work/initramfs.cpio.gz"

# --- ext4 root filesystem ---------------------------------------------------------
# mkfs.ext4 -d copies the tree as it is; files keep the builder's uid (root in CI).
# The kernel mounts devtmpfs on /dev itself (DEVTMPFS_MOUNT) for a disk root.
mkfs.ext4 -q -F -L kiln-root -E root_owner=0:0 -d "$tree" "$work/rootfs.ext4" 32M >&2

rm -rf "$tree"
{
    echo "busybox-static $(dpkg-query -W -f='${Version}' busybox-static)"
    echo "initramfs $(stat -c %s "$work/initramfs.cpio.gz") bytes"
    echo "rootfs.ext4 $(stat -c %s "$work/rootfs.ext4") bytes (32 MiB)"
    echo "payload sha256 $(cat "$work/payload.sha256")"
} >"$work/manifest"
touch "$work/.complete"
mv "$work" "$out"
log "built: $out"
sed 's/^/rootfs:   /' "$out/manifest" >&2
emit
