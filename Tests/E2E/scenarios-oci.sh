# kiln-oci (issue 18): kiln as a runc-compatible OCI runtime.
#
# oci-bundle (in `all`, three VMs): a bare bundle, `runc spec` with its rootfs a directory (the
# busybox initramfs unpacked), through kiln-oci as conmon or containerd's shim drive it
# (Tests/E2E/oci/bundle-lifecycle.py, a child subreaper like them): create (the rootfs served
# read-only over virtio-fs, the agent initramfs's tmpfs overlay taking writes), state JSON
# created -> running -> stopped with the pid file's pid, which is a real host process (the
# relay); start; a line on the engine's stdin comes back on its stdout with the config's env and
# cwd; the relay exits with the workload's status (3), and with 143 after `kill ID TERM`; a
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

scenario_oci-bundle() {
    oci_prereqs || return 0
    B_DIR=$RUN/boots/oci-bundle
    rm -rf "$B_DIR"; mkdir -p "$B_DIR"
    local work=$E2E_LOCAL_TMP/kiln-e2e-oci.$$
    rm -rf "$work"; mkdir -p "$work/rootfs"
    (cd "$work/rootfs" && gzip -dc "$KILN_INITRAMFS" | cpio -idm --quiet --no-absolute-filenames) || {
        fail "cannot unpack $KILN_INITRAMFS into a rootfs"; return 0; }
    local rc=0
    touch "$RUN/progress"
    KILN_VMLINUX=$KILN_VMLINUX KILN_AGENT_INITRD=$KILN_AGENT_INITRD \
        timeout -k 5 600 python3 "$(dirname "${BASH_SOURCE[0]}")/oci/bundle-lifecycle.py" "$KILN_OCI" "$work/rootfs" "$work" \
        >"$B_DIR/lifecycle.out" 2>&1 || rc=$?
    cp "$work/runtime.log" "$B_DIR/" 2>/dev/null
    for d in "$work"/state/*/; do [ -d "$d" ] && cp "$d"/*.log "$B_DIR/" 2>/dev/null; done
    local checks; checks=$(grep -c '^ok ' "$B_DIR/lifecycle.out")
    rm -rf "$work"
    if [ "$rc" != 0 ]; then
        fail "kiln-oci bundle lifecycle (exit $rc): $(grep -m3 '^FAIL\|Error\|error' "$B_DIR/lifecycle.out" | tr '\n' ' ' | head -c 600)"
        return 0
    fi
    pass "kiln-oci create/start/state/kill/delete of a runc-spec bundle on a virtio-fs rootfs: $checks checks ($(grep -m1 '^create took' "$B_DIR/lifecycle.out")): state JSON, pid = host relay, stdin/stdout/env/cwd, exit 3, 143 after kill TERM, duplicate id refused, nothing left"
}
