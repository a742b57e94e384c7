#!/usr/bin/env bash
# Fuzzes kiln's API with schemathesis (PyPI; scripts/install-deps.sh installs it) against the
# endpoints of Firecracker's schema (../shared/firecracker-api.yaml) that kiln implements.
# schemathesis speaks TCP only, so Tests/API/uds_forward.py relays 127.0.0.1:PORT to the API's
# Unix socket. Three runs, each against a fresh `kiln --api-sock` (seccomp on):
#   pre-boot   every implemented operation but PUT /actions
#   actions    PUT /actions alone on an unconfigured kiln (InstanceStart cannot start a VM:
#              there is no boot source; fuzzing it after other endpoints could boot one)
#   post-boot  every implemented operation but PUT /actions, with idle.elf running
#              (SendCtrlAltDel would end it)
# Checks on every response: not_a_server_error (no 5xx) and fault_message_on_4xx
# (Tests/API/schemathesis_hooks.py); after each run kiln must still be alive and answer GET /.
# Environment: KILN (binary), FC_API_SPEC (schema), ST_MAX_EXAMPLES (default 150 per operation, ~1 min in all),
# ST_SEED (default 7: the same cases every run; set another to explore).
# Ends with "N passed, N failed"; exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
passed=0
failed=0
result() { # name ok(0|1) [detail]
    if [ "$2" -eq 0 ]; then passed=$((passed + 1)); echo "PASS $1"
    else failed=$((failed + 1)); echo "FAIL $1${3:+: $3}"; fi
}
finish() { echo "$passed passed, $failed failed"; [ "$failed" -eq 0 ]; exit $?; }

spec=""
for candidate in "${FC_API_SPEC:-}" ../shared/firecracker-api.yaml /work/shared/firecracker-api.yaml; do
    if [ -n "$candidate" ] && [ -f "$candidate" ]; then spec=$(realpath "$candidate"); break; fi
done
[ -n "$spec" ] || { result "Firecracker schema found (../shared/firecracker-api.yaml)" 1; finish; }
if ! st_version=$(python3 -c 'import schemathesis; print(schemathesis.__version__)' 2>/dev/null); then
    result "schemathesis installed (bash scripts/install-deps.sh)" 1 "python3 cannot import schemathesis"; finish
fi
kiln=${KILN:-}
for candidate in "$kiln" .build/release/kiln .build/debug/kiln; do
    if [ -n "$candidate" ] && [ -x "$candidate" ]; then kiln=$(realpath "$candidate"); break; fi
done
[ -x "$kiln" ] || { result "kiln built" 1 "swift build first (or set KILN)"; finish; }
idle="$repo/Tests/Guests/build/idle.elf"
[ -f "$idle" ] || { result "idle.elf built" 1 "make -C Tests/Guests"; finish; }
echo "schemathesis $st_version, schema $spec, kiln $kiln"

work=$(mktemp -d /tmp/kiln-schemathesis.XXXXXX)
kiln_pid=""
forward_pid=""
cleanup() {
    [ -n "$forward_pid" ] && kill "$forward_pid" 2>/dev/null && wait "$forward_pid" 2>/dev/null
    [ -n "$kiln_pid" ] && kill -9 "$kiln_pid" 2>/dev/null && wait "$kiln_pid" 2>/dev/null
    forward_pid=""; kiln_pid=""
}
trap 'cleanup; [ -n "${ST_KEEP:-}" ] || rm -rf "$work"' EXIT

api() { # METHOD PATH [BODY] -> prints the HTTP status
    curl -s -o /dev/null -w '%{http_code}' --max-time 5 --unix-socket "$sock" -X "$1" \
        ${3:+-H 'Content-Type: application/json' -d "$3"} "http://localhost$2"
}

# The implemented operations of the schema (everything else there, e.g. balloon, is not).
implemented='^/(|actions|boot-source|drives/\{drive_id\}|entropy|logger|machine-config|metrics|network-interfaces/\{iface_id\}|snapshot/create|snapshot/load|version|vm|vm/config|vsock)$'

run() { # NAME BOOT(0|1) schemathesis-filter-args...
    local name=$1 boot=$2; shift 2
    local dir="$work/$name"
    mkdir -p "$dir"
    sock="$dir/api.sock"
    # kiln's working directory is the run's directory: relative fuzzed log/metrics paths land there.
    (cd "$dir" && exec "$kiln" --api-sock "$sock" --id "st_$name") </dev/null >"$dir/kiln.out" 2>"$dir/kiln.err" &
    kiln_pid=$!
    for _ in $(seq 200); do [ -S "$sock" ] && [ "$(api GET /)" = 200 ] && break; sleep 0.05; done
    if [ "$(api GET /)" != 200 ]; then
        result "$name: kiln serves its API" 1 "$(tail -n 3 "$dir/kiln.err")"; cleanup; return
    fi
    if [ "$boot" -eq 1 ]; then
        local s1 s2
        s1=$(api PUT /boot-source "{\"kernel_image_path\": \"$idle\"}")
        s2=$(api PUT /actions '{"action_type": "InstanceStart"}')
        if [ "$s1$s2" != 204204 ]; then
            result "$name: idle.elf started" 1 "boot-source $s1, InstanceStart $s2"; cleanup; return
        fi
    fi
    python3 "$repo/Tests/API/uds_forward.py" "$sock" >"$dir/port" &
    forward_pid=$!
    for _ in $(seq 100); do [ -s "$dir/port" ] && break; sleep 0.05; done
    local port
    port=$(head -n 1 "$dir/port")
    echo "--- schemathesis run '$name' (kiln pid $kiln_pid, 127.0.0.1:$port -> $sock)"
    local started=$SECONDS
    # From the run's directory: schemathesis keeps a cache (.schemathesis/) in its working directory.
    (cd "$dir" && KILN_ST_STATUSES="$dir/statuses" SCHEMATHESIS_HOOKS="$repo/Tests/API/schemathesis_hooks.py" \
        exec python3 -m schemathesis.cli run "$spec" --url "http://127.0.0.1:$port" "$@" \
        --checks not_a_server_error,fault_message_on_4xx \
        --phases examples,coverage,fuzzing --mode all \
        --max-examples "${ST_MAX_EXAMPLES:-150}" --seed "${ST_SEED:-7}" --workers 1 \
        --request-timeout 10 --generation-database none --no-color --output-truncate true \
        >"$dir/st.log" 2>&1)
    local st_status=$?
    local statuses
    statuses=$(sort "$dir/statuses" 2>/dev/null | uniq -c | awk '{printf "%s x%s, ", $2, $1}')
    grep -E '^ *(Tested:|[0-9]+ generated|Seed:)' "$dir/st.log" | sed 's/^ */    /'
    result "$name: schemathesis: no 5xx, every 4xx has a fault_message ($((SECONDS - started)) s; statuses ${statuses%, })" \
        "$st_status" "st exit $st_status; log:
$(grep -vE '^\s*$' "$dir/st.log" | tail -n 40)"
    local alive=1 detail=""
    if kill -0 "$kiln_pid" 2>/dev/null && [ "$(api GET /)" = 200 ]; then alive=0
    else detail="kiln gone or not answering; stderr: $(tail -n 5 "$dir/kiln.err")"; fi
    result "$name: kiln alive and answering GET / afterwards" "$alive" "$detail"
    cleanup
}

run pre-boot 0 --include-path-regex "$implemented" --exclude-path /actions
run actions 0 --include-path /actions
run post-boot 1 --include-path-regex "$implemented" --exclude-path /actions
finish
