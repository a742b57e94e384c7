# virtio-net scenarios, sourced by scenarios.sh. The guest's eth0 sits on a TAP in a network
# namespace the scenario creates (a process kept in `unshare -n`, entered with nsenter, so no
# /run/netns is needed on L1's read-only root); the VMM and the host-side peer
# (net-peer.py) run in that namespace.
ALL_SCENARIOS="$ALL_SCENARIOS net"
# netbench: TCP throughput both ways over virtio-net, QEMU microvm (vhost=off) vs kiln.
EXTRA_SCENARIOS="$EXTRA_SCENARIOS netbench"

NET_E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NET_TAP=kilntap0
NET_HOST_IP=172.30.0.1
NET_GUEST_IP=172.30.0.2
NET_MAC=06:00:ac:1e:00:02
NET_NS_PID=

# Creates the namespace with the TAP (host side 172.30.0.1/24). Fails the scenario (returns 1)
# when it cannot.
net_ns_up() {
    local i err
    unshare -n sleep 100000 &
    NET_NS_PID=$!
    for i in $(seq 1 50); do
        [ "$(readlink "/proc/$NET_NS_PID/ns/net" 2>/dev/null)" != "$(readlink /proc/self/ns/net)" ] && break
        sleep 0.05
    done
    if [ "$(readlink "/proc/$NET_NS_PID/ns/net" 2>/dev/null)" = "$(readlink /proc/self/ns/net)" ]; then
        fail "unshare -n did not create a network namespace"; net_ns_down; return 1
    fi
    [ -c /dev/net/tun ] || { fail "no /dev/net/tun (tun module not loaded)"; net_ns_down; return 1; }
    if ! err=$(net_in_ns ip link set lo up 2>&1 && net_in_ns ip tuntap add dev "$NET_TAP" mode tap 2>&1 &&
               net_in_ns ip addr add "$NET_HOST_IP/24" dev "$NET_TAP" 2>&1 &&
               net_in_ns ip link set "$NET_TAP" up 2>&1); then
        fail "cannot set up TAP $NET_TAP in the namespace: $err (apt-get install -y iproute2)"; net_ns_down; return 1
    fi
}
net_in_ns() { nsenter -t "$NET_NS_PID" -n "$@"; }
net_ns_down() {
    [ -n "$NET_NS_PID" ] || return 0
    net_in_ns ip tuntap del dev "$NET_TAP" mode tap 2>/dev/null
    kill "$NET_NS_PID" 2>/dev/null; wait "$NET_NS_PID" 2>/dev/null
    NET_NS_PID=
}

# The guest side: eth0 up with 172.30.0.2/24, then ROUNDS times: announce, receive what the
# host sends into FILE_IN, send FILE_OUT (or COUNT blocks of zeros) to the host's port 5002.
net_guest_setup="ip link set lo up; ip addr add $NET_GUEST_IP/24 dev eth0 && ip link set eth0 up || echo KILN-NET-SETUP=failed"

# net_boot ID GUEST_SCRIPT PEER_ARGS...: boots with a fresh host peer beside each attempt (a
# timed-out boot is retried once, as l2_boot does); sets NET_PEER (the last attempt's log).
net_boot() {
    local id=$1
    net_boot_once "$@"
    if [ "$B_TIMEDOUT" = 1 ]; then
        note "RETRY $id: the L2 boot timed out after ${KILN_E2E_L2_TIMEOUT}s (process group killed); retrying once"
        echo "$id" >>"$RUN/retries"
        shift
        net_boot_once "$id.retry" "$@"
    fi
}
net_boot_once() {
    local id=$1 script=$2 peer; shift 2
    NET_PEER=$RUN/boots/$id.peer
    # nsenter -n execs python itself, so $! is the peer and killing it frees its port.
    nsenter -t "$NET_NS_PID" -n python3 "$NET_E2E_DIR/net-peer.py" --console "$RUN/boots/$id/console" \
        --guest "$NET_GUEST_IP" --timeout "$KILN_E2E_L2_TIMEOUT" "$@" >"$NET_PEER" 2>&1 &
    peer=$!
    L2_NETS=("$NET_TAP,mac=$NET_MAC"); L2_PREFIX=(nsenter -t "$NET_NS_PID" -n)
    l2_boot_once "$id" "$KILN_VMLINUX" 1 128 "$BASE_CMDLINE kiln.end=poweroff kiln.exec=$(guest_script "$script")"
    L2_NETS=(); L2_PREFIX=()
    kill "$peer" 2>/dev/null; wait "$peer" 2>/dev/null
}
peer_value() { sed -n "s/^NETPEER $1 .*$2=\([^ ]*\).*/\1/p" "$NET_PEER" | head -1; }

scenario_net() {
    net_ns_up || return 0
    local bytes=$((4 << 20)) script in out sent rc
    script="$net_guest_setup
echo \"KILN-NET-MAC=\$(cat /sys/class/net/eth0/address)\"
if ping -c 3 -W 3 $NET_HOST_IP >/tmp/ping 2>&1; then echo KILN-NET-PING=ok; else echo \"KILN-NET-PING=failed \$(tail -1 /tmp/ping)\"; fi
dd if=/dev/urandom of=/tmp/out bs=64k count=$((bytes / 65536)) 2>/dev/null
echo \"KILN-NET-OUT=\$(sha256sum </tmp/out | cut -d' ' -f1)\"
echo KILN-NET-LISTEN 1
nc -l -p 5001 >/tmp/in
echo \"KILN-NET-IN=\$(sha256sum </tmp/in | cut -d' ' -f1)\"
nc $NET_HOST_IP 5002 </tmp/out; echo \"KILN-NET-SENT rc=\$?\""
    net_boot net "$script" --bytes "$bytes" --random --ping
    net_ns_down
    expect_ready || return 0
    console_has "KILN-NET-MAC=$NET_MAC" ||
        { fail "guest eth0 MAC is '$(console_value KILN-NET-MAC)', want $NET_MAC"; return 0; }
    console_has 'KILN-NET-PING=ok' || { fail "guest -> host ping: $(grep -m1 -o 'KILN-NET-PING=.*' "$B_DIR/console")"; return 0; }
    grep -q '^NETPEER ping rc=0' "$NET_PEER" ||
        { fail "host -> guest ping: $(grep -m1 -E '^NETPEER (ping|error)' "$NET_PEER" || tail -1 "$NET_PEER")"; return 0; }
    in=$(console_value KILN-NET-IN)
    [ -n "$in" ] && [ "$in" = "$(peer_value payload sha256)" ] ||
        { fail "host -> guest TCP: guest got sha256 '$in', host sent $(peer_value payload sha256) ($(grep -m1 -E '^NETPEER (send|error)' "$NET_PEER"))"; return 0; }
    out=$(console_value KILN-NET-OUT)
    [ -n "$out" ] && [ "$out" = "$(peer_value recv sha256)" ] && [ "$(peer_value recv bytes)" = "$bytes" ] ||
        { fail "guest -> host TCP: host got sha256 '$(peer_value recv sha256)' ($(peer_value recv bytes) bytes), guest sent $out"; return 0; }
    console_has 'KILN-NET-SENT rc=0' || { fail "the guest's nc to the host failed"; return 0; }
    [ "$B_RC" = 0 ] || { fail "guest poweroff -f: VMM exit code $B_RC, want 0"; return 0; }
    pass "ping both ways; 4 MiB TCP each way, sha256 match (host->guest $(peer_value send mbps) MB/s, guest->host $(peer_value recv mbps) MB/s): $(boot_summary)"
}

# --- TCP throughput benchmark --------------------------------------------------------------------
# KILN_NETBENCH_RUNS (3) boots of each VMM in KILN_BENCH_VMMS ("qemu kiln"), interleaved, after one
# discarded warm-up boot each; every boot runs KILN_NETBENCH_ROUNDS (2) rounds of
# KILN_NETBENCH_MIB (32) MiB host->guest (net-peer.py to `vsock-tool tcp-sink`, timed on the
# host from connect until the guest closes) then guest->host (`vsock-tool tcp-source`, 256 KiB
# writes, timed on the host from accept to EOF). Until 2026-12-03 the guest ends were busybox nc,
# whose small writes held guest->host to ~0.3 MB/s for both VMMs (Nagle + delayed ACKs), which
# measured the tool, not the device. MB/s = 10^6 bytes/s; medians over all rounds of all boots.
scenario_netbench() {
    local runs=${KILN_NETBENCH_RUNS:-3} rounds=${KILN_NETBENCH_ROUNDS:-2} mib=${KILN_NETBENCH_MIB:-32}
    local vmms=${KILN_BENCH_VMMS:-qemu kiln} vmm i why bad= script line dir
    local saved=$KILN_E2E_VMM saved_timeout=$KILN_E2E_L2_TIMEOUT
    KILN_E2E_L2_TIMEOUT=${KILN_NETBENCH_TIMEOUT:-$(( KILN_E2E_L2_TIMEOUT > 150 ? KILN_E2E_L2_TIMEOUT : 150 ))}
    net_ns_up || { KILN_E2E_L2_TIMEOUT=$saved_timeout; return 0; }
    netbench_script() {   # ROUNDS
        echo "$net_guest_setup
for i in \$(seq 1 $1); do echo KILN-NET-LISTEN \$i; vsock-tool tcp-sink 5001 >/dev/null
vsock-tool tcp-source $NET_HOST_IP 5002 $((mib << 20)) >/dev/null || echo KILN-NETBENCH-SOURCE-FAILED; done"
    }
    note "netbench: $runs boots x $rounds rounds each of [$vmms], $mib MiB each way over TCP, virtio-net on a TAP"
    for vmm in $vmms; do
        KILN_E2E_VMM=$vmm
        why=$(vmm_unavailable)
        if [ -n "$why" ]; then note "netbench: $vmm cannot run: $why"; bad="$bad $vmm(cannot run: $why)"; fi
        : >"$RUN/netbench-$vmm.send"; : >"$RUN/netbench-$vmm.recv"
    done
    for vmm in $vmms; do
        KILN_E2E_VMM=$vmm
        [ -z "$(vmm_unavailable)" ] || continue
        net_boot "netbench-$vmm-warmup" "$(netbench_script 1)" --bytes $((mib << 20)) --rounds 1
        note "netbench: $vmm warm-up (not counted): host->guest $(peer_value send mbps) MB/s, guest->host $(peer_value recv mbps) MB/s"
    done
    for i in $(seq 1 "$runs"); do
        for vmm in $vmms; do
            KILN_E2E_VMM=$vmm
            [ -z "$(vmm_unavailable)" ] || continue
            net_boot "netbench-$vmm-$i" "$(netbench_script "$rounds")" --bytes $((mib << 20)) --rounds "$rounds"
            if [ -z "$B_READY" ] || ! grep -q '^NETPEER done' "$NET_PEER" || console_has KILN-NETBENCH-SOURCE-FAILED; then
                note "netbench: $vmm boot $i: FAILED ($(boot_summary); $(grep -m1 '^NETPEER error' "$NET_PEER")$(console_has KILN-NETBENCH-SOURCE-FAILED && echo "; the guest's tcp-source failed"))"
                bad="$bad $vmm-boot-$i"; continue
            fi
            local sends recvs
            sends=$(sed -n 's/^NETPEER send .*mbps=\([0-9.]*\).*/\1/p' "$NET_PEER")
            recvs=$(sed -n 's/^NETPEER recv .*mbps=\([0-9.]*\).*/\1/p' "$NET_PEER")
            [ -z "$sends" ] || echo "$sends" >>"$RUN/netbench-$vmm.send"
            [ -z "$recvs" ] || echo "$recvs" >>"$RUN/netbench-$vmm.recv"
            note "netbench: $vmm boot $i MB/s: host->guest $(echo $sends) guest->host $(echo $recvs)"
        done
    done
    net_ns_down
    KILN_E2E_VMM=$saved KILN_E2E_L2_TIMEOUT=$saved_timeout
    local summary="" s r qs= qr=
    for vmm in $vmms; do
        s=$(median <"$RUN/netbench-$vmm.send" | awk 'NF { printf "%.1f", $1 }')
        r=$(median <"$RUN/netbench-$vmm.recv" | awk 'NF { printf "%.1f", $1 }')
        [ -n "$s$r" ] || continue
        summary="$summary $vmm: host->guest ${s:-?} MB/s, guest->host ${r:-?} MB/s (medians of $(wc -l <"$RUN/netbench-$vmm.send")/$(wc -l <"$RUN/netbench-$vmm.recv"));"
        [ "$vmm" = qemu ] && { qs=$s; qr=$r; }
        [ "$vmm" = kiln ] && [ -n "$qs" ] && [ -n "$s" ] && [ -n "$r" ] && [ -n "$qr" ] &&
            summary="$summary ratio kiln/qemu host->guest $(awk -v a="$s" -v b="$qs" 'BEGIN { printf "%.2f", a / b }'), guest->host $(awk -v a="$r" -v b="$qr" 'BEGIN { printf "%.2f", a / b }');"
    done
    note "netbench:$summary"
    if [ -n "$bad" ]; then fail "benchmark incomplete:$bad;$summary"; else pass "${summary# }"; fi
}
