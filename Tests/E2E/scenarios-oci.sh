# kiln-oci (issue 18): kiln as a runc-compatible OCI runtime.
#
# oci-bundle (in `all`, three VMs): a bare bundle, `runc spec` with its rootfs a directory (the
# busybox initramfs unpacked), through kiln-oci as conmon or containerd's shim drive it
# (Tests/E2E/oci/bundle-lifecycle.py, a child subreaper like them): create (the rootfs served
# read-only over virtio-fs, the agent initramfs's tmpfs overlay taking writes), state JSON
# created -> running -> stopped with the pid file's pid, which is a real host process (the
# relay); start; a line on the engine's stdin comes back on its stdout with the config's env and
# cwd (missing from the rootfs: made), hostname, rlimits and additional gids, a root-owned 0600
# file read and a 0700 directory listed (CAP_DAC_READ_SEARCH on the VMM's device thread); the relay exits
# with the workload's status (3), and with 143 after `kill ID TERM`; a
# duplicate id refused; delete of a stopped and of a created container; afterwards no process
# naming the state root (VMM, jailer, relay) and an empty state root.
ALL_SCENARIOS="$ALL_SCENARIOS oci-bundle"

oci_prereqs() {
    [ -n "${KILN:-}" ] && [ -x "$KILN" ] || { fail "no kiln binary (KILN='${KILN:-}')"; return 1; }
    KILN_OCI=$(dirname "$KILN")/kiln-oci
    [ -x "$KILN_OCI" ] || { fail "no kiln-oci next to $KILN (swift build builds it)"; return 1; }
    [ -n "${KILN_AGENT_INITRD:-}" ] && [ -f "$KILN_AGENT_INITRD" ] || {
        fail "no agent initramfs (KILN_AGENT_INITRD='${KILN_AGENT_INITRD:-}'): Rootfs/build-agent-initrd.sh"; return 1; }
    command -v runc >/dev/null || { fail "runc is not installed (scripts/packages.txt)"; return 1; }
}

# oci_scratch SCENARIO NAME [image]: a cleared $B_DIR for SCENARIO and, in the caller's `work`,
# local scratch kiln-e2e-NAME.PID holding the busybox initramfs unpacked as rootfs/ and, with
# `image`, its OCI archive image.tar (oci/make-image.sh). Returns 1 after a FAIL saying what
# could not be made.
oci_scratch() {
    B_DIR=$RUN/boots/$1
    rm -rf "$B_DIR"; mkdir -p "$B_DIR"
    work=$E2E_LOCAL_TMP/kiln-e2e-$2.$$
    rm -rf "$work"; mkdir -p "$work/rootfs"
    (cd "$work/rootfs" && gzip -dc "$KILN_INITRAMFS" | cpio -idm --quiet --no-absolute-filenames) || {
        fail "cannot unpack $KILN_INITRAMFS into a rootfs"; return 1; }
    [ "${3:-}" = image ] || return 0
    TMPDIR=$work bash "$OCI_E2E/make-image.sh" "$work/rootfs" "$work/image.tar" >"$B_DIR/image.log" 2>&1 ||
        { fail "cannot make the test image: $(tail -n 2 "$B_DIR/image.log")"; return 1; }
}

# oci_drive SECONDS OUT CMD...: one of oci/'s drivers, with the guest kernel and agent initramfs
# in its environment and the harness's progress file for its keeper, killed after SECONDS, its
# output in $B_DIR/OUT; its exit status in the caller's `rc`.
oci_drive() {
    local seconds=$1 out=$2; shift 2
    rc=0
    touch "$RUN/progress"
    KILN_VMLINUX=$KILN_VMLINUX KILN_AGENT_INITRD=$KILN_AGENT_INITRD KILN_E2E_PROGRESS=$RUN/progress \
        timeout -k 5 "$seconds" "$@" >"$B_DIR/$out" 2>&1 || rc=$?
}

# oci_failed OUT WHAT: after oci_drive, the caller's `checks` (the driver's `ok` lines) and, when
# the driver failed, a FAIL naming WHAT, its exit status and its first FAIL lines (returns 0).
oci_failed() {
    checks=$(grep -c '^ok ' "$B_DIR/$1")
    [ "$rc" != 0 ] || return 1
    fail "$2 (exit $rc, $checks checks passed): $(grep -m4 '^FAIL' "$B_DIR/$1" | tr '\n' ' ' | head -c 700)"
    return 0
}
OCI_E2E=$(dirname "${BASH_SOURCE[0]}")/oci

scenario_oci-bundle() {
    oci_prereqs || return 0
    local work rc checks
    oci_scratch oci-bundle oci || return 0
    oci_drive 600 lifecycle.out python3 "$OCI_E2E/bundle-lifecycle.py" "$KILN_OCI" "$work/rootfs" "$work" "$B_DIR"
    cp "$work/runtime.log" "$B_DIR/" 2>/dev/null
    checks=$(grep -c '^ok ' "$B_DIR/lifecycle.out")
    rm -rf "$work"
    if [ "$rc" != 0 ]; then
        fail "kiln-oci bundle lifecycle (exit $rc): $(grep -m3 '^FAIL\|Error\|error' "$B_DIR/lifecycle.out" | tr '\n' ' ' | head -c 600)"
        return 0
    fi
    pass "kiln-oci create/start/state/kill/delete of a runc-spec bundle on a virtio-fs rootfs: $checks checks ($(grep -m1 '^create took' "$B_DIR/lifecycle.out")): state JSON, pid = host relay, stdin/stdout/env/cwd (made), hostname/rlimits/gids, root-only file read and directory listed, exit 3, 143 after kill TERM, duplicate id refused, nothing left"
}

# oci-podman (in `all`, nine VMs): podman 4 (conmon) with `--runtime kiln-oci`, everything in a
# private mount namespace under local scratch (Tests/E2E/oci/podman.sh): an OCI archive of the
# busybox rootfs (umoci: Cmd, Env, WorkingDir, User 1000:1000) loaded into vfs storage; `run --rm`
# exit code and stdout; stdin, the image's env/workdir/user; -e/-w/-u overrides; `-t` (the pty
# master over --console-socket: \r\n line ends); `run -d` + `exec` + `ps` + `stop` (the workload's TERM trap exits 0) + `rm`;
# `kill` + `wait` (137) + `rm`; `run --rootfs DIR` with a write that stays in the guest;
# `--ulimit nofile=1234:2345 --group-add 4000 --hostname kiln-h1` seen by the guest command;
# `--network bridge` (podman's default CNI network): the guest fetches a file from the bridge's gateway.
# /tmp is read-only for all of it, wherever the clone lives (conmon's TMPDIR: oci/podman-setup.sh).
ALL_SCENARIOS="$ALL_SCENARIOS oci-podman"

scenario_oci-podman() {
    oci_prereqs || return 0
    command -v podman >/dev/null && command -v conmon >/dev/null && command -v umoci >/dev/null ||
        { fail "podman, conmon or umoci is not installed (scripts/packages.txt)"; return 0; }
    local work rc checks
    oci_scratch oci-podman podman image || return 0
    oci_drive 900 podman.out unshare -m --propagation private bash "$OCI_E2E/podman.sh" \
        "$KILN_OCI" "$work/rootfs" "$work/image.tar" "$work/p"
    cp "$work"/p/*.err "$work"/p/logs/* "$B_DIR/" 2>/dev/null
    rm -rf "$work"
    oci_failed podman.out "podman --runtime kiln-oci" && return 0
    pass "podman --runtime kiln-oci: $checks checks ($(grep -m1 '^first run took' "$B_DIR/podman.out")): OCI archive loaded, exit code, stdin/stdout, image env/workdir/user, -e/-w/-u, --ulimit/--group-add/--hostname, -t, exec into a running container, stop (TERM reaches the workload), kill 137, rm, --rootfs DIR, podman's CNI bridge network reaching the host"
}

# oci-containerd (in `all`, two VMs): containerd 1.6 in a private mount namespace
# (Tests/E2E/oci/containerd.sh; root, state and socket in local scratch, native snapshotter):
# `ctr images import` of the same OCI archive, `ctr run --rm --runc-binary kiln-oci` through
# containerd-shim-runc-v2: exit code 5, stdout with the image's env and user and a working
# directory missing from the image (`--cwd`: made, as runc makes it); stdin relayed;
# no container or task left.
ALL_SCENARIOS="$ALL_SCENARIOS oci-containerd"

scenario_oci-containerd() {
    oci_prereqs || return 0
    command -v containerd >/dev/null && command -v ctr >/dev/null && command -v umoci >/dev/null ||
        { fail "containerd or umoci is not installed (scripts/packages.txt)"; return 0; }
    local work rc checks
    oci_scratch oci-containerd containerd image || return 0
    oci_drive 600 containerd.out unshare -m --propagation private bash "$OCI_E2E/containerd.sh" \
        "$KILN_OCI" "$work/image.tar" "$work/c"
    cp "$work"/c/*.err "$work/c/containerd.log" "$work"/c/logs/* "$B_DIR/" 2>/dev/null
    rm -rf "$work"
    oci_failed containerd.out "containerd + ctr run --runc-binary kiln-oci" && return 0
    pass "containerd: ctr images import of an OCI archive, ctr run --rm --runc-binary kiln-oci: $checks checks: exit code 5, stdout with the image's env and user, a missing cwd made, stdin, nothing left"
}

# oci-network (in `all`, one VM): the engine's network handed to the guest
# (Tests/E2E/oci/network.sh): namespaces stand in for CNI's bridge plugin (veth eth0 with
# 10.213.0.7/16, a MAC and a default route; the peer with the gateway 10.213.0.1 and an HTTP
# server); a bundle in that namespace: the guest has eth0's address and MAC and fetches a token
# from the gateway through the TAP <-> veth tc redirect; delete leaves no kiln TAP or redirect
# there. Then creates SIGKILLed at four points (KILN_OCI_TEST_STOP_AT) leave nothing after
# `delete --force` (or `kiln gc --oci-root`), counted before and after.
ALL_SCENARIOS="$ALL_SCENARIOS oci-network"

scenario_oci-network() {
    oci_prereqs || return 0
    command -v tc >/dev/null && command -v ip >/dev/null || { fail "iproute2 (ip, tc) is not installed (scripts/packages.txt)"; return 0; }
    local work rc checks
    oci_scratch oci-network ocinet || return 0
    oci_drive 400 network.out bash "$OCI_E2E/network.sh" "$KILN_OCI" "$work/rootfs" "$work/n"
    cp "$work"/n/*.err "$work"/n/out "$work"/n/runtime.log "$work"/n/http.log "$work"/n/logs/* "$B_DIR/" 2>/dev/null
    rm -rf "$work"
    oci_failed network.out "kiln-oci with the engine's network" && return 0
    pass "kiln-oci with the engine's network: $checks checks: the guest has the veth's address and MAC, fetches from the gateway through the TAP<->veth tc redirect, no TAP or redirect left after delete; $(grep -c '^killed at' "$B_DIR/network.out") creates SIGKILLed part way cleaned by delete --force / kiln gc"
}

# oci-bench (extra, not in `all`; issue 18's benchmark): Tests/E2E/oci/bench.sh, one L1 session,
# `KILN_OCI_BENCH_RUNS` (5) interleaved rounds after a warm-up of `podman run --rm IMG true` with
# kiln-oci, the same with runc, and `kiln run --image IMG -- true` of the same OCI archive:
# medians and the ratios podman+kiln / kiln run (target <= 1.15) and podman+kiln / podman+runc;
# then `KILN_OCI_BENCH_PROFILES` (1) untimed profile rounds (where each runtime call's time goes).
EXTRA_SCENARIOS="$EXTRA_SCENARIOS oci-bench"

scenario_oci-bench() {
    oci_prereqs || return 0
    local work rc
    oci_scratch oci-bench ocibench image || return 0
    oci_drive 1800 bench.out unshare -m --propagation private bash "$OCI_E2E/bench.sh" \
        "$KILN" "$KILN_OCI" "$work/image.tar" "$work/b" "${KILN_OCI_BENCH_RUNS:-5}" "${KILN_OCI_BENCH_PROFILES:-1}"
    cp "$work"/b/*.err "$work"/b/logs/* "$B_DIR/" 2>/dev/null
    rm -rf "$work"
    note "oci-bench: $(grep -m1 '^summary' "$B_DIR/bench.out")"
    if [ "$rc" != 0 ]; then fail "oci-bench (exit $rc): $(grep -m3 '^FAIL' "$B_DIR/bench.out" | tr '\n' ' ' | head -c 600)"; return 0; fi
    pass "$(grep -m1 '^summary' "$B_DIR/bench.out" | sed 's/^summary //')"
}
