#!/usr/bin/env bash
# One command from a fresh clone to a sandboxed command: installs the Debian packages, builds
# kiln (release) and the static kiln-agent, the guest kernel and the sandbox root filesystem
# (cached in ~/.cache/kiln), then runs `kiln run -- uname -a` (or `scripts/sandbox.sh -- CMD...`).
# Where /dev/kvm is hardware-backed it runs directly; on a software /dev/kvm (our development
# machines) `kiln run -- uname -a` runs inside the nested QEMU harness (Tests/E2E).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
[ "${1:-}" = -- ] && shift
[ $# -gt 0 ] || set -- uname -a
if [ "$(id -u)" = 0 ]; then bash scripts/install-deps.sh --debian-only; fi
# Fully static (glibc and libseccomp linked in): as root, kiln run starts the VMM through
# kiln-jailer, whose jail holds nothing but the binary.
swift build -c release --static-swift-stdlib -Xswiftc -static-executable 2>&1 | grep -vE "statically linked applications requires at runtime|use of .mktemp. is dangerous" | tail -n 1
export KILN="$PWD/.build/release/kiln"
if grep -qwE 'vmx|svm' /proc/cpuinfo && [ -c /dev/kvm ]; then
    eval "$(Kernels/build.sh)"
    # The default image (Debian with python3) into kiln's image store; the kernel and the agent
    # it boots with installed as kiln's defaults (`kiln setup`), so plain `kiln run` works after.
    eval "$(Rootfs/build-agent-initrd.sh)"
    "$KILN" setup --kernel "$KILN_VMLINUX" --agent-initrd "$KILN_AGENT_INITRD" >/dev/null
    Rootfs/build-default-image.sh >/dev/null
    unset KILN_SANDBOX_ROOTFS KILN_VMLINUX KILN_AGENT_INITRD
    exec "$KILN" run -- "$@"
fi
printf -v KILN_SANDBOX_CMD '%q ' "$@"
export KILN_SANDBOX_CMD
echo "sandbox.sh: this /dev/kvm cannot boot Linux: running 'kiln run -- $*' in the nested harness"
bash Tests/E2E/run.sh sandbox-uname | tee /tmp/kiln-sandbox.$$
run=$(grep -oE 'results in [^,]+' /tmp/kiln-sandbox.$$ | tail -n 1 | cut -d' ' -f3)
rm -f /tmp/kiln-sandbox.$$
out=${run:+$run/boots/sandbox-uname}
if [ -n "$out" ] && [ -f "$out/uname.out" ]; then
    echo "--- kiln run -- $* (stdout, then stderr):"
    cat "$out/uname.out" "$out/uname.err"
    exit "$(cat "$out/uname.rc" 2>/dev/null || echo 125)"
fi
exit 125
