#!/usr/bin/env bash
# The whole test suite: unit tests (no /dev/kvm needed), test guests booted by kiln on this
# host's /dev/kvm, the real-Linux end-to-end scenarios (directly on hardware KVM, else in
# the nested QEMU harness), and the API's conformance and fuzzing suites (Tests/API).
# Ends with "N passed, N failed"; exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
log() { echo "test.sh: $*"; }
passed=0
failed=0
# Runs a suite that ends with "N passed, N failed" (output shown), and adds its counts; a suite
# that prints no such line counts as one failure.
run_suite() { # NAME COMMAND...
    local name=$1 out line rest
    shift
    out=$(mktemp)
    "$@" 2>&1 | tee "$out"
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1)
    rm -f "$out"
    if [ -n "$line" ]; then
        passed=$((passed + ${line%% passed*}))
        rest=${line#*, }
        failed=$((failed + ${rest%% failed*}))
        log "$name: $line"
    else
        log "$name printed no summary"; failed=$((failed + 1))
    fi
}

log "swift build (debug, with tests)"
if ! swift build --build-tests 2>&1 | tail -n 5; then
    echo "0 passed, 1 failed"; exit 1
fi

# Fully static (Swift runtime and glibc/libseccomp/libcap): the jailer copies only this one
# file into a jail, so it must need nothing else; the jailer tests use it.
release_build() { swift build -c release --static-swift-stdlib -Xswiftc -static-executable 2>&1 | grep -vE "statically linked applications requires at runtime|use of .mktemp. is dangerous" | tail -n 3; return "${PIPESTATUS[0]}"; }
log "swift build -c release --static-swift-stdlib -Xswiftc -static-executable (jailer tests, end-to-end tests, benchmarks)"
release_ok=0
release_build && release_ok=1
export KILN_STATIC_BIN="$PWD/.build/release/kiln"

log "swift test (unit tests, test guests on /dev/kvm, real jails)"
unit_log=/tmp/kiln-swift-test.$$
run_unit_tests() {
    swift test --skip-build --disable-xctest 2>&1 | tee "$unit_log" | grep -vE '^(✔|􀟈|◇) ' | tail -n 60
    unit_status=${PIPESTATUS[0]}
}
run_unit_tests
# A test process that dies (a signal, no "Test run with N tests" line) says nothing on its own:
# show its unfiltered end, and run the suite once more; the second run decides, and the crash
# stays in the output as a RETRY line.
if ! grep -qE 'Test run with [0-9]+ tests?' "$unit_log"; then
    log "RETRY swift test: the test process ended (exit $unit_status) without a summary; its last lines:"
    tail -n 40 "$unit_log" | sed 's/^/    | /'
    run_unit_tests
fi
unit_passed=$(grep -oE 'Test run with [0-9]+ tests? in [0-9]+ suites? passed' "$unit_log" | grep -oE '[0-9]+' | head -1)
unit_failed=$(grep -E '^✘ Test ' "$unit_log" | grep -v '^✘ Test run' | grep -c 'failed after' || true)
rm -f "$unit_log"
if [ "$unit_status" -eq 0 ] && [ -n "$unit_passed" ]; then
    passed=$((passed + unit_passed))
else
    # A crash or a build problem fails the run even when no single test reported failing.
    [ "$unit_failed" -gt 0 ] || unit_failed=1
    failed=$((failed + unit_failed))
fi
log "swift test: exit $unit_status, ${unit_passed:-?} passed, $unit_failed failed"

log "fuzzing: every libFuzzer target for a fixed budget (Fuzz/run-ci.sh, Fuzz/README.md)"
run_suite "fuzz" bash Fuzz/run-ci.sh

if [ "$release_ok" -eq 1 ]; then
    export KILN="$PWD/.build/release/kiln"
    log "end-to-end: real Linux guests"
    e2e_out=$(mktemp)
    bash Tests/E2E/run.sh all bench 2>&1 | tee "$e2e_out"
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$e2e_out" | tail -n 1)
    rm -f "$e2e_out"
    if [ -n "$line" ]; then
        passed=$((passed + ${line%% passed*}))
        rest=${line#*, }
        failed=$((failed + ${rest%% failed*}))
    else
        log "end-to-end harness printed no summary"; failed=$((failed + 1))
    fi
    log "benchmark (informational): boot core against the C loader"
    make -s -C Benchmarks/c-loader && python3 Benchmarks/boot-core.py -n 20 || log "benchmark did not run"
    log "benchmark (informational): jailed against unjailed kiln"
    python3 Benchmarks/jailer.py -n 20 || log "jailer benchmark did not run"
    make -s -C Tests/Guests
    log "API conformance: lifecycle and bad input over the API socket (Tests/API/conformance.py)"
    run_suite "API conformance" python3 Tests/API/conformance.py
    log "hostile agent: kiln agent-exec, --copy-out and kiln cp against a fake agent (Tests/Sandbox/hostile_agent.py)"
    run_suite "hostile agent" python3 Tests/Sandbox/hostile_agent.py
    log "load: 20 VMs at once and 100 in a row (plain, API, jailed with a TAP), nothing left behind (Benchmarks/load.py)"
    run_suite "load" python3 Benchmarks/load.py --concurrent 20 --sequential 100
    log "API fuzzing: schemathesis against Firecracker's schema (Tests/API/schemathesis.sh)"
    run_suite "API schemathesis" bash Tests/API/schemathesis.sh
    log "benchmark (informational): API start, request latency, memory"
    python3 Benchmarks/api-bench.py -n 20 -r 1000 || log "API benchmark did not run"
else
    log "release build failed"; failed=$((failed + 1))
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
