# Snapshots with a real Linux guest (issue 17, kiln only): boot over the API, pause, Full
# snapshot, kill the VMM; then two clones restored from that one snapshot in new kiln processes
# (--restore --resume), each answering on its console, with the file the guest wrote before the
# snapshot, and with a kernel that reseeded its RNG from the new VM generation ID (vmgenid).
# The original then runs on, takes one more line and is Diff-snapshotted; the Diff merged onto a
# copy of the Full's memory (kiln snapshot-merge) restores to that later state.
# Also a cold boot against a restore to a responding guest (snapshot-bench numbers).
ALL_SCENARIOS="$ALL_SCENARIOS snapshot-linux"

# snap_console_wait FILE PATTERN SECONDS: waits for PATTERN in FILE; 0 when it came.
snap_console_wait() {
    local i
    for i in $(seq "$(( $3 * 10 ))"); do
        grep -q -- "$2" "$1" 2>/dev/null && return 0
        touch "$RUN/progress"; sleep 0.1
    done
    return 1
}

# snap_start NAME ARGS...: a kiln in the background whose stdin is a FIFO held open on fd
# SNAP_FD_<NAME>; console in $B_DIR/NAME.console. Sets SNAP_PID.
snap_start() {
    local name=$1 fifo=$SCRATCH/snap-$1.$$.fifo fd
    shift
    rm -f "$fifo"; mkfifo "$fifo"
    timeout -k 5 "$((KILN_E2E_L2_TIMEOUT * 3))" "$KILN" "$@" <"$fifo" >"$B_DIR/$name.console" 2>"$B_DIR/$name.stderr" &
    SNAP_PID=$!
    exec {fd}>"$fifo"
    eval "SNAP_FD_${name//-/_}=$fd"
    echo "$KILN $*" >"$B_DIR/$name.command"
}

snap_say() {   # snap_say NAME LINE: one line to NAME's console
    local fd_var="SNAP_FD_${1//-/_}"
    printf '%s\n' "$2" >&"${!fd_var}"
}

scenario_snapshot-linux() {
    if [ "$KILN_E2E_VMM" != kiln ]; then fail "snapshot-linux drives kiln's API; run it with --vmm kiln"; return 0; fi
    command -v curl >/dev/null || { fail "curl not found (apt-get install -y curl)"; return 0; }
    B_DIR=$RUN/boots/snapshot-linux
    rm -rf "$B_DIR"; mkdir -p "$B_DIR"
    API_SOCK=$SCRATCH/kiln-snap.$$.sock
    rm -f "$API_SOCK"
    local state=$SCRATCH/snap.$$.state memory=$SCRATCH/snap.$$.mem script args pid t0 t1 cold restore i clone out
    local diff_state=$SCRATCH/snap.$$.diff-state diff_memory=$SCRATCH/snap.$$.diff-mem merged=$SCRATCH/snap.$$.merged-mem
    local -a pids=()
    script='echo before-snapshot >/marker; echo KILN-SNAP-READY
while read -r line; do echo "KILN-SNAP-GOT:$line marker=$(cat /marker) vmfork=$(dmesg | grep -c "virtual machine fork") vmgenid=$(ls /sys/bus/acpi/drivers/vmgenid 2>/dev/null | grep -c VMGENCTR) now=$(date +%s) prev=$(cat /last 2>/dev/null)"; echo "$line" >/last; done'
    args="$BASE_CMDLINE kiln.end=none kiln.exec=$(guest_script "$script")"
    t0=$EPOCHREALTIME
    snap_start original --api-sock "$API_SOCK" --id e2e-snap; pid=$SNAP_PID; pids+=("$pid")
    for i in $(seq 50); do [ -S "$API_SOCK" ] && break; sleep 0.1; done
    api_expect 204 PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 128, "track_dirty_pages": true}' || { kill "${pids[@]}"; return 0; }
    api_expect 204 PUT /boot-source "{\"kernel_image_path\": \"$KILN_VMLINUX\", \"initrd_path\": \"$KILN_INITRAMFS\", \"boot_args\": \"$args\"}" || { kill "${pids[@]}"; return 0; }
    # virtio-rng: the guest's RNG is initialised soon, so a restore's reseed is reported.
    api_expect 204 PUT /entropy '{}' || { kill "${pids[@]}"; return 0; }
    api_expect 204 PUT /actions '{"action_type": "InstanceStart"}' || { kill "${pids[@]}"; return 0; }
    snap_console_wait "$B_DIR/original.console" KILN-SNAP-READY "$KILN_E2E_L2_TIMEOUT" ||
        { fail "the guest never became ready: $(tail -c 300 "$B_DIR/original.console")"; kill "${pids[@]}"; return 0; }
    snap_say original one
    snap_console_wait "$B_DIR/original.console" "KILN-SNAP-GOT:one" 30 ||
        { fail "the guest did not answer before the snapshot"; kill "${pids[@]}"; return 0; }
    t1=$EPOCHREALTIME
    cold=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", (b - a) * 1000 }')
    api_expect 204 PATCH /vm '{"state": "Paused"}' || { kill "${pids[@]}"; return 0; }
    api_expect 204 PUT /snapshot/create "{\"snapshot_path\": \"$state\", \"mem_file_path\": \"$memory\"}" || { kill "${pids[@]}"; return 0; }
    # A Diff on top of the Full: the guest runs on, takes one more line, and only the pages
    # written since the Full are saved.
    api_expect 204 PATCH /vm '{"state": "Resumed"}' || { kill "${pids[@]}"; return 0; }
    snap_say original two
    snap_console_wait "$B_DIR/original.console" "KILN-SNAP-GOT:two" 30 ||
        { fail "the guest did not answer after the Full snapshot"; kill "${pids[@]}"; return 0; }
    api_expect 204 PATCH /vm '{"state": "Paused"}' || { kill "${pids[@]}"; return 0; }
    api_expect 204 PUT /snapshot/create "{\"snapshot_type\": \"Diff\", \"snapshot_path\": \"$diff_state\", \"mem_file_path\": \"$diff_memory\"}" || { kill "${pids[@]}"; return 0; }
    kill -KILL "$pid"; wait "$pid" 2>/dev/null
    SX_FAILED=
    local times=()
    for clone in 1 2; do
        t0=$EPOCHREALTIME
        snap_start "clone$clone" --restore "$state" --restore-memory "$memory" --resume; pids+=("$SNAP_PID")
        snap_say "clone$clone" "clone$clone"
        if snap_console_wait "$B_DIR/clone$clone.console" "KILN-SNAP-GOT:clone$clone" "$KILN_E2E_L2_TIMEOUT"; then
            times+=("$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", (b - a) * 1000 }')")
            out=$(grep -m1 "KILN-SNAP-GOT:clone$clone" "$B_DIR/clone$clone.console")
            case $out in *"marker=before-snapshot vmfork=1 vmgenid=1"*"prev=one"*) ;; *) SX_FAILED="$SX_FAILED clone$clone($out)" ;; esac
        else
            SX_FAILED="$SX_FAILED clone$clone(no answer: $(tail -c 300 "$B_DIR/clone$clone.stderr"))"
        fi
    done
    # Each clone keeps running on its own: a second line to each gets its own answer.
    for clone in 1 2; do snap_say "clone$clone" "again$clone"; done
    for clone in 1 2; do
        snap_console_wait "$B_DIR/clone$clone.console" "KILN-SNAP-GOT:again$clone" 60 || SX_FAILED="$SX_FAILED clone$clone(second line)"
        grep -q "KILN-SNAP-GOT:again$((3 - clone))" "$B_DIR/clone$clone.console" && SX_FAILED="$SX_FAILED clone$clone(saw the other clone's line)"
    done
    kill -KILL "${pids[@]}" 2>/dev/null; wait 2>/dev/null
    # The Diff merged onto a copy of the Full's memory (the clones above mapped the Full's
    # file privately: it must not change under them) restores to the state after "two".
    local diff_kib full_kib merged_state=$SCRATCH/snap.$$.merged-state
    diff_kib=$(du -k "$diff_memory" | cut -f1); full_kib=$(du -k "$memory" | cut -f1)
    cp --sparse=always "$memory" "$merged"
    if "$KILN" snapshot-merge --diff "$diff_state" --diff-memory "$diff_memory" --base-memory "$merged" \
            --output "$merged_state" 2>"$B_DIR/merge.stderr"; then
        snap_start merged --restore "$merged_state" --restore-memory "$merged" --resume; pids+=("$SNAP_PID")
        snap_say merged merged
        if snap_console_wait "$B_DIR/merged.console" "KILN-SNAP-GOT:merged" "$KILN_E2E_L2_TIMEOUT"; then
            out=$(grep -m1 "KILN-SNAP-GOT:merged" "$B_DIR/merged.console")
            case $out in *"marker=before-snapshot"*"prev=two"*) ;; *) SX_FAILED="$SX_FAILED merged($out)" ;; esac
        else
            SX_FAILED="$SX_FAILED merged(no answer: $(tail -c 300 "$B_DIR/merged.stderr"))"
        fi
    else
        SX_FAILED="$SX_FAILED merge($(tail -c 300 "$B_DIR/merge.stderr"))"
    fi
    kill -KILL "${pids[@]}" 2>/dev/null; wait 2>/dev/null
    rm -f "$state" "$memory" "$diff_state" "$diff_memory" "$merged" "$merged_state" "$API_SOCK" "$SCRATCH"/snap-*.$$.fifo
    if [ -n "$SX_FAILED" ]; then fail "snapshot restore:$SX_FAILED"; return 0; fi
    restore=$(printf '%s\n' "${times[@]}" | sort -n | head -n1)
    pass "Full snapshot of a running Linux guest, VMM killed, 2 clones restored at once from one snapshot: each answers with the file written before the snapshot, its kernel reseeded from the new VM generation ID (vmgenid bound, 'virtual machine fork' once), each keeps its own state; a Diff taken after one more line, merged onto a copy of the Full, restores to that later state (Diff memory ${diff_kib} KiB allocated, Full ${full_kib} KiB); cold boot to answering ${cold} ms, restore to answering ${times[*]} ms (best ${restore} ms, $(awk -v a="$restore" -v b="$cold" 'BEGIN { printf "%.2f", a / b }') of the cold boot)"
}
