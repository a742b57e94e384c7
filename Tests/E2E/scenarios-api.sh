# The Firecracker-compatible API with a real Linux guest (kiln only): configure over the API
# socket with curl, InstanceStart, pause (the guest's ticks stop), resume (they go on),
# FlushMetrics, every thread confined (Seccomp: 2), and the guest's own reboot ends kiln.

api() {   # api METHOD PATH [JSON] -> prints "STATUS BODY"
    local body=()
    [ -n "${3:-}" ] && body=(-d "$3")
    curl -s --max-time 10 --unix-socket "$API_SOCK" -o "$B_DIR/api-body" -w '%{http_code}' -X "$1" \
        "http://localhost$2" ${body[@]+"${body[@]}"}
    printf ' %s\n' "$(cat "$B_DIR/api-body" 2>/dev/null)"
}

api_expect() {   # api_expect STATUS METHOD PATH [JSON]; fails the scenario on another status
    local got
    got=$(api "$2" "$3" "${4:-}")
    echo "$2 $3 -> $got" >>"$B_DIR/api.log"
    [ "${got%% *}" = "$1" ] || { fail "$2 $3: expected $1, got '$got'"; return 1; }
}

ticks() { touch "$RUN/progress"; grep -c 'KILN-TICK' "$B_DIR/console" 2>/dev/null || true; }

scenario_api-lifecycle() {
    if [ "$KILN_E2E_VMM" != kiln ]; then fail "api-lifecycle drives kiln's API; run it with --vmm kiln"; return 0; fi
    command -v curl >/dev/null || { fail "curl not found (apt-get install -y curl)"; return 0; }
    B_DIR=$RUN/boots/api-lifecycle
    rm -rf "$B_DIR"; mkdir -p "$B_DIR"
    API_SOCK=$SCRATCH/kiln-api.$$.sock
    rm -f "$API_SOCK"
    local script args pid n1 n2 n3 rc i metrics=$SCRATCH/kiln-api.$$.metrics
    script='i=0; while [ $i -lt 30 ]; do i=$((i+1)); echo KILN-TICK $i; sleep 0.25; done'
    args="$BASE_CMDLINE kiln.end=reboot kiln.exec=$(guest_script "$script")"
    rm -f "$metrics"
    # Twice the boot timeout: the API steps and the 2 s pause come on top of a boot.
    timeout -k 5 "$((KILN_E2E_L2_TIMEOUT * 2))" "$KILN" --api-sock "$API_SOCK" --id e2e-api </dev/null \
        >"$B_DIR/console" 2>"$B_DIR/stderr" &
    pid=$!
    echo "$KILN --api-sock $API_SOCK --id e2e-api" >"$B_DIR/command"
    for i in $(seq 50); do [ -S "$API_SOCK" ] && break; sleep 0.1; done
    api_expect 200 GET / || { kill "$pid"; return 0; }
    api_expect 204 PUT /machine-config '{"vcpu_count": 2, "mem_size_mib": 128}' || { kill "$pid"; return 0; }
    api_expect 204 PUT /boot-source "{\"kernel_image_path\": \"$KILN_VMLINUX\", \"initrd_path\": \"$KILN_INITRAMFS\", \"boot_args\": \"$args\"}" || { kill "$pid"; return 0; }
    api_expect 204 PUT /metrics "{\"metrics_path\": \"$metrics\"}" || { kill "$pid"; return 0; }
    api_expect 400 PUT /machine-config '{"vcpu_count": 0, "mem_size_mib": 128}' || { kill "$pid"; return 0; }
    api_expect 204 PUT /actions '{"action_type": "InstanceStart"}' || { kill "$pid"; return 0; }
    api_expect 400 PUT /actions '{"action_type": "InstanceStart"}' || { kill "$pid"; return 0; }
    for i in $(seq 600); do [ "$(ticks)" -ge 3 ] && break; kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    [ "$(ticks)" -ge 3 ] || { fail "the guest never ticked after InstanceStart"; kill "$pid"; return 0; }
    # Every kiln thread of the running VM is confined.
    local unconfined
    unconfined=$(for t in /proc/$pid/task/*; do
        name=$(cat "$t/comm"); case $name in kiln*) ;; *) continue ;; esac
        grep -q '^Seccomp:[[:space:]]*2' "$t/status" || echo "$name"; done)
    [ -z "$unconfined" ] || { fail "threads without a seccomp filter: $unconfined"; kill "$pid"; return 0; }
    api_expect 204 PATCH /vm '{"state": "Paused"}' || { kill "$pid"; return 0; }
    n1=$(ticks); sleep 2; n2=$(ticks)
    [ "$(api GET / | grep -c '"state":"Paused"')" = 1 ] || { fail "GET / does not say Paused"; kill "$pid"; return 0; }
    api_expect 204 PATCH /vm '{"state": "Resumed"}' || { kill "$pid"; return 0; }
    # The guest goes on after Resumed (waits up to 30 s for a busy L1).
    for i in $(seq 300); do [ "$(ticks)" -gt "$n2" ] && break; sleep 0.1; done
    n3=$(ticks)
    api_expect 204 PUT /actions '{"action_type": "FlushMetrics"}' || { kill "$pid"; return 0; }
    wait "$pid"; rc=$?
    echo "$rc" >"$B_DIR/rc"
    [ "$n1" = "$n2" ] || { fail "the guest ticked while paused ($n1 -> $n2 in 2 s)"; return 0; }
    [ "$n3" -gt "$n2" ] || { fail "the guest did not go on after Resumed ($n2 -> $n3)"; return 0; }
    [ "$rc" = 0 ] || { fail "kiln exited $rc after the guest's reboot"; return 0; }
    [ "$(ticks)" = 30 ] || { fail "the guest printed $(ticks) of 30 ticks"; return 0; }
    grep -q '"exit_io_out"' "$metrics" && grep -q '"put_requests"' "$metrics" ||
        { fail "no metrics line with vCPU exits and API counts in $metrics"; return 0; }
    rm -f "$API_SOCK" "$metrics"
    pass "configured and started over the API, all threads Seccomp 2, paused (ticks $n1 -> $n2 in 2 s), resumed (-> $n3), metrics flushed, exit 0 on the guest's reboot"
}
