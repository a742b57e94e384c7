#!/usr/bin/env bash
# oci-network: the engine's network handed to the guest. Two network namespaces stand in for
# what CNI's bridge plugin (or netavark) makes: the "container" one holds veth eth0 with an
# address, a MAC and a default route, its peer sits in the "bridge" one with the gateway
# address and an HTTP server. A runc-spec bundle whose network namespace path is the container
# one runs through kiln-oci create/start: the guest must have eth0's address and MAC, reach the
# gateway's server, and after delete no kiln TAP or redirect is left in the namespace. Then
# creates SIGKILLed at four points (the TAP claimed, the TAP made, the VMM started, the relay
# started) each leave what is counted, and delete --force or `kiln gc` leave nothing.
#
# usage: network.sh KILN_OCI ROOTFS WORK     (KILN_VMLINUX, KILN_AGENT_INITRD in the environment)
# Prints `ok NAME` per check, `FAIL NAME: why` for a failed one; exit 1 if any failed.
set -u
oci=$1 rootfs=$2 work=$3
mkdir -p "$work"
# shellcheck source=checks.sh
. "$(dirname "${BASH_SOURCE[0]}")/checks.sh"
gateway=10.213.0.1 address=10.213.0.7 prefix=16 mac=4a:9c:0b:11:22:33

namespace() {   # a process kept in its own network namespace; its pid on stdout
    unshare -n sleep 100000 >/dev/null 2>&1 &
    local pid=$!
    for _ in $(seq 50); do
        [ "$(readlink "/proc/$pid/ns/net" 2>/dev/null)" != "$(readlink /proc/self/ns/net)" ] && break
        sleep 0.05
    done
    echo "$pid"
}
container=$(namespace) bridge=$(namespace)
trap 'kill $container $bridge $server $keeper 2>/dev/null' EXIT
in_container() { nsenter -t "$container" -n "$@"; }
in_bridge() { nsenter -t "$bridge" -n "$@"; }
if err=$(in_bridge ip link add veth-gw type veth peer name eth0 netns "/proc/$container/ns/net" 2>&1 &&
         in_bridge ip link set lo up && in_bridge ip addr add "$gateway/$prefix" dev veth-gw 2>&1 &&
         in_bridge ip link set veth-gw up 2>&1 &&
         in_container ip link set lo up && in_container ip link set eth0 address "$mac" 2>&1 &&
         in_container ip addr add "$address/$prefix" dev eth0 2>&1 && in_container ip link set eth0 up 2>&1 &&
         in_container ip route add default via "$gateway" 2>&1); then
    ok engine-network
else
    bad engine-network "cannot make the veth pair (veth module, iproute2): $err"; exit 1
fi
token=kiln-net-$RANDOM$RANDOM
mkdir -p "$work/www" && echo "$token" >"$work/www/token"
in_bridge python3 -m http.server --bind "$gateway" --directory "$work/www" 8088 >"$work/http.log" 2>&1 &
server=$!

bundle=$work/bundle
mkdir -p "$bundle"
runc spec --bundle "$bundle"
python3 - "$bundle/config.json" "$rootfs" "/proc/$container/ns/net" "$gateway" <<'PY'
import json, sys
path, rootfs, netns, gateway = sys.argv[1:5]
config = json.load(open(path))
config["root"] = {"path": rootfs, "readonly": True}
config["process"]["terminal"] = False
config["process"]["env"] = ["PATH=/bin:/sbin:/usr/bin:/usr/sbin"]
config["process"]["args"] = ["sh", "-c",
    "ip addr show dev eth0 | awk '$1 == \"inet\" {print $2}'; cat /sys/class/net/eth0/address; "
    f"timeout 20 wget -q -O - http://{gateway}:8088/token || {{ echo wget-failed; ip route; cat /proc/net/arp; cat /proc/net/dev; }}"]
namespaces = [n for n in config["linux"]["namespaces"] if n["type"] != "network"]
config["linux"]["namespaces"] = namespaces + [{"type": "network", "path": netns}]
json.dump(config, open(path, "w"))
PY
state=$work/state
k() { timeout -k 5 180 "$oci" --root "$state" --log "$work/runtime.log" "$@"; }
k create --bundle "$bundle" --pid-file "$work/pid" c-net </dev/null >"$work/out" 2>"$work/create.err" &&
    ok create || { bad create "$(tail -n 3 "$work/create.err")"; exit 1; }
in_container ip -o link show | grep -q kilntap && ok tap-in-namespace || bad tap-in-namespace "$(in_container ip -o link show)"
k start c-net 2>"$work/start.err" && ok start || bad start "$(cat "$work/start.err")"
for _ in $(seq 120); do
    [ "$(k state c-net 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')" = stopped ] && break
    sleep 0.5
done
expect guest-address-mac-fetch "$address/$prefix
$mac
$token" "$(cat "$work/out")"
if [ "$failed" != 0 ]; then   # where the frames went: the redirect counters and both ends' statistics
    { echo "--- guest side"; cat "$work/out"; echo "--- container namespace"; in_container tc -s filter show dev eth0 ingress
      in_container sh -c 'for l in $(ls /sys/class/net); do tc -s filter show dev $l ingress; done'; in_container ip -s link show
      echo "--- bridge namespace"; in_bridge ip -s link show; in_bridge ip neigh show; } >"$work/diagnostics.err" 2>&1
fi
k delete c-net 2>"$work/delete.err" && ok delete || bad delete "$(cat "$work/delete.err")"
in_container ip -o link show | grep -q kilntap && bad tap-removed "$(in_container ip -o link show)" || ok tap-removed
in_container tc qdisc show dev eth0 ingress | grep -q ingress && bad redirect-removed "$(in_container tc qdisc show dev eth0)" ||
    ok redirect-removed

# A create SIGKILLed at each step (KILN_OCI_TEST_STOP_AT makes it stop itself there): what it
# left is counted, then `delete --force` (or `kiln gc`) must leave no TAP, no redirect on eth0,
# no process (the VMM: comm kiln, the jailer having become it; the relay: naming the state
# root), no state directory.
leftovers() {
    echo "taps=$(in_container ip -o link show | grep -c kilntap) redirects=$(in_container tc qdisc show dev eth0 ingress | grep -c ingress)" \
         "vmms=$(pgrep -c -x kiln) processes=$(pgrep -c -f -- "--root $state|$state/") states=$(find "$state" -mindepth 1 -maxdepth 1 | wc -l)"
}
clean="taps=0 redirects=0 vmms=0 processes=0 states=0"
killed_create() {   # killed_create POINT ID WANT-LEFT CLEANER...
    local point=$1 id=$2 want=$3 pid status=""
    shift 3
    KILN_OCI_TEST_STOP_AT=$point "$oci" --root "$state" --log "$work/runtime.log" create --bundle "$bundle" \
        --pid-file "$work/pid-$id" "$id" </dev/null >/dev/null 2>"$work/create-$id.err" &
    pid=$!
    for _ in $(seq 900); do
        status=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)
        [ "$status" = T ] || [ -z "$status" ] && break
        sleep 0.2
    done
    if [ "$status" != T ]; then
        bad "killed-at-$point" "create did not stop at $point: $(tail -n 2 "$work/create-$id.err")"; kill -9 "$pid" 2>/dev/null; return
    fi
    kill -9 "$pid"; wait "$pid" 2>/dev/null
    local left; left=$(leftovers)
    case $left in $want) ;; *) bad "killed-at-$point" "left after SIGKILL: want $want, got $left"; return ;; esac
    "$@" >"$work/clean-$id.out" 2>&1 || { bad "killed-at-$point" "$* failed: $(tail -n 2 "$work/clean-$id.out")"; return; }
    local after; after=$(leftovers)
    echo "killed at $point: left $left; after \`$(basename "$1") ${*:2}\`: $after"
    expect "killed-at-$point" "$clean" "$after"
}
kiln=$(dirname "$oci")/kiln
# Before the record could outlive the process, the TAP is held by create's descriptor alone.
killed_create tap-claimed k1 "taps=0 redirects=0 vmms=0 processes=0 states=1" "$oci" --root "$state" delete --force k1
killed_create tap k2 "taps=1 redirects=0 vmms=0 processes=0 states=1" "$oci" --root "$state" delete --force k2
killed_create vmm k3 "taps=1 redirects=1 vmms=1 processes=0 states=1" "$kiln" gc --oci-root "$state"
killed_create relay k4 "taps=1 redirects=1 vmms=1 processes=1 states=1" "$oci" --root "$state" delete --force k4
exit $failed
