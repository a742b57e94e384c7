#!/usr/bin/env bash
# Builds kiln-fuzz with libFuzzer and AddressSanitizer (scratch path .build-fuzz) and runs
# each fuzz target for a fixed budget from a corpus seeded by `kiln-fuzz seeds`. A target
# passes when libFuzzer ends cleanly: no crash, trap, sanitizer report, timeout or leak.
# Ends with "N passed, N failed". See Fuzz/README.md.
#
#   Fuzz/run-ci.sh [--budget SECONDS] [--runs N] [TARGET...]
#     --budget  seconds per target (default 10 without --runs: 17 targets in ~3.5 min)
#     --runs    stop each target after N inputs (an extended run), or at --budget if given
#   FUZZ_JOBS_LOG=FILE appends each target's statistics to FILE (for docs/hardening.md).
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
budget=""
runs=""
targets=()
while [ $# -gt 0 ]; do
    case "$1" in
        --budget) budget=$2; shift 2 ;;
        --runs) runs=$2; shift 2 ;;
        -*) echo "run-ci.sh: unknown option $1" >&2; exit 2 ;;
        *) targets+=("$1"); shift ;;
    esac
done

log() { echo "fuzz: $*"; }
scratch=.build-fuzz
binary=$scratch/release/kiln-fuzz
log "swift build -c release --scratch-path $scratch -sanitize=fuzzer,address -DKILN_FUZZ"
# ld.gold cannot link libFuzzer with ASan here (an internal error in its DWARF reader): lld can.
if ! swift build -c release --scratch-path "$scratch" --product kiln-fuzz \
        -Xswiftc -sanitize=fuzzer,address -Xswiftc -DKILN_FUZZ \
        -Xswiftc -Xclang-linker -Xswiftc -fuse-ld=lld 2>&1 | tail -n 5; then
    log "build failed"
    echo "0 passed, 1 failed"
    exit 1
fi
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <("$binary" list | cut -d' ' -f1)

# Crashes must reach libFuzzer (which saves the input), not Swift's backtracer.
export SWIFT_BACKTRACE=enable=no
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"
results=$scratch/fuzz-results
mkdir -p "$results"
# Sockets, a shared tree and layer files of the targets; short enough for a socket path. On a
# tmpfs where there is one: vsock binds a socket file per input, which on ext4 cost a quarter of
# the target's time (inode allocation).
scratch_base=/tmp
[ -d /dev/shm ] && [ -w /dev/shm ] && scratch_base=/dev/shm
export KILN_FUZZ_TMP=$(mktemp -d "$scratch_base/kiln-fuzz.XXXXXX")
trap 'rm -rf "$KILN_FUZZ_TMP"' EXIT
passed=0
failed=0
for target in "${targets[@]}"; do
    corpus=$scratch/corpus/$target
    mkdir -p "$corpus"
    "$binary" seeds "$target" "$corpus"
    limit=()
    [ -n "$runs" ] && limit+=(-runs="$runs")
    [ -n "$budget" ] && limit+=(-max_total_time="$budget")
    [ -z "$runs$budget" ] && limit+=(-max_total_time=10)
    output=$results/$target.log
    rm -f "$results/$target"-crash-* "$results/$target"-timeout-* "$results/$target"-leak-* "$results/$target"-oom-*
    # -timeout: an input taking over 10 s is a hang; -rss_limit_mb: runaway memory fails too.
    nice -n "${FUZZ_NICE:-0}" "$binary" "$target" "${limit[@]}" -timeout=10 -rss_limit_mb=2560 -max_len=8192 \
        -print_final_stats=1 -artifact_prefix="$results/$target-" "$corpus" > "$output" 2>&1
    status=$?
    inputs=$(grep -oE 'stat::number_of_executed_units: [0-9]+' "$output" | grep -oE '[0-9]+$')
    speed=$(grep -oE 'stat::average_exec_per_sec: +[0-9]+' "$output" | grep -oE '[0-9]+$')
    seconds=$(grep -oE 'Done [0-9]+ runs in [0-9]+ second' "$output" | grep -oE '[0-9]+ second' | grep -oE '[0-9]+')
    coverage=$(grep -oE 'cov: [0-9]+' "$output" | tail -n 1 | grep -oE '[0-9]+')
    artifacts=$(ls "$results/$target"-* 2>/dev/null | grep -v '\.log$' || true)
    line="$target: ${inputs:-?} inputs in ${seconds:-?} s (${speed:-?} exec/s), coverage ${coverage:-?} edges, corpus $(ls "$corpus" | wc -l)"
    if [ "$status" -eq 0 ] && [ -z "$artifacts" ] && [ -n "$inputs" ]; then
        passed=$((passed + 1))
        log "PASS $line"
    else
        failed=$((failed + 1))
        log "FAIL $line (exit $status) ${artifacts}"
        grep -E 'ERROR|SUMMARY|Fatal error|precondition|panic|deadly signal|Test unit written' "$output" | head -n 12 | sed 's/^/    | /'
    fi
    [ -n "${FUZZ_JOBS_LOG:-}" ] && echo "$(date -u +%FT%TZ) $line exit=$status" >> "$FUZZ_JOBS_LOG"
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
