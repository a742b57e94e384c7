#!/bin/sh
# Kiln test guest /init (busybox sh). Installed as /init in the initramfs
# and as /sbin/init in the ext4 root filesystem.
#
#  1. mounts /proc, /sys, /dev (devtmpfs);
#  2. writes the boot-time marker: byte 123 to MMIO 0xd0000000 (skipped if
#     there is no devmem or /dev/mem, or if that address is RAM);
#  3. prints "KILN-INIT-READY uptime=<s>" on the console;
#  4. runs what the kernel command line asks for:
#       kiln.test=NAME   a built-in scenario (see below)
#       kiln.exec=B64    a shell script, base64-encoded (no spaces needed)
#       kiln.end=reboot|poweroff|shell|none   what to do afterwards
#                        (default: reboot after a test, shell otherwise)
#     Test output lines start with "KILN-" so the host can grep them.
#
# Built-in scenarios:
#   ready     nothing (the readiness line is the result)
#   info      KILN-NPROC, KILN-CPUS-ONLINE, KILN-MEMTOTAL-KB, KILN-CMDLINE,
#             KILN-PAYLOAD-SHA256 (of /etc/kiln/payload, a file of the image)
#   echo      prints KILN-ECHO-WAIT, reads one line from the console, prints
#             KILN-ECHO-GOT:<line>
#   reboot    reboot -f            poweroff   poweroff -f
#   panic     kernel panic via sysrq-c (or, without sysrq, by ending PID 1)
export PATH=/bin:/sbin:/usr/bin:/usr/sbin

# (Debian's busybox has no `mountpoint`; a disk root already has /dev mounted.)
[ -e /proc/self ] || mount -t proc proc /proc
mounted() { grep -q "^[^ ]* $1 " /proc/mounts; }
mounted /sys || mount -t sysfs sysfs /sys
mounted /dev || mount -t devtmpfs devtmpfs /dev

# Boot-time marker, as in Firecracker: the VMM logs the time since it started.
if [ -c /dev/mem ] && command -v devmem >/dev/null &&
   ! grep -qi '^ *d0000000-.*System RAM' /proc/iomem 2>/dev/null; then
    devmem 0xd0000000 8 123 2>/dev/null
fi

read -r up _ </proc/uptime
echo "KILN-INIT-READY uptime=$up"

test= exec_b64= end=
for arg in $(cat /proc/cmdline); do
    case $arg in
        kiln.test=*) test=${arg#kiln.test=} ;;
        kiln.exec=*) exec_b64=${arg#kiln.exec=} ;;
        kiln.end=*)  end=${arg#kiln.end=} ;;
    esac
done

rc=0
case $test in
    '') ;;
    ready) ;;
    info)
        echo "KILN-NPROC=$(nproc)"
        echo "KILN-CPUS-ONLINE=$(cat /sys/devices/system/cpu/online)"
        echo "KILN-MEMTOTAL-KB=$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo)"
        echo "KILN-CMDLINE=$(cat /proc/cmdline)"
        echo "KILN-PAYLOAD-SHA256=$(sha256sum /etc/kiln/payload | cut -d' ' -f1)"
        ;;
    echo)
        echo "KILN-ECHO-WAIT"
        if read -r -t 60 line; then echo "KILN-ECHO-GOT:$line"; else echo "KILN-ECHO-TIMEOUT"; rc=1; fi
        ;;
    reboot)   echo "KILN-REBOOTING"; reboot -f ;;
    poweroff) echo "KILN-POWERING-OFF"; poweroff -f ;;
    panic)
        echo "KILN-PANICKING"
        if [ -w /proc/sysrq-trigger ]; then echo c >/proc/sysrq-trigger; fi
        exit 1   # without sysrq: PID 1 exits, which panics too
        ;;
    *) echo "KILN-UNKNOWN-TEST=$test"; rc=1 ;;
esac

if [ -n "$exec_b64" ]; then
    sh -c "$(echo "$exec_b64" | base64 -d)"; rc=$?
fi

if [ -n "$test$exec_b64" ]; then
    echo "KILN-TEST-DONE test=${test:-exec} rc=$rc"
    : "${end:=reboot}"
fi
case ${end:-shell} in
    reboot) reboot -f ;;
    poweroff) poweroff -f ;;
    none) while :; do sleep 3600; done ;;
    *) echo "KILN: no test requested; starting a shell"
       setsid cttyhack sh || sh
       reboot -f ;;
esac
sleep 5   # reboot -f does not return; if it did, PID 1 exiting panics
