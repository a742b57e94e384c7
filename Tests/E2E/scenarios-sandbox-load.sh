# Load scenario for `kiln run` (issue 19, point 3), sourced by scenarios.sh after
# scenarios-sandbox.sh (it uses sandbox_prereqs from there).
#
# sandbox-load: KILN_LOAD_RUNS (10) `kiln run` at once, jailed (as root with kiln-jailer next to
# kiln), every other one with `--net` (a TAP each); each runs a trivial command whose output
# and exit status (0, 1 or 2) are checked. Counted in L1 before, after, and after `kiln gc`
# (nothing may differ, and gc must find nothing to remove): run directories
# ($TMPDIR/kiln-run.*, which hold the jails), directories in kiln's cgroups, processes named
# kiln*, Unix sockets, TAP devices, mounts, and this shell's descriptors. Each run may take
# KILN_LOAD_BOOT_TIMEOUT (600) s to boot (`kiln run --boot-timeout`).
# ~55 s in L1 (2026-12-07; with the host loaded by other work, over 120 s).
ALL_SCENARIOS="$ALL_SCENARIOS sandbox-load"

load_counts() {   # one line: name=count ...
    local procs=0 f
    for f in /proc/[0-9]*/comm; do
        case $(cat "$f" 2>/dev/null) in kiln*) procs=$((procs + 1)) ;; esac
    done
    printf 'run-dirs=%s cgroups=%s kiln-processes=%s unix-sockets=%s taps=%s mounts=%s shell-fds=%s\n' \
        "$(find "$TMPDIR" -maxdepth 1 -name 'kiln-run.*' | wc -l)" \
        "$(find /sys/fs/cgroup -mindepth 2 -maxdepth 4 -type d -path '*/kiln/*' 2>/dev/null | wc -l)" \
        "$procs" \
        "$(($(wc -l </proc/net/unix) - 1))" \
        "$(find /sys/class/net/ -maxdepth 2 -name tun_flags 2>/dev/null | wc -l)" \
        "$(wc -l </proc/self/mountinfo)" \
        "$(find /proc/$$/fd -mindepth 1 -maxdepth 1 | wc -l)"
}

scenario_sandbox-load() {
    local -x TMPDIR=$E2E_LOCAL_TMP   # kiln run directories (the VMM socket, the jail) on a local fs, not the 9p $RUN/tmp
    sandbox_prereqs || return 0
    [ "$(id -u)" = 0 ] || { fail "needs root (jails and TAPs)"; return 0; }
    [ -x "$(dirname "$KILN")/kiln-jailer" ] || { fail "no kiln-jailer next to $KILN (swift build -c release --static-swift-stdlib -Xswiftc -static-executable)"; return 0; }
    B_DIR=$RUN/boots/sandbox-load
    rm -rf "$B_DIR"; mkdir -p "$B_DIR"
    # Ten cold boots share L1's one emulated CPU: more than kiln run's default 120 s for the
    # agent to answer (all ten timed out on 2026-12-07, with the host itself loaded).
    local boot_timeout=${KILN_LOAD_BOOT_TIMEOUT:-600}
    local runs=${KILN_LOAD_RUNS:-10} i net want rc pids=() bad= before after after_gc t0=$EPOCHREALTIME t1
    before=$(load_counts)
    touch "$RUN/progress"
    for ((i = 1; i <= runs; i++)); do
        net=(); [ $((i % 2)) = 0 ] && net=(--net)
        # The networked ones print their eth0 address: the TAP was really theirs.
        timeout -k 5 $((boot_timeout + 60)) "$KILN" run "${net[@]}" --kernel "$KILN_VMLINUX" --rootfs "$KILN_SANDBOX_ROOTFS" \
            --memory 128 --boot-timeout "$boot_timeout" -- sh -c "echo load-$i \$(ip -o -4 addr show eth0 2>/dev/null | awk '{print \$4}'); exit $((i % 3))" \
            </dev/null >"$B_DIR/$i.out" 2>"$B_DIR/$i.err" &
        pids+=($!)
    done
    # Ten Linux boots share L1's one vCPU: keep the stall watchdog informed while they run.
    while [ -n "$(jobs -rp)" ]; do touch "$RUN/progress"; sleep 1; done
    for ((i = 1; i <= runs; i++)); do
        rc=0; wait "${pids[i - 1]}" || rc=$?
        want="load-$i"; [ $((i % 2)) = 0 ] && want="$want 172.31.*"
        # shellcheck disable=SC2053
        if [ "$rc" != $((i % 3)) ] || [[ $(head -n1 "$B_DIR/$i.out") != $want ]]; then
            bad="$bad run$i(exit $rc, want $((i % 3)); stdout '$(head -c 80 "$B_DIR/$i.out")'; $(tail -c 200 "$B_DIR/$i.err" | tr '\n' ' '))"
        fi
    done
    t1=$EPOCHREALTIME
    touch "$RUN/progress"
    sleep 0.5   # a VMM's exit after its run's: PR_SET_PDEATHSIG
    after=$(load_counts)
    rc=0; "$KILN" gc >"$B_DIR/gc.out" 2>"$B_DIR/gc.err" || rc=$?
    [ "$rc" = 0 ] || bad="$bad gc(exit $rc: $(head -c 200 "$B_DIR/gc.err"))"
    [ -s "$B_DIR/gc.out" ] && bad="$bad gc(found leftovers: $(head -c 300 "$B_DIR/gc.out" | tr '\n' ' '))"
    after_gc=$(load_counts)
    note "sandbox-load: before:   $before"
    note "sandbox-load: after:    $after"
    note "sandbox-load: after gc: $after_gc"
    [ "$after" = "$before" ] || bad="$bad leftovers(before: $before; after: $after)"
    [ "$after_gc" = "$before" ] || bad="$bad after-gc(before: $before; after gc: $after_gc)"
    local summary="$runs kiln run at once (jailed, $((runs / 2)) with --net) in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s; before = after = after kiln gc: $before"
    if [ -n "$bad" ]; then fail "$summary; failed:$bad"; else pass "$summary"; fi
}
