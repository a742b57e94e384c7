# Sourced by podman.sh, containerd.sh and bench.sh (with $work set): "ok NAME" / "FAIL NAME: WHY"
# lines the scenario counts, a keeper that marks progress for the harness's stall watchdog
# (a slow boot is not a wedged L1), and the VMs' consoles kept for a failure's report
# (kiln-oci's state root is the engine's choice: found by name).
failed=0
ok() { echo "ok $1"; }
bad() { echo "FAIL $1: $2"; failed=1; save_consoles; }
expect() {   # expect NAME WANT GOT
    if [ "$2" = "$3" ]; then ok "$1"; else bad "$1" "want $(printf %q "$2"), got $(printf %q "$3")"; fi
}
( while sleep 5; do touch "${KILN_E2E_PROGRESS:-/dev/null}" 2>/dev/null; done ) &
keeper=$!
save_consoles() {
    mkdir -p "$work/logs"
    find /run "$work" -name console.log -newer "$work" 2>/dev/null | while read -r f; do
        cp -L "$f" "$work/logs/$(echo "$f" | tr / _)" 2>/dev/null
    done
}
