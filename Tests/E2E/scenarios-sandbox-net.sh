# Sandbox networking scenario (`kiln run --net`, `kiln create --net`), sourced by scenarios.sh
# after scenarios-sandbox.sh (it uses sx, sx_expect, sandbox_prereqs, proc_alive,
# sandbox_state_dir from there).
#
# sandbox-net: as root, with kiln-jailer (the VMM runs as 65534 and attaches to a TAP kiln made
# for that user): kiln creates kilntap<k> in L1's own network namespace (L1 has no other network:
# nothing leaves the point-to-point link), the guest's eth0 gets the /30's second address with a
# default route via the host's, pings the host, and TCP works both ways (guest -> host listener
# and host -> guest `nc -l`, a python3 peer on the L1 side). Then: the TAP is gone after the run;
# a SIGKILLed `kiln run --net` (and its VMM) leaves its TAP, which `kiln gc` deletes; `kiln create
# --net` + `kiln exec` reach the host too, and `kiln rm` deletes the sandbox's TAP.
ALL_SCENARIOS="$ALL_SCENARIOS sandbox-net"

NETSB_PORT_OUT=5005   # the host's listener, reached from the guest
NETSB_PORT_IN=5006    # the guest's `nc -l`, reached from the host

# The L1 side of the TCP exchange: accepts one connection on 0.0.0.0:$1, reads to EOF, answers
# "host-got:<what it read>", then connects to the peer's port $2 (retrying while the guest's
# nc is not listening yet), sends "host-hello" and reads the answer. One line per step.
netsb_peer_py='
import socket, sys, time
out_port, in_port, limit = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
deadline = time.monotonic() + limit
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("0.0.0.0", out_port)); srv.listen(1); srv.settimeout(limit)
print("PEER listening", flush=True)
conn, (peer, _) = srv.accept()
local = conn.getsockname()[0]
conn.settimeout(20)
data = b""
while True:
    chunk = conn.recv(4096)
    if not chunk: break
    data += chunk
conn.sendall(b"host-got:" + data.strip() + b"\n"); conn.close()
print("PEER accepted local=%s peer=%s got=%s" % (local, peer, data.decode(errors="replace").strip()), flush=True)
while True:
    try:
        c = socket.create_connection((peer, in_port), timeout=5); break
    except OSError as e:
        if time.monotonic() > deadline: print("PEER connect failed: %s" % e, flush=True); sys.exit(1)
        time.sleep(0.2)
c.sendall(b"host-hello\n"); c.shutdown(socket.SHUT_WR); c.settimeout(20)
back = b""
while True:
    chunk = c.recv(4096)
    if not chunk: break
    back += chunk
print("PEER inbound got=%s" % back.decode(errors="replace").strip(), flush=True)
'

# What the guest runs: its eth0 address and default gateway, a ping of the host, then the TCP
# exchange out (to the host) and in (from the host).
netsb_guest_script="
echo \"addr \$(ip addr show eth0 | awk '/inet /{print \$2}')\"
gw=\$(ip route | awk '\$1 == \"default\" {print \$3}')
echo \"gw \$gw\"
if ping -c 2 -W 5 \"\$gw\" >/dev/null 2>&1; then echo ping-ok; else echo ping-failed; fi
echo \"out \$(echo guest-hello | timeout 30 nc \"\$gw\" $NETSB_PORT_OUT)\"
echo \"in \$(echo guest-reply | timeout 30 nc -l -p $NETSB_PORT_IN)\"
"

netsb_taps() { ip -o link show 2>/dev/null | awk -F': ' '$2 ~ /^kilntap[0-9]+(@|$)/ {print $2}' | tr '\n' ' '; }

scenario_sandbox-net() {
    local -x TMPDIR=$E2E_LOCAL_TMP   # kiln run directories (the VMM socket, the jail) on a local fs, not the 9p $RUN/tmp
    sandbox_prereqs || return 0
    [ "$(id -u)" = 0 ] || { fail "needs root (--net creates a TAP)"; return 0; }
    [ -c /dev/net/tun ] || { fail "no /dev/net/tun (tun module not loaded)"; return 0; }
    command -v python3 >/dev/null || { fail "python3 not found (the host side of the TCP exchange)"; return 0; }
    [ -x "$(dirname "$KILN")/kiln-jailer" ] || { fail "no kiln-jailer next to $KILN (swift build -c release --static-swift-stdlib -Xswiftc -static-executable)"; return 0; }
    B_DIR=$RUN/boots/sandbox-net
    rm -rf "$B_DIR"; mkdir -p "$B_DIR"
    local rc=0 peer waited=0 pid vmm tap rundir status name=e2e-net-$$ state_dir svmm before
    SX_FAILED=
    SX_TIMEOUT=$KILN_E2E_L2_TIMEOUT
    before=$(netsb_taps)
    [ -z "$before" ] || note "sandbox-net: TAPs before the scenario: $before"

    # 1. kiln run --net: address, route, ping, TCP both ways; the TAP gone afterwards.
    timeout -k 5 $((2 * KILN_E2E_L2_TIMEOUT)) python3 -c "$netsb_peer_py" "$NETSB_PORT_OUT" "$NETSB_PORT_IN" \
        "$((2 * KILN_E2E_L2_TIMEOUT))" >"$B_DIR/peer.out" 2>"$B_DIR/peer.err" & peer=$!
    while ! grep -q listening "$B_DIR/peer.out" 2>/dev/null && kill -0 "$peer" 2>/dev/null && [ $waited -lt 100 ]; do
        sleep 0.1; waited=$((waited + 1))
    done
    SX_CLIENT=("$KILN" run --net --kernel "$KILN_VMLINUX" --rootfs "$KILN_SANDBOX_ROOTFS")
    sx run 0 -- -- sh -c "$netsb_guest_script"
    wait "$peer" || SX_FAILED="$SX_FAILED peer(exit $?: $(tr '\n' ' ' <"$B_DIR/peer.err" | tail -c 300))"
    local addr gw
    addr=$(sed -n 's/^addr //p' "$B_DIR/run.out")
    gw=$(sed -n 's/^gw //p' "$B_DIR/run.out")
    case $addr in 172.31.*.*/30) ;; *) SX_FAILED="$SX_FAILED address(eth0 '$addr', want 172.31.x.y/30)" ;; esac
    # The gateway is the first address of the guest's /30, the guest the second.
    sx_expect gateway "gateway = guest address - 1" "$gw" \
        "$(echo "${addr%/*}" | awk -F. '{ printf "%d.%d.%d.%d", $1, $2, $3, $4 - 1 }')"
    grep -qx ping-ok "$B_DIR/run.out" || SX_FAILED="$SX_FAILED ping(the guest could not ping $gw)"
    sx_expect tcp-out "guest -> host" "$(sed -n 's/^out //p' "$B_DIR/run.out")" "host-got:guest-hello"
    sx_expect tcp-in "host -> guest" "$(sed -n 's/^in //p' "$B_DIR/run.out")" "host-hello"
    sx_expect peer "host side" "$(sed -n 's/^PEER accepted //p;s/^PEER inbound //p' "$B_DIR/peer.out" | tr '\n' ' ')" \
        "local=$gw peer=${addr%/*} got=guest-hello got=guest-reply "
    sx_expect tap-after-run "TAPs" "$(netsb_taps)" "$before"
    [ -z "$(ls -d "$TMPDIR"/kiln-run.* 2>/dev/null)" ] || SX_FAILED="$SX_FAILED leftovers($(ls -d "$TMPDIR"/kiln-run.* | tr '\n' ' '))"

    # 2. SIGKILL of kiln run --net and its (jailed) VMM leaves the TAP; kiln gc deletes it.
    waited=0
    "$KILN" run --net --kernel "$KILN_VMLINUX" --rootfs "$KILN_SANDBOX_ROOTFS" -- sh -c 'echo ready; sleep 600' \
        </dev/null >"$B_DIR/killed.out" 2>"$B_DIR/killed.err" & pid=$!
    while ! grep -q ready "$B_DIR/killed.out" 2>/dev/null && kill -0 "$pid" 2>/dev/null && [ $waited -lt "$((KILN_E2E_L2_TIMEOUT * 10))" ]; do
        sleep 0.1; waited=$((waited + 1))
    done
    touch "$RUN/progress"
    grep -q ready "$B_DIR/killed.out" || SX_FAILED="$SX_FAILED killed-run(never ready: $(tail -c 200 "$B_DIR/killed.err"))"
    vmm=$(cat /proc/"$pid"/task/*/children 2>/dev/null | tr -s ' ' '\n' | head -n1)
    status=$(grep -E '^(Uid|CapEff):' /proc/"$vmm"/status 2>/dev/null | awk '{ print $2 }' | tr '\n' ' ')
    sx_expect jailed-vmm "uid capeff" "$status" "65534 0000000000000000 "
    rundir=$(ls -d "$TMPDIR"/kiln-run."$pid".* 2>/dev/null)
    # The record is "NAME IFINDEX" (the index guards against a name taken since).
    tap=$(cut -d" " -f1 "$rundir/tap" 2>/dev/null)
    [ -n "$tap" ] && ip link show "$tap" >/dev/null 2>&1 || SX_FAILED="$SX_FAILED killed-run(no TAP recorded in '$rundir': '$tap')"
    ip -d link show "$tap" 2>/dev/null | grep -q 'user nobody' || ip -d link show "$tap" 2>/dev/null | grep -q 'user 65534' ||
        SX_FAILED="$SX_FAILED tap-owner($(ip -d link show "$tap" 2>/dev/null | grep -o 'tun type.*group [^ ]*'))"
    kill -KILL "$pid" "$vmm" 2>/dev/null; wait "$pid" 2>/dev/null
    sleep 0.5
    ip link show "$tap" >/dev/null 2>&1 || SX_FAILED="$SX_FAILED killed-run(TAP $tap gone before kiln gc: the test proves nothing)"
    rc=0; "$KILN" gc >"$B_DIR/gc.out" 2>"$B_DIR/gc.err" || rc=$?
    sx_expect gc "exit, TAPs, run directory" "$rc $(netsb_taps)|$(ls -d "$TMPDIR"/kiln-run.* 2>/dev/null)" "0 $before|"

    # 3. kiln create --net + exec (reaches the host), kiln rm deletes the TAP.
    rc=0
    timeout -k 5 "$KILN_E2E_L2_TIMEOUT" "$KILN" create --net --name "$name" --kernel "$KILN_VMLINUX" --rootfs "$KILN_SANDBOX_ROOTFS" \
        </dev/null >"$B_DIR/create.out" 2>"$B_DIR/create.err" || rc=$?
    touch "$RUN/progress"
    if [ "$rc" = 0 ]; then
        state_dir=$(sandbox_state_dir "$name")
        svmm=$(cut -d' ' -f1 "$state_dir/vmm" 2>/dev/null)
        tap=$(cut -d" " -f1 "$state_dir/tap" 2>/dev/null)
        [ -n "$tap" ] && ip link show "$tap" >/dev/null 2>&1 || SX_FAILED="$SX_FAILED create(no TAP recorded in $state_dir: '$tap')"
        SX_CLIENT=("$KILN" exec "$name")
        sx exec-ping 0 -- -- sh -c 'gw=$(ip route | awk '"'"'$1 == "default" {print $3}'"'"'); ping -c 1 -W 5 "$gw" >/dev/null && echo ping-ok'
        sx_expect exec-ping output "$(cat "$B_DIR/exec-ping.out")" ping-ok
        rc=0; timeout 60 "$KILN" rm "$name" 2>"$B_DIR/rm.err" || rc=$?
        sx_expect rm "exit, TAPs, state" "$rc $(netsb_taps)|$(ls -d "$state_dir" 2>/dev/null)" "0 $before|"
        proc_alive "$svmm" && { SX_FAILED="$SX_FAILED rm(VMM $svmm still running)"; kill -KILL "$svmm"; }
    else
        SX_FAILED="$SX_FAILED create(exit $rc: $(tail -c 300 "$B_DIR/create.err" | tr '\n' ' '))"
    fi
    if [ -n "$SX_FAILED" ]; then fail "kiln run/create --net:$SX_FAILED"; return 0; fi
    pass "--net (jailed VMM as 65534 on a TAP owned by it): eth0 $addr via $gw, ping, TCP guest->host and host->guest; TAP gone after the run; SIGKILLed run's TAP removed by kiln gc; create --net + exec ping, rm removed the TAP"
}
