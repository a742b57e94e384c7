# Kiln end-to-end scenarios. Sourced by inner.sh, which runs wherever /dev/kvm
# can boot Linux (on the host with hardware KVM, or inside L1).
#
# The scenario bodies know nothing of the VMM: l2_boot builds the command from
# $KILN_E2E_VMM (qemu | kiln) and every assertion is made on what the guest
# prints (Rootfs/init.sh) and on the VMM's exit code.
#
# Needs from the job environment: RUN KILN_E2E_VMM KILN KILN_VMLINUX KILN_BZIMAGE
# KILN_INITRAMFS KILN_PAYLOAD_SHA256 KILN_E2E_L2_TIMEOUT.

ALL_SCENARIOS="vmlinux-init bzimage-init initrd-cmdline cpus-2 memory reboot poweroff panic stdin-echo blk-root blk-readonly blk-root-sync blk-readonly-sync api-lifecycle vsock-host-echo vsock-guest-connect vsock-100m"
# Modes that are not in ALL_SCENARIOS (slow, compare VMMs): bench (boot time), blkbench (virtio-blk workloads),
# vsockbench (vsock stream throughput vs a Unix socket pair).
EXTRA_SCENARIOS="bench blkbench vsockbench"
. "$(dirname "${BASH_SOURCE[0]}")/scenarios-sandbox.sh"
. "$(dirname "${BASH_SOURCE[0]}")/scenarios-sandbox-net.sh"
. "$(dirname "${BASH_SOURCE[0]}")/scenarios-sandbox-load.sh"
. "$(dirname "${BASH_SOURCE[0]}")/scenarios-sandbox-fs.sh"
. "$(dirname "${BASH_SOURCE[0]}")/scenarios-sandbox-snapshot.sh"
. "$(dirname "${BASH_SOURCE[0]}")/scenarios-images.sh"
. "$(dirname "${BASH_SOURCE[0]}")/scenarios-oci.sh"

# reboot=k: reset through the i8042 (Kiln turns that into a clean exit).
# panic=-1 (also the kernel's built-in default): a panic resets at once;
# panic_warm makes that reset write 0x1234 at 0x472 first, so a VMM can tell
# a panic from a reboot without any extra device.
# pci=off: the kernel has PCI only for ACPI's sake (see Kernels/microvm.config).
BASE_CMDLINE="console=ttyS0 reboot=k,panic_warm panic=-1 pci=off"

# --- reporting ------------------------------------------------------------------------
note() { echo "$*" | tee -a "$RUN/report.log"; touch "$RUN/progress"; }
pass() { note "PASS $SCEN: $*"; echo "PASS $*" >"$RUN/results/$SCEN"; }
fail() {
    note "FAIL $SCEN: $*"
    echo "FAIL $*" >"$RUN/results/$SCEN"
    if [ -n "${B_DIR:-}" ] && [ -d "$B_DIR" ]; then
        { echo "  --- command: $(cat "$B_DIR/command")"
          echo "  --- last console lines ($B_DIR/console):"
          tail -n 12 "$B_DIR/console" | sed 's/^/  | /'
          if [ -s "$B_DIR/stderr" ]; then echo "  --- stderr:"; tail -n 8 "$B_DIR/stderr" | sed 's/^/  | /'; fi
        } | tee -a "$RUN/report.log"
    fi
}

# --- the VMM command ----------------------------------------------------------------
# vmm_command KERNEL CPUS MEM_MIB CMDLINE  -> sets the array CMD
# Optional, set by a scenario around its l2_boot calls:
#   L2_DRIVES=(PATH[,ro] ...)  virtio-blk disks, the first is /dev/vda
#   L2_DRIVE_IO=sync|async     kiln's io engine for every drive (`--drive ...,io=`); empty: the default
#   L2_NO_INITRD=1             boot without the initramfs (root on a disk)
#   L2_NETS=(TAP[,mac=MAC] ...) virtio-net interfaces on host TAPs, the first is eth0
#   L2_PREFIX=(CMD ...)        runs the VMM under CMD (nsenter into a network namespace)
L2_DRIVES=()
L2_DRIVE_IO=
L2_NO_INITRD=
L2_NETS=()
L2_PREFIX=()
#   L2_VSOCK=CID,PATH          kiln's --vsock (scenarios-vsock.sh)
L2_VSOCK=
#   L2_SHARES=(DIR:TAG ...)    kiln's --share (virtio-fs)
#   L2_VHOST_USER_FS=SOCKET:TAG  QEMU: a vhost-user-fs device on virtiofsd's SOCKET, guest RAM
#                              a shared memfd (vhost-user needs it); scenarios-fs-bench.sh
L2_SHARES=()
L2_VHOST_USER_FS=
vmm_command() {
    local kernel=$1 cpus=$2 mem=$3 cmdline=$4 d i=0 path ro
    local initrd=("$KILN_INITRAMFS")
    [ -n "$L2_NO_INITRD" ] && initrd=()
    case $KILN_E2E_VMM in
        qemu)
            # Baseline: QEMU microvm. ACPI is on by default (power-off through
            # the GED sleep register); an i8042 for the reset of reboot=k, as
            # Kiln; pvpanic (ACPI QEMU0001, port 0x505) reports panics.
            local machine=microvm
            [ -z "$L2_VHOST_USER_FS" ] || machine=microvm,memory-backend=mem
            CMD=(qemu-system-x86_64 -M "$machine" -enable-kvm -cpu host -smp "$cpus" -m "$mem"
                 -kernel "$kernel" ${initrd[@]:+-initrd "${initrd[@]}"} -append "$cmdline"
                 -nodefaults -no-user-config -nographic -serial stdio -no-reboot
                 -device i8042 -device pvpanic -action panic=exit-failure)
            # vsock: vhost-vsock (host side AF_VSOCK in L1, not Unix sockets): vsockbench only.
            [ -z "$L2_VSOCK" ] || CMD+=(-device "vhost-vsock-device,guest-cid=${L2_VSOCK%%,*}")
            # libvhost-user (virtiofsd) serves virtio 1.x only; microvm's virtio-mmio is legacy by default.
            [ -z "$L2_VHOST_USER_FS" ] || CMD+=(-global virtio-mmio.force-legacy=false -object "memory-backend-memfd,id=mem,size=${mem}M,share=on"
                -chardev "socket,id=vfs,path=${L2_VHOST_USER_FS%:*}" -device "vhost-user-fs-device,chardev=vfs,tag=${L2_VHOST_USER_FS##*:}")
            # virtio-blk on virtio-mmio, no host page cache bypass (as kiln: pread/pwrite).
            for d in ${L2_DRIVES[@]+"${L2_DRIVES[@]}"}; do
                path=${d%,ro}; ro=; [ "$path" != "$d" ] && ro=,readonly=on
                CMD+=(-drive "id=d$i,file=$path,format=raw,if=none$ro" -device "virtio-blk-device,drive=d$i")
                i=$((i + 1))
            done
            # virtio-net on virtio-mmio, no vhost: the device runs in QEMU's user space, as kiln's.
            i=0
            for d in ${L2_NETS[@]+"${L2_NETS[@]}"}; do
                ro=; case $d in *,mac=*) ro=,mac=${d#*,mac=} ;; esac
                CMD+=(-netdev "tap,id=n$i,ifname=${d%%,*},script=no,downscript=no,vhost=off"
                      -device "virtio-net-device,netdev=n$i$ro")
                i=$((i + 1))
            done ;;
        kiln)
            CMD=("$KILN" boot --kernel "$kernel" ${initrd[@]:+--initrd "${initrd[@]}"} --cmdline "$cmdline"
                 --cpus "$cpus" --memory "$mem")
            for d in ${L2_DRIVES[@]+"${L2_DRIVES[@]}"}; do CMD+=(--drive "$d${L2_DRIVE_IO:+,io=$L2_DRIVE_IO}"); done
            for d in ${L2_NETS[@]+"${L2_NETS[@]}"}; do CMD+=(--net "$d"); done
            for d in ${L2_SHARES[@]+"${L2_SHARES[@]}"}; do CMD+=(--share "$d"); done
            [ -z "$L2_VSOCK" ] || CMD+=(--vsock "$L2_VSOCK") ;;
        *) echo "unknown KILN_E2E_VMM=$KILN_E2E_VMM" >&2; return 1 ;;
    esac
    [ ${#L2_PREFIX[@]} -eq 0 ] || CMD=("${L2_PREFIX[@]}" "${CMD[@]}")
}

# Why the selected VMM cannot run here, or nothing.
vmm_unavailable() {
    [ -c /dev/kvm ] && [ -w /dev/kvm ] || { echo "no usable /dev/kvm"; return; }
    case $KILN_E2E_VMM in
        qemu) command -v qemu-system-x86_64 >/dev/null || echo "qemu-system-x86_64 not found (apt-get install -y qemu-system-x86)" ;;
        kiln) [ -n "${KILN:-}" ] && [ -x "$KILN" ] ||
                  echo "kiln binary not found (KILN='${KILN:-}'): build it with 'swift build -c release --static-swift-stdlib' or set KILN=/path/to/kiln" ;;
        *) echo "unknown KILN_E2E_VMM='$KILN_E2E_VMM' (qemu or kiln)" ;;
    esac
}

# --- one L2 boot ------------------------------------------------------------------------
# l2_boot ID KERNEL CPUS MEM CMDLINE [WAIT_REGEX INPUT_LINE]
# Boots with a timeout (the whole process group is killed when it expires) and,
# on a timeout, retries once and says so. When WAIT_REGEX appears on the console,
# INPUT_LINE is written to the VMM's stdin. Sets:
#   B_DIR (console, stderr, command, rc)  B_RC  B_TIMEDOUT (0|1)
#   B_READY (s from VMM start to KILN-INIT-READY, or "")  B_ELAPSED (s)  B_UPTIME
l2_boot() {
    local id=$1; shift
    l2_boot_once "$id" "$@"
    if [ "$B_TIMEDOUT" = 1 ]; then
        note "RETRY $id: the L2 boot timed out after ${KILN_E2E_L2_TIMEOUT}s (process group killed); retrying once"
        echo "$id" >>"$RUN/retries"
        l2_boot_once "$id.retry" "$@"
    fi
}

l2_boot_once() {
    local id=$1 kernel=$2 cpus=$3 mem=$4 cmdline=$5 wait_re=${6:-} input=${7:-}
    B_DIR=$RUN/boots/$id
    rm -rf "$B_DIR"; mkdir -p "$B_DIR"
    vmm_command "$kernel" "$cpus" "$mem" "$cmdline"
    printf '%q ' "${CMD[@]}" >"$B_DIR/command"
    # The VMM's stdin is a FIFO in local scratch space (9p cannot hold one).
    local fifo=$SCRATCH/stdin.$id
    rm -f "$fifo"; mkfifo "$fifo"
    touch "$RUN/progress" "$B_DIR/console"
    local start=$EPOCHREALTIME
    # timeout (not --foreground) runs in its own process group and kills the
    # whole group when the time is up (SIGTERM, then SIGKILL 5 s later).
    { timeout -k 5 "$KILN_E2E_L2_TIMEOUT" "${CMD[@]}" <"$fifo" 2>"$B_DIR/stderr"
      echo $? >"$B_DIR/rc"; } |
        perl -MTime::HiRes=time -e '$| = 1; my $s = shift;
            while (<STDIN>) { s/\r//g; printf "%.3f %s", time - $s, $_ }' "$start" >"$B_DIR/console" &
    local job=$! w
    exec {w}>"$fifo"   # held open: the VMM never sees EOF on its stdin
    if [ -n "$wait_re" ]; then
        while kill -0 "$job" 2>/dev/null; do
            if grep -qE "$wait_re" "$B_DIR/console"; then printf '%s\n' "$input" >&$w; break; fi
            sleep 0.1
        done
    fi
    wait "$job"
    exec {w}>&-
    rm -f "$fifo"
    B_ELAPSED=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
    B_RC=$(cat "$B_DIR/rc")
    B_TIMEDOUT=0
    { [ "$B_RC" = 124 ] || [ "$B_RC" = 137 ]; } && B_TIMEDOUT=1
    B_READY=$(awk '/KILN-INIT-READY/ { print $1; exit }' "$B_DIR/console")
    B_UPTIME=$(sed -n 's/.*KILN-INIT-READY uptime=\([0-9.]*\).*/\1/p' "$B_DIR/console" | head -1)
    touch "$RUN/progress"
}

console_has() { grep -qE "$1" "$B_DIR/console"; }
console_value() { sed -n "s/^[0-9.]* .*$1=//p" "$B_DIR/console" | head -1; }
boot_summary() { echo "ready ${B_READY:-never}s, exit ${B_RC} after ${B_ELAPSED}s"; }

# Fails the scenario (and returns 1) when the boot timed out or never reached /init.
expect_ready() {
    if [ "$B_TIMEDOUT" = 1 ]; then fail "timed out twice (${KILN_E2E_L2_TIMEOUT}s each)"; return 1; fi
    if [ -z "$B_READY" ]; then fail "the guest never printed KILN-INIT-READY (exit $B_RC)"; return 1; fi
}

test_cmdline() { echo "$BASE_CMDLINE kiln.test=$1"; }

# --- scenarios ------------------------------------------------------------------------------
scenario_vmlinux-init() {
    l2_boot vmlinux "$KILN_VMLINUX" 1 128 "$(test_cmdline ready)"
    expect_ready || return 0
    pass "ELF vmlinux reached /init: $(boot_summary)"
}

scenario_bzimage-init() {
    l2_boot bzimage "$KILN_BZIMAGE" 1 128 "$(test_cmdline ready)"
    expect_ready || return 0
    pass "bzImage reached /init: $(boot_summary)"
}

scenario_initrd-cmdline() {
    # A distinctive command line: the guest must see it unchanged (a VMM may add
    # its own parameters around it), and the checksum of a file of the initrd.
    local token="kiln.token=$RANDOM$RANDOM" cmdline
    cmdline="$(test_cmdline info) $token kiln.probe=a,b:c/d%e_f"
    l2_boot initrd-cmdline "$KILN_VMLINUX" 1 128 "$cmdline"
    expect_ready || return 0
    local got_cmd got_sum
    got_cmd=$(console_value KILN-CMDLINE)
    got_sum=$(console_value KILN-PAYLOAD-SHA256)
    case " $got_cmd " in
        *" $cmdline "*) ;;
        *) fail "command line changed: sent '$cmdline', guest has '$got_cmd'"; return 0 ;;
    esac
    [ "$got_sum" = "$KILN_PAYLOAD_SHA256" ] ||
        { fail "initrd payload sha256 is '$got_sum', expected $KILN_PAYLOAD_SHA256"; return 0; }
    pass "cmdline intact, initrd payload sha256 matches: $(boot_summary)"
}

scenario_cpus-2() {
    l2_boot cpus-2 "$KILN_VMLINUX" 2 128 "$(test_cmdline info)"
    expect_ready || return 0
    local n online
    n=$(console_value KILN-NPROC); online=$(console_value KILN-CPUS-ONLINE)
    [ "$n" = 2 ] && [ "$online" = 0-1 ] ||
        { fail "--cpus 2 gave nproc='$n', online='$online' (want 2, 0-1)"; return 0; }
    pass "2 CPUs online (0-1): $(boot_summary)"
}

scenario_memory() {
    # An unusual size, so a VMM default cannot pass by accident. MemTotal is
    # RAM minus what the kernel reserves (its image, page tables...).
    local mib=300 kb lo hi
    l2_boot memory "$KILN_VMLINUX" 1 $mib "$(test_cmdline info)"
    expect_ready || return 0
    kb=$(console_value KILN-MEMTOTAL-KB)
    lo=$(( mib * 1024 * 85 / 100 )); hi=$(( mib * 1024 ))
    [ -n "$kb" ] && [ "$kb" -ge "$lo" ] && [ "$kb" -le "$hi" ] ||
        { fail "--memory $mib gave MemTotal '$kb' kB, want $lo..$hi"; return 0; }
    pass "--memory $mib: MemTotal $((kb / 1024)) MiB: $(boot_summary)"
}

scenario_reboot() {
    l2_boot reboot "$KILN_VMLINUX" 1 128 "$(test_cmdline reboot)"
    expect_ready || return 0
    console_has KILN-REBOOTING || { fail "the guest never ran reboot -f"; return 0; }
    [ "$B_RC" = 0 ] || { fail "guest reboot -f: VMM exit code $B_RC, want 0"; return 0; }
    pass "reboot -f ended the VMM with 0: $(boot_summary)"
}

scenario_poweroff() {
    l2_boot poweroff "$KILN_VMLINUX" 1 128 "$(test_cmdline poweroff)"
    console_has 'reboot: System halted' && {
        fail "the guest kernel halted instead of powering off: the VMM gave it no ACPI power-off" \
             "(FADT sleep control register + \\_S5), exit $B_RC after ${B_ELAPSED}s"; return 0; }
    expect_ready || return 0
    console_has KILN-POWERING-OFF || { fail "the guest never ran poweroff -f"; return 0; }
    [ "$B_RC" = 0 ] || { fail "guest poweroff -f: VMM exit code $B_RC, want 0"; return 0; }
    pass "poweroff -f ended the VMM with 0: $(boot_summary)"
}

scenario_panic() {
    l2_boot panic "$KILN_VMLINUX" 1 128 "$(test_cmdline panic)"
    expect_ready || return 0
    console_has 'Kernel panic' || { fail "the guest did not panic"; return 0; }
    [ "$B_RC" != 0 ] || { fail "guest panic: VMM exit code 0, want non-zero"; return 0; }
    # Kiln must say it was a panic; QEMU's exit-failure action prints nothing.
    if [ "$KILN_E2E_VMM" = kiln ] && ! grep -qi panic "$B_DIR/stderr"; then
        fail "guest panic: exit $B_RC but kiln's stderr does not mention the panic"; return 0
    fi
    pass "kernel panic ended the VMM with $B_RC: $(boot_summary)"
}

scenario_stdin-echo() {
    local line="hello-from-the-host-$RANDOM"
    l2_boot stdin-echo "$KILN_VMLINUX" 1 128 "$(test_cmdline echo)" 'KILN-ECHO-WAIT' "$line"
    expect_ready || return 0
    console_has "KILN-ECHO-GOT:$line\$" ||
        { fail "the line typed on stdin ('$line') did not reach the guest"; return 0; }
    pass "a line typed on stdin reached the guest console: $(boot_summary)"
}

# --- boot-time benchmark ---------------------------------------------------------------------
# Boots the same kernel, initrd and command line KILN_BENCH_RUNS times with each
# VMM of KILN_BENCH_VMMS, interleaved, on the same /dev/kvm; reports the median
# time from VMM start to the guest's KILN-INIT-READY line, the guest's own uptime
# at that line (kernel + init), and the ratio.
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print ""; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

scenario_bench() {
    local runs=${KILN_BENCH_RUNS:-5} vmms=${KILN_BENCH_VMMS:-qemu kiln} vmm i why bad=
    local kernel=${KILN_BENCH_KERNEL:-$KILN_VMLINUX}
    local cmdline=${KILN_BENCH_CMDLINE:-$(test_cmdline ready)}
    local saved=$KILN_E2E_VMM
    note "bench: $runs runs each of [$vmms], kernel $(basename "$kernel"), cmdline: $cmdline"
    for vmm in $vmms; do
        KILN_E2E_VMM=$vmm
        why=$(vmm_unavailable)
        if [ -n "$why" ]; then note "bench: $vmm cannot run: $why"; bad="$bad $vmm(cannot run: $why)"; fi
        : >"$RUN/bench-$vmm.ready"; : >"$RUN/bench-$vmm.uptime"; : >"$RUN/bench-$vmm.marker"
    done
    # One discarded boot per VMM first: the first boots in a fresh L1 are 2-3x
    # slower (binaries and libraries read over 9p, TCG translating them).
    for vmm in $vmms; do
        KILN_E2E_VMM=$vmm
        [ -z "$(vmm_unavailable)" ] || continue
        l2_boot "bench-$vmm-warmup" "$kernel" 1 128 "$cmdline"
        note "bench: $vmm warm-up: ready after ${B_READY:-never}s (not counted)"
    done
    for i in $(seq 1 "$runs"); do
        for vmm in $vmms; do
            KILN_E2E_VMM=$vmm
            [ -z "$(vmm_unavailable)" ] || continue
            l2_boot "bench-$vmm-$i" "$kernel" 1 128 "$cmdline"
            if [ -n "$B_READY" ]; then
                echo "$B_READY" >>"$RUN/bench-$vmm.ready"
                echo "$B_UPTIME" >>"$RUN/bench-$vmm.uptime"
                # Kiln logs the boot-time marker (guest wrote 123 at 0xd0000000):
                # the first "<number> ms|us|s" on a stderr line that mentions it.
                grep -iE "${KILN_MARKER_RE:-boot.?(time|marker)}" "$B_DIR/stderr" 2>/dev/null | head -1 |
                    grep -oE '[0-9]+(\.[0-9]+)? ?(ms|us|µs|s)\b' | head -1 |
                    awk '{ v = $0 + 0; if ($0 ~ /ms/) v /= 1000; else if ($0 ~ /us|µs/) v /= 1e6; print v }' \
                    >>"$RUN/bench-$vmm.marker"
                note "bench: $vmm run $i: ready after ${B_READY}s (guest uptime ${B_UPTIME}s), exit $B_RC"
            else
                note "bench: $vmm run $i: FAILED ($(boot_summary))"; bad="$bad $vmm-run-$i"
            fi
        done
    done
    KILN_E2E_VMM=$saved
    local summary="" m u k q=
    for vmm in $vmms; do
        m=$(median <"$RUN/bench-$vmm.ready"); u=$(median <"$RUN/bench-$vmm.uptime")
        k=$(median <"$RUN/bench-$vmm.marker")
        [ -n "$m" ] || continue
        summary="$summary $vmm: median ${m}s to /init (guest uptime ${u}s, so ~$(awk -v a="$m" -v b="$u" 'BEGIN { printf "%.2f", a - b }')s before the kernel clock starts${k:+; boot marker ${k}s});"
        [ "$vmm" = qemu ] && q=$m
        [ "$vmm" = kiln ] && [ -n "$q" ] &&
            summary="$summary ratio kiln/qemu $(awk -v a="$m" -v b="$q" 'BEGIN { printf "%.2f", a / b }');"
    done
    note "bench:$summary"
    if [ -n "$bad" ]; then fail "benchmark incomplete:$bad"; else pass "${summary# }"; fi
}

# --- virtio-blk ---------------------------------------------------------------------------------
# Disk images are copied per boot from the cached $KILN_ROOTFS into local scratch
# ($SCRATCH: /dev/shm or /tmp, not the 9p run directory), so the cache is never modified.
guest_script() { printf '%s' "$1" | base64 -w0; }   # for kiln.exec=
e2fs_tool() { command -v "$1" 2>/dev/null || { [ -x "/sbin/$1" ] && echo "/sbin/$1"; } || { [ -x "/usr/sbin/$1" ] && echo "/usr/sbin/$1"; }; }
blk_prereqs() {   # fails the scenario (returns 1) without KILN_ROOTFS or e2fsprogs
    if [ -z "${KILN_ROOTFS:-}" ] || [ ! -f "$KILN_ROOTFS" ]; then fail "no ext4 image (KILN_ROOTFS='${KILN_ROOTFS:-}')"; return 1; fi
    DEBUGFS=$(e2fs_tool debugfs); E2FSCK=$(e2fs_tool e2fsck)
    [ -n "$DEBUGFS" ] && [ -n "$E2FSCK" ] || { fail "debugfs/e2fsck not found (apt-get install -y e2fsprogs)"; return 1; }
}

scenario_blk-root() {
    blk_prereqs || return 0
    # Root on /dev/vda (no initramfs); the guest writes a file, syncs it,
    # remounts / read-only (the clean shutdown of a real init) and powers off.
    local img=$SCRATCH/blk-root.ext4 token="kiln-blk-$RANDOM$RANDOM-$$" file=/root/kiln-blk-test script got fsck rc
    cp "$KILN_ROOTFS" "$img"
    script="echo \"KILN-ROOT=\$(awk '\$2 == \"/\" { print \$1, \$3, \$4 }' /proc/mounts)\"
echo \"KILN-VDA-RO=\$(cat /sys/block/vda/ro) KILN-VDA-SECTORS=\$(cat /sys/block/vda/size)\"
echo $token >$file && sync && echo KILN-BLK-WRITTEN
mount -o remount,ro / && echo KILN-BLK-REMOUNTED-RO"
    L2_DRIVES=("$img"); L2_NO_INITRD=1
    l2_boot "$SCEN" "$KILN_VMLINUX" 1 128 \
        "$BASE_CMDLINE root=/dev/vda rw rootfstype=ext4 kiln.end=poweroff kiln.exec=$(guest_script "$script")"
    L2_DRIVES=(); L2_NO_INITRD=
    expect_ready || { rm -f "$img"; return 0; }
    console_has 'KILN-ROOT=/dev/root ext4 rw' ||
        { fail "root is not a read-write ext4 on the disk: $(grep -m1 -o 'KILN-ROOT=.*' "$B_DIR/console")"; rm -f "$img"; return 0; }
    console_has KILN-BLK-WRITTEN || { fail "the guest could not write and sync $file"; rm -f "$img"; return 0; }
    console_has KILN-BLK-REMOUNTED-RO || { fail "the guest could not remount / read-only"; rm -f "$img"; return 0; }
    [ "$B_RC" = 0 ] || { fail "guest poweroff -f: VMM exit code $B_RC, want 0"; rm -f "$img"; return 0; }
    got=$("$DEBUGFS" -R "cat $file" "$img" 2>"$B_DIR/debugfs.err")
    [ "$got" = "$token" ] ||
        { fail "the image does not hold the guest's file: debugfs cat $file gave '$got' ($(tail -1 "$B_DIR/debugfs.err")), want '$token'"; rm -f "$img"; return 0; }
    fsck=$("$E2FSCK" -fn "$img" 2>&1); rc=$?
    echo "$fsck" >"$B_DIR/e2fsck"
    if [ "$rc" != 0 ]; then
        cp "$img" "$B_DIR/image.ext4" 2>/dev/null
        fail "e2fsck -fn exit $rc: $(echo "$fsck" | grep -v '^Pass\|^e2fsck' | head -3 | tr '\n' ' ') (image kept in $B_DIR)"; rm -f "$img"; return 0
    fi
    rm -f "$img"
    pass "root=/dev/vda: the guest's file is in the image, e2fsck -fn clean ($(echo "$fsck" | tail -1)): $(boot_summary)"
}

scenario_blk-readonly() {
    blk_prereqs || return 0
    # vda: a writable root; vdb: a read-only second drive the guest tries to write
    # (raw dd with O_DIRECT, mount -o rw, a file on whatever mount it got).
    local root=$SCRATCH/blk-ro-root.ext4 ro=$SCRATCH/blk-ro-data.ext4 before after script v
    cp "$KILN_ROOTFS" "$root"; cp "$KILN_ROOTFS" "$ro"
    before=$(sha256sum <"$ro" | cut -d' ' -f1)
    script='echo "KILN-VDA-RO=$(cat /sys/block/vda/ro) KILN-VDB-RO=$(cat /sys/block/vdb/ro)"
if dd if=/dev/urandom of=/dev/vdb bs=4096 count=1 oflag=direct conv=notrunc,fsync 2>/tmp/err; then
    echo KILN-VDB-DD=written
else echo "KILN-VDB-DD=failed: $(grep -m1 error /tmp/err || tail -1 /tmp/err)"; fi
if mount -t ext4 -o rw /dev/vdb /mnt 2>/tmp/err; then
    echo "KILN-VDB-MOUNT=$(awk '"'"'$2 == "/mnt" { print $4 }'"'"' /proc/mounts | cut -d, -f1)"
    if (echo x >/mnt/kiln-ro-test) 2>/tmp/err && sync; then echo KILN-VDB-FILE=written
    else echo "KILN-VDB-FILE=failed: $(tail -1 /tmp/err)"; fi
    umount /mnt
else echo "KILN-VDB-MOUNT=failed: $(tail -1 /tmp/err)"; fi'
    L2_DRIVES=("$root" "$ro,ro"); L2_NO_INITRD=1
    l2_boot "$SCEN" "$KILN_VMLINUX" 1 128 \
        "$BASE_CMDLINE root=/dev/vda rw rootfstype=ext4 kiln.end=poweroff kiln.exec=$(guest_script "$script")"
    L2_DRIVES=(); L2_NO_INITRD=
    after=$(sha256sum <"$ro" | cut -d' ' -f1)
    rm -f "$root" "$ro"
    expect_ready || return 0
    console_has 'KILN-VDA-RO=0 KILN-VDB-RO=1' ||
        { fail "want vda writable and vdb read-only, guest says: $(grep -m1 -o 'KILN-VDA-RO=.*' "$B_DIR/console")"; return 0; }
    console_has 'KILN-VDB-DD=failed' || { fail "dd to the read-only /dev/vdb: $(grep -m1 -o 'KILN-VDB-DD=.*' "$B_DIR/console")"; return 0; }
    v=$(grep -m1 -o 'KILN-VDB-MOUNT=.*' "$B_DIR/console")
    case $v in
        KILN-VDB-MOUNT=failed*|KILN-VDB-MOUNT=ro*) ;;
        *) fail "mount -o rw of the read-only /dev/vdb: $v"; return 0 ;;
    esac
    if console_has 'KILN-VDB-FILE=written'; then fail "the guest wrote a file on the read-only drive"; return 0; fi
    console_has 'KILN-TEST-DONE' || { fail "the guest script did not finish"; return 0; }
    [ "$after" = "$before" ] || { fail "the read-only image changed: sha256 $before -> $after"; return 0; }
    [ "$B_RC" = 0 ] || { fail "guest poweroff -f: VMM exit code $B_RC, want 0"; return 0; }
    pass "guest: vdb ro=1, dd $(grep -m1 -o 'KILN-VDB-DD=failed: .*' "$B_DIR/console" | sed 's/KILN-VDB-DD=//'), mount -o rw gave ${v#KILN-VDB-MOUNT=}, $(grep -m1 -o 'KILN-VDB-FILE=.*' "$B_DIR/console" | sed 's/KILN-VDB-FILE=/file write /'); image sha256 unchanged: $(boot_summary)"
}

# The same two on kiln's other I/O engine (the plain ones run the default, Async): issue 16
# wants every block scenario on each engine.
blk_on_engine() {
    local engine=$1 scenario=$2
    if [ "$KILN_E2E_VMM" != kiln ]; then fail "$SCEN picks kiln's io engine; run it with --vmm kiln"; return 0; fi
    L2_DRIVE_IO=$engine
    "scenario_$scenario"
    L2_DRIVE_IO=
}
scenario_blk-root-sync() { blk_on_engine sync blk-root; }
scenario_blk-readonly-sync() { blk_on_engine sync blk-readonly; }

# --- virtio-blk benchmark: scenarios-blkbench.sh ---------------------------------------------------
. "$(dirname "${BASH_SOURCE[0]}")/scenarios-blkbench.sh"
. "$(dirname "${BASH_SOURCE[0]}")/scenarios-fs-bench.sh"

# shellcheck source=/dev/null
. "$(dirname "${BASH_SOURCE[0]}")/scenarios-api.sh"
. "$(dirname "${BASH_SOURCE[0]}")/scenarios-snapshot.sh"
. "$(dirname "${BASH_SOURCE[0]}")/scenarios-net.sh"
# --- virtio-vsock (kiln only: Firecracker's hybrid Unix-socket model) -----------------------------
. "$(dirname "${BASH_SOURCE[0]}")/scenarios-vsock.sh"
