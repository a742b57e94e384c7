# virtio-vsock scenarios (sourced by scenarios.sh). Kiln only: Firecracker's hybrid model, where
# the host side of the guest's vsock is Unix sockets (--vsock CID,PATH). Both ends are
# Rootfs/tools/vsock-tool (in the guest images as /usr/bin/vsock-tool; $KILN_VSOCK_TOOL on the host).
#   vsock-host-echo      host client -> PATH, CONNECT 5000, a line echoed by the guest
#   vsock-guest-connect  guest -> CID 2 port 6000 = host listener PATH_6000 (echo); port 6999
#                        with nobody listening must be refused
#   vsock-100m           KILN_VSOCK_MIB (100) MiB of random bytes each way, sha256 compared
#   vsockbench (extra)   throughput both ways vs a Unix socketpair in L1 and vs QEMU's vhost-vsock

VSOCK_CID=3

# Fails the scenario (returns 1) unless the VMM is kiln and the host tool exists.
vsock_prereqs() {
    [ "$KILN_E2E_VMM" = kiln ] ||
        { fail "needs kiln: the hybrid Unix-socket vsock is kiln's (Firecracker's) model, not $KILN_E2E_VMM's"; return 1; }
    [ -n "${KILN_VSOCK_TOOL:-}" ] && [ -x "$KILN_VSOCK_TOOL" ] ||
        { fail "no host vsock-tool (KILN_VSOCK_TOOL='${KILN_VSOCK_TOOL:-}'; Rootfs/build.sh builds it)"; return 1; }
}

# vsock_boot ID SCRIPT: boots the initramfs guest running SCRIPT with --vsock CID,$VSOCK_UDS.
vsock_boot() {
    L2_VSOCK="$VSOCK_CID,$VSOCK_UDS"
    l2_boot "$1" "$KILN_VMLINUX" 1 128 "$BASE_CMDLINE kiln.exec=$(guest_script "$2") kiln.end=poweroff"
    L2_VSOCK=
}

# The socket file must be gone after kiln exits (the next VMM must be able to bind it).
vsock_socket_removed() {
    [ ! -e "$VSOCK_UDS" ] || { fail "kiln left its socket file $VSOCK_UDS behind"; rm -f "$VSOCK_UDS"; return 1; }
}

scenario_vsock-host-echo() {
    vsock_prereqs || return 0
    VSOCK_UDS=$SCRATCH/vsock-echo.sock
    local line="kiln-vsock-echo-$RANDOM$RANDOM" out=$SCRATCH/vsock-echo.out job
    rm -f "$VSOCK_UDS" "$out"
    # The host client retries (100 ms) until the socket exists and the guest listens.
    { printf '%s\n' "$line" | timeout 120 "$KILN_VSOCK_TOOL" uds-connect "$VSOCK_UDS" 5000 >"$out" 2>"$out.err"
      echo $? >"$out.rc"; } &
    job=$!
    vsock_boot vsock-host-echo 'vsock-tool echo 5000 && echo KILN-VSOCK-ECHO-DONE'
    wait "$job"
    cp "$out.err" "$B_DIR/host-client.err" 2>/dev/null
    expect_ready || return 0
    console_has KILN-VSOCK-ECHO-DONE || { fail "the guest's echo server did not finish"; return 0; }
    [ "$(cat "$out.rc")" = 0 ] || { fail "host client exit $(cat "$out.rc"): $(tail -1 "$out.err")"; return 0; }
    [ "$(cat "$out")" = "$line" ] || { fail "host sent '$line' through CONNECT 5000, got back '$(head -c 200 "$out")'"; return 0; }
    [ "$B_RC" = 0 ] || { fail "VMM exit code $B_RC, want 0"; return 0; }
    vsock_socket_removed || return 0
    pass "host -> $VSOCK_UDS CONNECT 5000 -> guest echo: line intact, socket file removed at exit: $(boot_summary)"
}

scenario_vsock-guest-connect() {
    vsock_prereqs || return 0
    VSOCK_UDS=$SCRATCH/vsock-gc.sock
    local line="kiln-vsock-guest-$RANDOM$RANDOM" job script
    rm -f "$VSOCK_UDS" "${VSOCK_UDS}_6000"
    timeout 120 "$KILN_VSOCK_TOOL" uds-listen "${VSOCK_UDS}_6000" echo 2>"$SCRATCH/vsock-gc.err" &
    job=$!
    script="echo \"KILN-VSOCK-GOT=\$(echo $line | vsock-tool connect 2 6000)\"
vsock-tool connect 2 6999 </dev/null 2>/tmp/err; echo \"KILN-VSOCK-REFUSED=rc \$? \$(cat /tmp/err)\""
    vsock_boot vsock-guest-connect "$script"
    wait "$job"; local host_rc=$?
    expect_ready || return 0
    console_has "KILN-VSOCK-GOT=$line\$" ||
        { fail "guest -> CID 2 port 6000 echo: $(grep -m1 -o 'KILN-VSOCK-GOT=.*' "$B_DIR/console"), want $line (host listener exit $host_rc)"; return 0; }
    local refused
    refused=$(grep -m1 -o 'KILN-VSOCK-REFUSED=.*' "$B_DIR/console")
    case $refused in
        *"rc 0"*|"") fail "connecting to port 6999 (nobody listening on ${VSOCK_UDS}_6999) did not fail: '$refused'"; return 0 ;;
    esac
    [ "$B_RC" = 0 ] || { fail "VMM exit code $B_RC, want 0"; return 0; }
    vsock_socket_removed || return 0
    pass "guest -> CID 2:6000 reached ${VSOCK_UDS##*/}_6000 and echoed; port 6999 refused (${refused#KILN-VSOCK-REFUSED=}): $(boot_summary)"
}

scenario_vsock-100m() {
    vsock_prereqs || return 0
    VSOCK_UDS=$SCRATCH/vsock-100m.sock
    local mib=${KILN_VSOCK_MIB:-100} in=$SCRATCH/vsock-in.bin out=$SCRATCH/vsock-out.bin
    local saved_timeout=$KILN_E2E_L2_TIMEOUT in_sum out_sum guest_in guest_out job_in job_out script t0
    KILN_E2E_L2_TIMEOUT=${KILN_VSOCK_TIMEOUT:-300}
    rm -f "$VSOCK_UDS" "${VSOCK_UDS}_6001" "$out"
    head -c $((mib * 1048576)) /dev/urandom >"$in"
    in_sum=$(sha256sum <"$in" | cut -d' ' -f1)
    timeout "$KILN_E2E_L2_TIMEOUT" "$KILN_VSOCK_TOOL" uds-listen "${VSOCK_UDS}_6001" >"$out" 2>"$SCRATCH/vsock-out.err" &
    job_out=$!
    timeout "$KILN_E2E_L2_TIMEOUT" "$KILN_VSOCK_TOOL" uds-connect "$VSOCK_UDS" 5001 <"$in" >/dev/null 2>"$SCRATCH/vsock-in.err" &
    job_in=$!
    # Host -> guest first (the guest hashes what it receives), then guest -> host (the guest
    # hashes what it sends through a FIFO beside the connection).
    script="s=\$(date +%s); vsock-tool listen 5001 | sha256sum | cut -d' ' -f1 | sed 's/^/KILN-VSOCK-IN-SHA=/'
echo \"KILN-VSOCK-IN-SECONDS=\$((\$(date +%s) - s))\"
mkfifo /tmp/out.fifo
sha256sum </tmp/out.fifo >/tmp/out.sum &
s=\$(date +%s)
dd if=/dev/urandom bs=65536 count=$((mib * 16)) 2>/dev/null | tee /tmp/out.fifo | vsock-tool connect 2 6001 >/dev/null
wait
echo \"KILN-VSOCK-OUT-SECONDS=\$((\$(date +%s) - s))\"
echo \"KILN-VSOCK-OUT-SHA=\$(cut -d' ' -f1 /tmp/out.sum)\""
    t0=$EPOCHREALTIME
    vsock_boot vsock-100m "$script"
    KILN_E2E_L2_TIMEOUT=$saved_timeout
    wait "$job_in"; local in_rc=$?
    wait "$job_out"; local out_rc=$?
    out_sum=$(sha256sum <"$out" | cut -d' ' -f1)
    local out_size
    out_size=$(stat -c %s "$out")
    rm -f "$in" "$out"
    expect_ready || return 0
    guest_in=$(console_value KILN-VSOCK-IN-SHA); guest_out=$(console_value KILN-VSOCK-OUT-SHA)
    [ "$guest_in" = "$in_sum" ] ||
        { fail "host -> guest $mib MiB: guest sha256 '$guest_in', host sent $in_sum (host client exit $in_rc: $(tail -1 "$SCRATCH/vsock-in.err"))"; return 0; }
    [ "$out_size" = $((mib * 1048576)) ] && [ "$out_sum" = "$guest_out" ] ||
        { fail "guest -> host $mib MiB: host got $out_size bytes sha256 $out_sum, guest sent '$guest_out' (host listener exit $out_rc)"; return 0; }
    [ "$B_RC" = 0 ] || { fail "VMM exit code $B_RC, want 0"; return 0; }
    vsock_socket_removed || return 0
    pass "$mib MiB each way, sha256 match (host->guest ~$(console_value KILN-VSOCK-IN-SECONDS)s, guest->host ~$(console_value KILN-VSOCK-OUT-SECONDS)s by the guest clock): $(boot_summary)"
}

# --- vsock throughput benchmark ------------------------------------------------------------------
# KILN_VSOCKBENCH_BOOTS (2) boots per VMM of KILN_BENCH_VMMS ("qemu kiln"), in ABBA order (qemu
# kiln kiln qemu ...) so that a drift in the machine's speed hits both alike: kiln with --vsock
# (host side: Unix sockets), QEMU microvm with vhost-vsock-device (host side: AF_VSOCK in L1), the
# same guest script. Each boot: one discarded warm-up round, then KILN_VSOCKBENCH_RUNS (3) rounds;
# a round is, strictly one after the other, KILN_VSOCKBENCH_MIB (64) MiB host -> guest, the same
# guest -> host, then the same through a Unix stream socketpair between two L1 processes (the
# baseline, interleaved so the machine's load hits all alike). The two host loops hand rounds
# over through a FIFO (no polling: with one L1 CPU a `sleep` loop steals from the transfer).
# Timed in L1 by vsock-tool: host -> guest from the connection (kiln: the OK line) to the guest's
# close after it read everything, guest -> host from accept to EOF. MB/s = 10^6 bytes/s; medians
# over all rounds of all boots; ratios vsock/socketpair and kiln/qemu.
VSOCKBENCH_MBPS='{ for (i = 1; i <= NF; i++) if ($i ~ /^MBps=/) print substr($i, 6) }'
vsockbench_median() { awk "$VSOCKBENCH_MBPS" "$1" | median; }
vsockbench_count() { awk "$VSOCKBENCH_MBPS" "$1" | wc -l; }
vsockbench_ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.3f", a / b; else print "?" }'; }
# vsockbench_round_ratios VSOCK UNIX: each round's vsock MB/s over the same round's socketpair MB/s
# (the baseline measured seconds later), which cancels most of the machine's drift between boots.
# (Temporary files, not <(...): L1's chroot may have no /dev/fd.)
vsockbench_round_ratios() {
    awk "$VSOCKBENCH_MBPS" "$1" >"$SCRATCH/vsockbench.a"; awk "$VSOCKBENCH_MBPS" "$2" >"$SCRATCH/vsockbench.b"
    paste -d' ' "$SCRATCH/vsockbench.a" "$SCRATCH/vsockbench.b" |
        awk 'NF == 2 && $1 > 0 && $2 > 0 { printf "%.4f\n", $1 / $2 }'
    rm -f "$SCRATCH/vsockbench.a" "$SCRATCH/vsockbench.b"
}

# vsockbench_boot VMM: one boot and its rounds; results appended to $RUN/vsockbench-VMM.{h2g,g2h,unix}.
# Sets VSOCKBENCH_OK=0 and VSOCKBENCH_WHY when the boot did not complete every round.
vsockbench_boot() {
    local vmm=$1 runs=${KILN_VSOCKBENCH_RUNS:-3} mib=${KILN_VSOCKBENCH_MIB:-64} bytes i script h2g g2h go_fd
    local go=$SCRATCH/vsockbench.go out=$RUN/vsockbench-$vmm
    bytes=$((mib * 1048576))
    VSOCK_UDS=$SCRATCH/vsockbench.sock
    rm -f "$VSOCK_UDS" "${VSOCK_UDS}_6002" "$go"
    : >"$out.h2g.all"; : >"$out.g2h.all"; : >"$out.unix.all"
    # Opened read-write, so neither end blocks in open(); a token per round, the first one now.
    mkfifo "$go"; exec {go_fd}<>"$go"; echo go >&"$go_fd"
    # Host ends. Round i: take a token, host -> guest; then (other loop) guest -> host, the
    # socketpair, a token for the next round.
    ( for i in $(seq 0 "$runs"); do
          read -r -t "$KILN_E2E_L2_TIMEOUT" _ <&"$go_fd" || break
          if [ "$vmm" = kiln ]; then
              timeout "$KILN_E2E_L2_TIMEOUT" "$KILN_VSOCK_TOOL" uds-connect "$VSOCK_UDS" 5002 "$bytes" || break
          else   # AF_VSOCK to the guest: retried until the guest listens
              n=0
              until timeout "$KILN_E2E_L2_TIMEOUT" "$KILN_VSOCK_TOOL" source "$VSOCK_CID" 5002 "$bytes" 2>/dev/null; do
                  n=$((n + 1)); [ "$n" -lt 600 ] || break 2; sleep 0.1
              done
          fi
      done >>"$out.h2g.all" 2>"$out.h2g.err" ) &
    h2g=$!
    ( for i in $(seq 0 "$runs"); do
          if [ "$vmm" = kiln ]; then
              timeout "$KILN_E2E_L2_TIMEOUT" "$KILN_VSOCK_TOOL" uds-listen "${VSOCK_UDS}_6002" sink >>"$out.g2h.all" || break
          else
              timeout "$KILN_E2E_L2_TIMEOUT" "$KILN_VSOCK_TOOL" sink 6002 >>"$out.g2h.all" || break
          fi
          "$KILN_VSOCK_TOOL" unix-pair "$bytes" >>"$out.unix.all"
          echo go >&"$go_fd"
      done 2>"$out.g2h.err" ) &
    g2h=$!
    script="for i in \$(seq 0 $runs); do
  vsock-tool sink 5002 >/dev/null || echo KILN-VSOCKBENCH-SINK-FAILED
  n=0; until vsock-tool source 2 6002 $bytes >/dev/null 2>&1; do n=\$((n + 1)); [ \$n -lt 50 ] || { echo KILN-VSOCKBENCH-SOURCE-FAILED; break; }; sleep 0.2; done
done; echo KILN-VSOCKBENCH-DONE"
    KILN_E2E_VMM=$vmm
    # KILN_VSOCKBENCH_PERF=1: a system-wide L1 profile of the boot (perf's cpu-clock), its
    # report in $RUN/vsockbench-VMM.perf*.txt: where L1's one CPU goes for each VMM.
    local perf_job= perf_data=/tmp/vsockbench-$vmm.perf
    if [ -n "${KILN_VSOCKBENCH_PERF:-}" ]; then
        if command -v perf >/dev/null; then
            perf record -q -F 499 -a -g -o "$perf_data" 2>"$out.perf.err" &
            perf_job=$!
        else
            note "vsockbench: KILN_VSOCKBENCH_PERF is set but perf is not installed (apt-get install -y linux-perf): no profile"
        fi
    fi
    vsock_boot "vsockbench-$vmm" "$script"
    if [ -n "$perf_job" ]; then
        kill -INT "$perf_job"; wait "$perf_job"
        perf report -i "$perf_data" --stdio -n --no-children --sort comm,dso,sym --percent-limit 0.03 -g none \
            >>"$out.perf.txt" 2>>"$out.perf.err"
        perf report -i "$perf_data" --stdio -n --no-children --sort comm,dso --percent-limit 0.5 -g none \
            >>"$out.perf-dso.txt" 2>>"$out.perf.err"
        rm -f "$perf_data"
    fi
    # A boot that ended early leaves host ends waiting: end them (and their vsock-tool).
    if ! console_has KILN-VSOCKBENCH-DONE; then
        pkill -P "$h2g" 2>/dev/null; pkill -P "$g2h" 2>/dev/null; kill "$h2g" "$g2h" 2>/dev/null
    fi
    wait "$h2g" "$g2h" 2>/dev/null
    exec {go_fd}>&-
    for f in h2g g2h unix; do
        tail -n +2 "$out.$f.all" >>"$out.$f"
        cat "$out.$f.all" >>"$B_DIR/$(basename "$out.$f.all")" 2>/dev/null
    done
    rm -f "$go" "${VSOCK_UDS}_6002"
    note "vsockbench: $vmm boot per round MB/s host->guest: $(tail -n +2 "$out.h2g.all" | awk "$VSOCKBENCH_MBPS" | tr '\n' ' ')guest->host: $(tail -n +2 "$out.g2h.all" | awk "$VSOCKBENCH_MBPS" | tr '\n' ' ')socketpair: $(tail -n +2 "$out.unix.all" | awk "$VSOCKBENCH_MBPS" | tr '\n' ' ')"
    local got_h2g got_g2h
    got_h2g=$(tail -n +2 "$out.h2g.all" | vsockbench_count -)
    got_g2h=$(tail -n +2 "$out.g2h.all" | vsockbench_count -)
    if [ -z "$B_READY" ]; then VSOCKBENCH_WHY="never ready"
    elif ! console_has KILN-VSOCKBENCH-DONE; then VSOCKBENCH_WHY="the guest script did not finish"
    elif console_has 'KILN-VSOCKBENCH-(SINK|SOURCE)-FAILED'; then VSOCKBENCH_WHY="a guest vsock-tool failed"
    elif [ "$got_h2g" != "$runs" ] || [ "$got_g2h" != "$runs" ]; then
        VSOCKBENCH_WHY="$got_h2g host->guest and $got_g2h guest->host rounds of $runs"
    elif [ "$vmm" = kiln ] && ! vsock_socket_removed; then VSOCKBENCH_WHY="socket file left behind"
    else return 0
    fi
    VSOCKBENCH_OK=0
}

scenario_vsockbench() {
    [ -n "${KILN_VSOCK_TOOL:-}" ] && [ -x "$KILN_VSOCK_TOOL" ] ||
        { fail "no host vsock-tool (KILN_VSOCK_TOOL='${KILN_VSOCK_TOOL:-}'; Rootfs/build.sh builds it)"; return 0; }
    local vmms=${KILN_BENCH_VMMS:-qemu kiln} boots=${KILN_VSOCKBENCH_BOOTS:-2} vmm why bad= summary= hg gh u b order
    local saved=$KILN_E2E_VMM saved_timeout=$KILN_E2E_L2_TIMEOUT qhg= qgh= qu= qrh= qrg= rh rg
    local -A usable=()
    KILN_E2E_L2_TIMEOUT=${KILN_VSOCK_TIMEOUT:-300}
    note "vsockbench: [$vmms] x $boots boots (ABBA), ${KILN_VSOCKBENCH_RUNS:-3} rounds (+1 warm-up) each of ${KILN_VSOCKBENCH_MIB:-64} MiB host->guest, guest->host, Unix socketpair"
    for vmm in $vmms; do
        KILN_E2E_VMM=$vmm
        why=$(vmm_unavailable)
        if [ -n "$why" ]; then note "vsockbench: $vmm cannot run: $why"; bad="$bad $vmm(cannot run: $why)"; continue; fi
        usable[$vmm]=1
        rm -f "$RUN/vsockbench-$vmm".{h2g,g2h,unix}
    done
    for b in $(seq 1 "$boots"); do
        order=$vmms
        [ $((b % 2)) = 0 ] && order=$(printf '%s\n' $vmms | tac | tr '\n' ' ')
        for vmm in $order; do
            [ -n "${usable[$vmm]:-}" ] || continue
            VSOCKBENCH_OK=1
            vsockbench_boot "$vmm"
            [ "$VSOCKBENCH_OK" = 1 ] || bad="$bad $vmm(boot $b: $VSOCKBENCH_WHY; $(boot_summary))"
        done
    done
    for vmm in $vmms; do
        [ -n "${usable[$vmm]:-}" ] || continue
        local out=$RUN/vsockbench-$vmm
        hg=$(vsockbench_median "$out.h2g"); gh=$(vsockbench_median "$out.g2h"); u=$(vsockbench_median "$out.unix")
        # Per-round vsock/socketpair, median over all rounds: the drift-corrected figure.
        rh=$(vsockbench_round_ratios "$out.h2g" "$out.unix" | median)
        rg=$(vsockbench_round_ratios "$out.g2h" "$out.unix" | median)
        summary="$summary $vmm: host->guest ${hg:-?} MB/s, guest->host ${gh:-?} MB/s, socketpair ${u:-?} MB/s, vsock/socketpair per round ${rh:-?} / ${rg:-?};"
        [ "$vmm" = qemu ] && { qhg=$hg; qgh=$gh; qu=$u; qrh=$rh; qrg=$rg; }
        [ "$vmm" = kiln ] && [ -n "$qhg$qgh" ] &&
            summary="$summary kiln/qemu host->guest $(vsockbench_ratio "$hg" "$qhg"), guest->host $(vsockbench_ratio "$gh" "$qgh") (socketpair baselines kiln/qemu $(vsockbench_ratio "$u" "$qu")); per-round-normalised kiln/qemu host->guest $(vsockbench_ratio "$rh" "$qrh"), guest->host $(vsockbench_ratio "$rg" "$qrg");"
    done
    KILN_E2E_VMM=$saved KILN_E2E_L2_TIMEOUT=$saved_timeout
    note "vsockbench:$summary (medians of $boots boots x ${KILN_VSOCKBENCH_RUNS:-3} rounds)"
    if [ -n "$bad" ]; then fail "benchmark incomplete:$bad;$summary"; else pass "${summary# }"; fi
}
