# Kiln end-to-end scenarios. Sourced by inner.sh, which runs wherever /dev/kvm
# can boot Linux (on the host with hardware KVM, or inside L1).
#
# The scenario bodies know nothing of the VMM: l2_boot builds the command from
# $KILN_E2E_VMM (qemu | kiln) and every assertion is made on what the guest
# prints (Rootfs/init.sh) and on the VMM's exit code.
#
# Needs from the job environment: RUN KILN_E2E_VMM KILN KILN_VMLINUX KILN_BZIMAGE
# KILN_INITRAMFS KILN_PAYLOAD_SHA256 KILN_E2E_L2_TIMEOUT.

ALL_SCENARIOS="vmlinux-init bzimage-init initrd-cmdline cpus-2 memory reboot poweroff panic stdin-echo"

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
vmm_command() {
    local kernel=$1 cpus=$2 mem=$3 cmdline=$4
    case $KILN_E2E_VMM in
        qemu)
            # Baseline: QEMU microvm. ACPI is on by default (power-off through
            # the GED sleep register); an i8042 for the reset of reboot=k, as
            # Kiln; pvpanic (ACPI QEMU0001, port 0x505) reports panics.
            CMD=(qemu-system-x86_64 -M microvm -enable-kvm -cpu host -smp "$cpus" -m "$mem"
                 -kernel "$kernel" -initrd "$KILN_INITRAMFS" -append "$cmdline"
                 -nodefaults -no-user-config -nographic -serial stdio -no-reboot
                 -device i8042 -device pvpanic -action panic=exit-failure) ;;
        kiln)
            CMD=("$KILN" boot --kernel "$kernel" --initrd "$KILN_INITRAMFS" --cmdline "$cmdline"
                 --cpus "$cpus" --memory "$mem") ;;
        *) echo "unknown KILN_E2E_VMM=$KILN_E2E_VMM" >&2; return 1 ;;
    esac
}

# Why the selected VMM cannot run here, or nothing.
vmm_unavailable() {
    [ -c /dev/kvm ] && [ -w /dev/kvm ] || { echo "no usable /dev/kvm"; return; }
    case $KILN_E2E_VMM in
        qemu) command -v qemu-system-x86_64 >/dev/null || echo "qemu-system-x86_64 not found (apt-get install -y qemu-system-x86)" ;;
        kiln) [ -n "${KILN:-}" ] && [ -x "$KILN" ] ||
                  echo "kiln binary not found (KILN='${KILN:-}'): build it with 'swift build -c release' or set KILN=/path/to/kiln" ;;
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
