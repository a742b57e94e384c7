#!/usr/bin/env bash
# oci-bench: the cost of running a container through podman with kiln-oci, against podman with
# runc and against `kiln run --image` of the same image (issue 18's first target: podman+kiln
# within 1.15x of kiln run). One discarded warm-up of each, then ROUNDS interleaved rounds of
#   podman --runtime kiln run --rm IMG true
#   podman --runtime runc run --rm IMG true
#   kiln run --kernel K --image ID -- true      (the same OCI archive pulled into kiln's store)
# each timed from start to exit in this process (EPOCHREALTIME). Prints one `time WHAT MS` line
# per run and a `summary` line with the medians and ratios; exit 1 if a run failed.
# usage: bench.sh KILN KILN_OCI IMAGE_TAR WORK ROUNDS [PROFILES]   (under `unshare -m`;
# KILN_VMLINUX, KILN_AGENT_INITRD in the environment; PROFILES: profile rounds, default 1)
set -u
kiln=$1 oci=$2 archive=$3 work=$4 rounds=$5 profiles=${6:-1}
# shellcheck source=checks.sh
. "$(dirname "${BASH_SOURCE[0]}")/checks.sh"
default_runtime=kiln
# shellcheck source=podman-setup.sh
. "$(dirname "${BASH_SOURCE[0]}")/podman-setup.sh"
podman load -q -i "$archive" >/dev/null 2>"$work/load.err" || { echo "FAIL podman load: $(tail -n 2 "$work/load.err")"; exit 1; }
img=localhost/kiln-e2e:latest
export KILN_IMAGE_STORE=$work/kiln-images
# Pulled once (the archive reference then resolves to the stored image, as in images-run).
"$kiln" pull "oci-archive:$archive" >/dev/null 2>"$work/pull.err" ||
    { echo "FAIL kiln pull: $(tail -n 2 "$work/pull.err")"; exit 1; }
# runc's container runs as the image's user 1000 in /work: `true` needs neither.
declare -A cmd=(
    [podman-kiln]="podman --runtime kiln run --rm $img true"
    [podman-runc]="podman --runtime runc run --rm $img true"
    [kiln-run]="$kiln run --kernel $KILN_VMLINUX --agent-initrd $KILN_AGENT_INITRD --image oci-archive:$archive -- true"
)
order=(podman-kiln podman-runc kiln-run)
failed=0
timed() {   # timed WHAT: runs cmd[WHAT], prints `time WHAT MS`
    local t0=$EPOCHREALTIME rc=0
    timeout -k 5 240 ${cmd[$1]} </dev/null >/dev/null 2>"$work/$1.err" || rc=$?
    touch "${KILN_E2E_PROGRESS:-/dev/null}" 2>/dev/null
    if [ "$rc" != 0 ]; then echo "FAIL $1 exit $rc: $(tail -n 2 "$work/$1.err" | tr '\n' ' ')"; failed=1; return; fi
    awk -v a="$t0" -v b="$EPOCHREALTIME" -v w="$1" 'BEGIN { printf "time %s %.1f\n", w, (b - a) * 1000 }'
}
for w in "${order[@]}"; do timed "$w" >/dev/null; done   # warm-up: page cache, storage, kiln's image
for i in $(seq 1 "$rounds"); do
    for w in "${order[@]}"; do timed "$w"; done
done | tee "$work/times"
# Where the time goes, one untimed round after the timed ones: each runtime runs behind a
# wrapper that logs when every call podman (conmon) makes starts and ends (kiln-oci with
# --debug: its log records when the VMM starts and when the agent answers, and the relay's when
# each agent session begins and ends: the file binds' copies and the exec), and kiln run with
# --report-timing. Printed as `profile ...` lines; what the runtime calls leave is podman's and
# conmon's own work.
profile() {
    local rt t0 t1 f real debug
    for rt in kiln runc; do
        f=$work/profile-$rt.log real=$oci debug=1
        [ "$rt" = runc ] && real=$(command -v runc) debug=
        : >"$f"
        { echo '#!/bin/bash'
          printf 'real=%q log=%q debug=%q\n' "$real" "$f" "$debug"
          cat <<'EOF'
t0=$EPOCHREALTIME
# kiln-oci's debug records (create's and its relay's, which inherits the log) go to a log of the
# profile's own, in JSON: podman 4.3 (conmon) passes the runtime no --log at all.
args=()
if [ -n "$debug" ]; then
    args+=(--debug --log "$log.runtime" --log-format json)
    while [ $# -gt 0 ]; do
        case $1 in
            --log|--log-format) shift ;;
            --log=*|--log-format=*) ;;
            *) args+=("$1") ;;
        esac
        shift
    done
else
    args=("$@")
fi
"$real" "${args[@]}"
rc=$?
echo "call $t0 $EPOCHREALTIME rc=$rc ${args[*]}" >>"$log"
exit $rc
EOF
        } >"$work/wrap-$rt"
        chmod +x "$work/wrap-$rt"
        t0=$EPOCHREALTIME
        timeout -k 5 240 podman --runtime "$work/wrap-$rt" run --rm "$img" true </dev/null >/dev/null 2>"$work/profile-$rt.err" ||
            echo "profile $rt: podman with the wrapper failed: $(tail -n 2 "$work/profile-$rt.err" | tr '\n' ' ')"
        t1=$EPOCHREALTIME
        awk -v a="$t0" -v b="$t1" -v rt="$rt" '
            $1 == "call" {
                c = "other"; for (i = 5; i <= NF; i++) if ($i ~ /^(create|start|state|kill|delete)$/) { c = $i; break }
                d = ($3 - $2) * 1000; sum += d
                args = ""; for (i = 5; i <= NF; i++) args = args " " $i
                printf "profile %s: %s at +%.0f ms took %.0f ms (%s;%s)\n", rt, c, ($2 - a) * 1000, d, $4, substr(args, 1, 300); next }
            END { printf "profile %s: total %.0f ms, runtime calls %.0f ms, podman+conmon outside them %.0f ms\n", rt, (b - a) * 1000, sum, (b - a) * 1000 - sum }' "$f"
        # The debug records, each with its time as seconds since the epoch (podman's calls above
        # are on the same clock) and as ms after podman started.
        [ -f "$f.runtime" ] && python3 - "$f.runtime" "$t0" "$rt" <<'PY'
import datetime, json, sys
path, start, rt = sys.argv[1], float(sys.argv[2]), sys.argv[3]
for line in open(path):
    try:
        record = json.loads(line)
        whole, _, fraction = record["time"].rstrip("Z").partition(".")
        when = datetime.datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc).timestamp()
        when += float("0." + (fraction or "0"))
    except (ValueError, KeyError):
        print(f"profile {rt}: log {line.rstrip()}")
        continue
    print(f"profile {rt}: log at +{(when - start) * 1000:.0f} ms {record.get('level')}: {record.get('msg')}")
PY
        rm -f "$f.runtime"
    done
    "$kiln" run --kernel "$KILN_VMLINUX" --agent-initrd "$KILN_AGENT_INITRD" --image "oci-archive:$archive" --report-timing -- true \
        </dev/null >/dev/null 2>"$work/profile-kiln-run.err"
    grep 'timing:' "$work/profile-kiln-run.err" | sed 's/^/profile kiln run: /'
}
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
pk=$(awk '$1 == "time" && $2 == "podman-kiln" { print $3 }' "$work/times" | median)
pr=$(awk '$1 == "time" && $2 == "podman-runc" { print $3 }' "$work/times" | median)
kr=$(awk '$1 == "time" && $2 == "kiln-run" { print $3 }' "$work/times" | median)
grep -q '^FAIL' "$work/times" && failed=1
for _ in $(seq 1 "$profiles"); do profile; done
echo "summary medians of $rounds rounds: podman+kiln-oci ${pk} ms, podman+runc ${pr} ms, kiln run --image ${kr} ms; podman+kiln / kiln run $(awk -v a="$pk" -v b="$kr" 'BEGIN { printf "%.2f", a / b }'), podman+kiln / podman+runc $(awk -v a="$pk" -v b="$pr" 'BEGIN { printf "%.2f", a / b }')"
kill $keeper 2>/dev/null
[ "$failed" = 0 ] || save_consoles
exit $failed
