# Sandbox snapshots (issue 17): `kiln snapshot NAME DIR` of a long-lived sandbox, `kiln run
# --from DIR` and `kiln create --from DIR`. Sourced by scenarios.sh after scenarios-sandbox.sh
# (it uses sx, sx_expect, sx_out, sandbox_prereqs, proc_alive, sandbox_state_dir, median).
#
# sandbox-snapshot (in all; 12 VMs, jailed as root when kiln-jailer sits beside $KILN): a
# sandbox writes files and starts a background process, is snapshotted and runs on (its later
# change is not in the snapshot); `kiln run --from` finds the files and the process, its agent
# answers over the reconnected vsock, and its wall clock is the host's (set by the agent from
# the host after the restore, 3 s after the snapshot); 10 `kiln create --from` clones run at
# once, each writes its own file and reads back only its own (a second session each); a clone
# is snapshotted again and restored; bad uses are one-line errors (exit 125).
# sandbox-snapshot-bench (extra): see below.
ALL_SCENARIOS="$ALL_SCENARIOS sandbox-snapshot"
EXTRA_SCENARIOS="$EXTRA_SCENARIOS sandbox-snapshot-bench"

# snap_private_kib PID...: the sum of Private_Dirty (KiB) of the processes (smaps_rollup).
snap_private_kib() {
    local pid total=0 kib
    for pid in "$@"; do
        kib=$(awk '/^Private_Dirty:/ { print $2 }' "/proc/$pid/smaps_rollup" 2>/dev/null)
        total=$((total + ${kib:-0}))
    done
    echo "$total"
}

# snap_vmm_pid NAME: the VMM pid recorded for sandbox NAME.
snap_vmm_pid() { cut -d' ' -f1 "$(sandbox_state_dir "$1")/vmm" 2>/dev/null; }

scenario_sandbox-snapshot() {
    local -x TMPDIR=$E2E_LOCAL_TMP   # kiln run directories (the VMM socket, the jail) on a local fs, not the 9p $RUN/tmp
    sandbox_prereqs || return 0
    B_DIR=$RUN/boots/sandbox-snapshot
    rm -rf "$B_DIR"; mkdir -p "$B_DIR"
    local name=e2e-snap-$$ snap=$E2E_LOCAL_TMP/kiln-snap.$$ again=$E2E_LOCAL_TMP/kiln-snap-again.$$
    local clones=${KILN_SNAPSHOT_CLONES:-10} token rc=0 i before after guest out t0 restored_ms=
    local -a names=()
    SX_FAILED=
    SX_TIMEOUT=$KILN_E2E_L2_TIMEOUT
    token=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
    rm -rf "$snap" "$again"
    timeout -k 5 "$KILN_E2E_L2_TIMEOUT" "$KILN" create --name "$name" --kernel "$KILN_VMLINUX" --rootfs "$KILN_SANDBOX_ROOTFS" \
        --memory 128 </dev/null >"$B_DIR/create.out" 2>"$B_DIR/create.err" || rc=$?
    if [ "$rc" != 0 ]; then fail "kiln create exit $rc: $(tail -c 400 "$B_DIR/create.err")"; return 0; fi
    names+=("$name")
    SX_CLIENT=("$KILN" exec "$name")
    sx write 0 -- -- sh -c "echo $token >/root/before; mkdir -p /root/tree && echo data >/root/tree/file"
    sx background 0 -- -- sh -c 'sleep 100000 </dev/null >/dev/null 2>&1 & echo $! >/root/bg.pid'

    rc=0; timeout -k 5 300 "$KILN" snapshot "$name" "$snap" >"$B_DIR/snapshot.out" 2>"$B_DIR/snapshot.err" || rc=$?
    sx_expect snapshot "exit" "$rc $(tail -c 200 "$B_DIR/snapshot.err")" "0 "
    for f in snapshot.state snapshot.mem sandbox; do [ -f "$snap/$f" ] || SX_FAILED="$SX_FAILED snapshot(no $f)"; done
    sx_expect snapshot-mode "directory mode" "$(stat -c %a "$snap" 2>/dev/null)" 700
    note "sandbox-snapshot: memory file $(du -k --apparent-size "$snap/snapshot.mem" | cut -f1) KiB apparent, $(du -k "$snap/snapshot.mem" | cut -f1) KiB allocated; state $(stat -c %s "$snap/snapshot.state") bytes"
    rc=0; "$KILN" snapshot "$name" "$snap" >/dev/null 2>"$B_DIR/snapshot-again.err" || rc=$?
    sx_expect snapshot-exists "exit, message" "$rc $(grep -c 'already exists' "$B_DIR/snapshot-again.err")" "125 1"
    # The sandbox runs on after its snapshot; what it does now is not in the snapshot.
    sx_out original-after changed sh -c 'echo changed >/root/after; cat /root/after'

    # Long enough that a clock left at the snapshot's time would be seen.
    sleep 3
    SX_CLIENT=("$KILN" run --from "$snap")
    before=$(date +%s); t0=$EPOCHREALTIME
    sx run-from 0 -- -- sh -c 'cat /root/before /root/tree/file; date +%s; [ -e /root/after ] && echo after-present || echo no-after; kill -0 "$(cat /root/bg.pid)" && echo bg-alive'
    restored_ms=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", (b - a) * 1000 }')
    note "sandbox-snapshot: kiln run --from took $restored_ms ms"
    after=$(date +%s)
    out=$(tr '\n' ' ' <"$B_DIR/run-from.out")
    guest=$(sed -n 3p "$B_DIR/run-from.out")
    sx_expect run-from "files, later change absent, process" "$(sed -n '1p;2p;4p;5p' "$B_DIR/run-from.out" | tr '\n' ' ')" "$token data no-after bg-alive "
    if [ -z "$guest" ] || [ "$guest" -lt $((before - 1)) ] || [ "$guest" -gt $((after + 1)) ]; then
        SX_FAILED="$SX_FAILED clock(guest $guest, host $before..$after: $out)"
    fi
    sx run-from-exit 42 -- -- sh -c 'exit 42'
    rc=0; "$KILN" run --from "$snap" --memory 256 -- true >/dev/null 2>"$B_DIR/from-memory.err" || rc=$?
    sx_expect from-memory "exit, message" "$rc $(grep -c -- '--memory cannot be given' "$B_DIR/from-memory.err")" "125 1"
    rc=0; "$KILN" run --from "$B_DIR" -- true >/dev/null 2>"$B_DIR/from-none.err" || rc=$?
    sx_expect from-none "exit, message" "$rc $(grep -c 'no snapshot record' "$B_DIR/from-none.err")" "125 1"

    # Clones of one snapshot, all running at once. They are started one after the other: L1
    # has one emulated CPU, and ten restores at the same instant outlast the per-step timeout.
    local -a create_ms=()
    for i in $(seq "$clones"); do
        touch "$RUN/progress"
        rc=0; t0=$EPOCHREALTIME
        timeout -k 5 "$KILN_E2E_L2_TIMEOUT" "$KILN" create --from "$snap" --name "$name-c$i" </dev/null \
            >"$B_DIR/clone$i.out" 2>"$B_DIR/clone$i.err" || rc=$?
        create_ms+=("$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", (b - a) * 1000 }')")
        names+=("$name-c$i")
        if [ "$rc" != 0 ]; then
            SX_FAILED="$SX_FAILED clone$i(exit $rc: $(tail -c 200 "$B_DIR/clone$i.err" | tr '\n' ' '))"
            cp "$(sandbox_state_dir "$name-c$i")/vmm.log" "$B_DIR/clone$i.vmm.log" 2>/dev/null
        fi
    done
    note "sandbox-snapshot: kiln create --from took ${create_ms[*]} ms"
    local alive=0
    for i in $(seq "$clones"); do
        SX_CLIENT=("$KILN" exec "$name-c$i")
        sx "clone$i-write" 0 -- -- sh -c "echo clone-$i >/root/mine; cat /root/before"
        sx_expect "clone$i-write" "file from before the snapshot" "$(cat "$B_DIR/clone$i-write.out")" "$token"
    done
    for i in $(seq "$clones"); do
        proc_alive "$(snap_vmm_pid "$name-c$i")" && alive=$((alive + 1))
    done
    sx_expect clones-alive "clone VMMs running at once" "$alive" "$clones"
    note "sandbox-snapshot: $clones clones' VMMs: Private_Dirty $(snap_private_kib $(for i in $(seq "$clones"); do snap_vmm_pid "$name-c$i"; done)) KiB in all"
    for i in $(seq "$clones"); do
        SX_CLIENT=("$KILN" exec "$name-c$i")
        sx_out "clone$i-read" "clone-$i" sh -c 'cat /root/mine; if [ -e /root/after ]; then echo after-present; fi'
    done

    # A restored sandbox serves the API too: snapshot a clone, start from that.
    rc=0; timeout -k 5 300 "$KILN" snapshot "$name-c1" "$again" >/dev/null 2>"$B_DIR/snapshot-clone.err" || rc=$?
    sx_expect snapshot-clone "exit" "$rc $(tail -c 200 "$B_DIR/snapshot-clone.err")" "0 "
    SX_CLIENT=("$KILN" run --from "$again")
    sx_out run-from-clone clone-1 cat /root/mine

    for i in "${names[@]}"; do
        timeout 60 "$KILN" rm "$i" 2>>"$B_DIR/rm.err" || SX_FAILED="$SX_FAILED rm-$i"
        [ -e "$(sandbox_state_dir "$i")" ] && SX_FAILED="$SX_FAILED rm-$i(state left)"
    done
    rm -rf "$snap" "$again"
    local leftovers
    leftovers=$(ls -d "$TMPDIR"/kiln-run.* 2>/dev/null | tr '\n' ' ')
    [ -z "$leftovers" ] || SX_FAILED="$SX_FAILED leftovers($leftovers)"
    if [ -n "$SX_FAILED" ]; then fail "sandbox snapshot:$SX_FAILED"; return 0; fi
    pass "kiln snapshot of a running sandbox (it runs on); kiln run --from: files and a background process from before the snapshot, not the later change, guest clock set to the host's after 3 s (guest $guest, host $before..$after), exit status, ${restored_ms} ms; $clones kiln create --from clones running at once, each with its own file in a second session; a clone snapshotted and restored; --memory with --from, a directory without a snapshot and an existing snapshot directory refused (125)"
}

# sandbox-snapshot-bench (extra): in one L1 session, `kiln run -- true` (cold boot) against
# `kiln run --from SNAP -- true`, KILN_SNAPSHOT_BENCH_RUNS (7) each, interleaved, medians of
# --report-timing's total, VMM start -> agent answering and the VMM's own start -> first
# KVM_RUN (for a restore: to the guest running again); then the Private_Dirty of
# KILN_SNAPSHOT_CLONES (10) `kiln create --from` clones against as many cold `kiln create`s,
# each after one `true` through its agent.
scenario_sandbox-snapshot-bench() {
    local -x TMPDIR=$E2E_LOCAL_TMP
    sandbox_prereqs || return 0
    B_DIR=$RUN/boots/sandbox-snapshot-bench
    rm -rf "$B_DIR"; mkdir -p "$B_DIR"
    local runs=${KILN_SNAPSHOT_BENCH_RUNS:-7} clones=${KILN_SNAPSHOT_CLONES:-10} name=e2e-snapb-$$ snap=$E2E_LOCAL_TMP/kiln-snapb.$$
    local i kind line bad= rc=0
    local -a base=(--kernel "$KILN_VMLINUX" --rootfs "$KILN_SANDBOX_ROOTFS" --memory 128)
    rm -rf "$snap"
    timeout -k 5 "$KILN_E2E_L2_TIMEOUT" "$KILN" create --name "$name" "${base[@]}" </dev/null >/dev/null 2>"$B_DIR/create.err" || rc=$?
    [ "$rc" = 0 ] || { fail "kiln create exit $rc: $(tail -c 300 "$B_DIR/create.err")"; return 0; }
    "$KILN" exec "$name" -- true </dev/null >/dev/null 2>&1
    rc=0; timeout -k 5 300 "$KILN" snapshot "$name" "$snap" >/dev/null 2>"$B_DIR/snapshot.err" || rc=$?
    timeout 60 "$KILN" rm "$name" >/dev/null 2>&1
    [ "$rc" = 0 ] || { fail "kiln snapshot exit $rc: $(tail -c 300 "$B_DIR/snapshot.err")"; return 0; }
    : >"$B_DIR/cold.total"; : >"$B_DIR/cold.ready"; : >"$B_DIR/from.total"; : >"$B_DIR/from.ready"
    : >"$B_DIR/cold.setup"; : >"$B_DIR/from.setup"
    # One discarded warm-up of each (page cache, the image's blocks).
    for i in $(seq 0 "$runs"); do
        for kind in cold from; do
            local -a cmd=("$KILN" run "${base[@]}" --report-timing -- true)
            [ "$kind" = from ] && cmd=("$KILN" run --from "$snap" --report-timing -- true)
            touch "$RUN/progress"
            if timeout -k 5 "$KILN_E2E_L2_TIMEOUT" "${cmd[@]}" </dev/null >/dev/null 2>"$B_DIR/$kind$i.err"; then
                [ "$i" = 0 ] && continue
                line=$(grep 'timing:' "$B_DIR/$kind$i.err")
                echo "$line" | sed -n 's/.*total-ms \([0-9.]*\).*/\1/p' >>"$B_DIR/$kind.total"
                echo "$line" | sed -n 's/.*agent-ready-ms \([0-9.]*\).*/\1/p' >>"$B_DIR/$kind.ready"
                echo "$line" | sed -n 's/.*set-up took \([0-9]*\) us.*/\1/p' | awk '{ print $1 / 1000 }' >>"$B_DIR/$kind.setup"
                note "sandbox-snapshot-bench: $kind $i: $line"
            else
                bad="$bad $kind$i"; note "sandbox-snapshot-bench: $kind $i FAILED: $(tail -c 200 "$B_DIR/$kind$i.err")"
            fi
        done
    done
    local cold_total cold_ready from_total from_ready
    cold_total=$(median <"$B_DIR/cold.total"); cold_ready=$(median <"$B_DIR/cold.ready")
    from_total=$(median <"$B_DIR/from.total"); from_ready=$(median <"$B_DIR/from.ready")
    local cold_setup from_setup
    cold_setup=$(median <"$B_DIR/cold.setup"); from_setup=$(median <"$B_DIR/from.setup")

    # Private memory: clones against cold sandboxes, all of one kind running at once.
    local -a pids
    local cold_kib from_kib
    for kind in cold from; do
        pids=()
        for i in $(seq "$clones"); do
            rc=0
            touch "$RUN/progress"
            if [ "$kind" = cold ]; then
                timeout -k 5 "$KILN_E2E_L2_TIMEOUT" "$KILN" create --name "$name-$kind$i" "${base[@]}" </dev/null >/dev/null 2>"$B_DIR/$kind-create$i.err" || rc=$?
            else
                timeout -k 5 "$KILN_E2E_L2_TIMEOUT" "$KILN" create --name "$name-$kind$i" --from "$snap" </dev/null >/dev/null 2>"$B_DIR/$kind-create$i.err" || rc=$?
            fi
            [ "$rc" = 0 ] || bad="$bad $kind-create$i"
            "$KILN" exec "$name-$kind$i" -- true </dev/null >/dev/null 2>&1 || bad="$bad $kind-exec$i"
            pids+=("$(snap_vmm_pid "$name-$kind$i")")
        done
        if [ "$kind" = cold ]; then cold_kib=$(snap_private_kib "${pids[@]}"); else from_kib=$(snap_private_kib "${pids[@]}"); fi
        for i in $(seq "$clones"); do touch "$RUN/progress"; timeout 60 "$KILN" rm "$name-$kind$i" >/dev/null 2>&1; done
    done
    rm -rf "$snap"
    local summary
    summary="medians of $runs, interleaved: kiln run -- true (cold boot) total ${cold_total} ms, VMM start -> agent ${cold_ready} ms, VMM start -> first KVM_RUN ${cold_setup} ms; kiln run --from SNAP -- true total ${from_total} ms, -> agent (restore + clock) ${from_ready} ms, VMM start -> guest running (restore) ${from_setup} ms; ratio from/cold total $(awk -v a="$from_total" -v b="$cold_total" 'BEGIN { printf "%.3f", a / b }'), to agent $(awk -v a="$from_ready" -v b="$cold_ready" 'BEGIN { printf "%.3f", a / b }'); Private_Dirty of $clones VMMs at once (128 MiB guests): cold $((cold_kib / 1024)) MiB, clones $((from_kib / 1024)) MiB (ratio $(awk -v a="$from_kib" -v b="$cold_kib" 'BEGIN { printf "%.3f", a / b }'))"
    echo "$summary" >"$RUN/sandbox-snapshot-bench.txt"
    note "sandbox-snapshot-bench: $summary"
    if [ -n "$bad" ]; then fail "incomplete:$bad; $summary"; else pass "$summary"; fi
}
