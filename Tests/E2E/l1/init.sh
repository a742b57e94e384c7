#!/bin/sh
# /init of L1 (QEMU TCG, emulated AMD CPU with SVM, Debian's kernel).
# Loads kvm-amd with nested=1, mounts the host root read-only (9p tag kilnhost)
# and the run directory read-write (9p tag kilnrun) at the same path as on the
# host, chroots into the host root, runs Tests/E2E/inner.sh there, powers off.
# Command line: kiln.run=DIR kiln.inner=SCRIPT kiln.tmpfs=1|0
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

run= inner= tmpfs=1
for arg in $(cat /proc/cmdline); do
    case $arg in
        kiln.run=*) run=${arg#kiln.run=} ;;
        kiln.inner=*) inner=${arg#kiln.inner=} ;;
        kiln.tmpfs=*) tmpfs=${arg#kiln.tmpfs=} ;;
    esac
done
say() { echo "L1: $*"; }
die() {
    say "ERROR: $*"
    [ -n "$run" ] && grep -q " /host$run " /proc/mounts && echo "$*" >"/host$run/l1-error"
    poweroff -f
}

while read -r m; do
    args=
    [ "$m" = kvm-amd.ko ] && args=nested=1
    insmod "/lib/modules/$m" $args || say "insmod $m $args failed"
done </lib/modules/order

opts=trans=virtio,version=9p2000.L,msize=512000
mount -t 9p -o "$opts,ro,cache=loose" kilnhost /host || die "cannot mount the host root over 9p"
mount -t 9p -o "$opts" kilnrun "/host$run" || die "cannot mount the run directory $run over 9p"
[ -c /dev/kvm ] || die "no /dev/kvm in L1 (kvm-amd did not load: $(dmesg | grep -i -m3 'kvm\|svm'))"
# A writable /run as on any machine (kiln's sandbox state as root), and local scratch for the
# scenarios' $TMPDIR: /tmp, or when the host's /tmp holds the repo (kept read-only) a
# directory under /run.
mount -t tmpfs -o mode=0755 tmpfs /host/run
local_tmp=/tmp
if [ "$tmpfs" = 1 ]; then mount -t tmpfs -o mode=1777 tmpfs /host/tmp
else local_tmp=/run/kiln-e2e-tmp; mkdir -m 1777 "/host$local_tmp"; fi
mount -o bind /proc /host/proc
mount -o bind /sys /host/sys
mount -o bind /dev /host/dev
mkdir -p /dev/shm /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t devpts devpts /dev/pts

echo "up $(cut -d' ' -f1 /proc/uptime)" >"/host$run/l1-started"
chroot /host /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/root LC_ALL=C TMPDIR="$run/tmp" KILN_E2E_LOCAL_TMP="$local_tmp" KILN_E2E_IN_L1=1 /bin/bash "$inner" "$run"
echo "$?" >"/host$run/l1-rc"
sync
umount "/host$run"
poweroff -f
