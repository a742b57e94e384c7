#!/usr/bin/env bash
# oci-containerd: containerd 1.6 (its runc shim, containerd-shim-runc-v2) with kiln-oci as the
# runc binary, in a private mount namespace (scenarios-oci.sh runs this under `unshare -m`):
# containerd's root, state and socket under WORK, the native snapshotter (L1 has no overlay
# module), cgroup2 on /sys/fs/cgroup.
#
# usage: containerd.sh KILN_OCI IMAGE_TAR WORK   (KILN_VMLINUX, KILN_AGENT_INITRD in the
# environment: containerd passes its environment to the shim, the shim to the runtime)
# Prints `ok NAME` per check, `FAIL NAME: why` for a failed one; exit 1 if any failed.
set -u
oci=$1 archive=$2 work=$3
# shellcheck source=checks.sh
. "$(dirname "${BASH_SOURCE[0]}")/checks.sh"
mountpoint -q /sys/fs/cgroup || mount -t cgroup2 none /sys/fs/cgroup || { echo "FAIL cgroup2: cannot mount"; exit 1; }
mkdir -p "$work"/{root,state}
sock=$work/containerd.sock
# No CRI plugin: ctr does not use it, and its streaming server binds 127.0.0.1, which fails
# (and takes containerd down) when L1's loopback is not up.
cat >"$work/config.toml" <<EOF
version = 2
root = "$work/root"
state = "$work/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$sock"
EOF
containerd --config "$work/config.toml" >"$work/containerd.log" 2>&1 &
daemon=$!
trap 'kill $daemon $keeper 2>/dev/null; wait $daemon 2>/dev/null' EXIT
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.2; done
export CONTAINERD_ADDRESS=$sock
ctr version >/dev/null 2>&1 && ok containerd-up || { bad containerd-up "$(tail -n 5 "$work/containerd.log")"; exit 1; }

ctr images import --snapshotter native --base-name localhost/kiln-e2e "$archive" >"$work/import.out" 2>&1 ||
    { bad import "$(tail -n 3 "$work/import.out")"; exit 1; }
img=$(ctr images ls -q | head -n 1)
[ -n "$img" ] && ok "import $img" || { bad import "no image after import"; exit 1; }

run() {   # run NAME ARGS... : stdout in $out, rc in $rc
    local name=$1; shift
    rc=0
    out=$(timeout -k 5 240 "$@" 2>"$work/$name.err") || rc=$?
    touch "${KILN_E2E_PROGRESS:-/dev/null}" 2>/dev/null
}
# A working directory that is not in the image (containerd leaves that to the runtime): made, as runc does.
run run ctr run --rm --snapshotter native --runc-binary "$oci" --cwd /not/in/image "$img" kiln-ctr1 \
    sh -c 'echo ctr-out $FOO $(id -u) $(pwd); exit 5'
expect run-exit-stdout-cwd "5 ctr-out from-image 1000 /not/in/image" "$rc $out"
run stdin sh -c "echo ctr-in | ctr run --rm --snapshotter native --runc-binary '$oci' '$img' kiln-ctr2 sh -c 'read l; echo got-\$l'"
expect stdin "0 got-ctr-in" "$rc $out"
run leftovers ctr containers ls -q
expect no-containers-left "0 " "$rc $out"
run tasks ctr tasks ls -q
expect no-tasks-left "0 " "$rc $out"
exit $failed
