#!/usr/bin/env bash
# Sets up and runs Kiln's main job on this machine: installs the Debian packages, builds kiln,
# the guest kernel and root filesystem (cached in ~/.cache/kiln), then boots Linux with kiln and
# shows the guest's console. Where /dev/kvm is hardware-backed the guest boots directly; on a
# software /dev/kvm (our development machines) it boots inside the nested QEMU harness.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
if [ "$(id -u)" = 0 ]; then bash scripts/install-deps.sh --debian-only; fi
swift build -c release --static-swift-stdlib -Xswiftc -static-executable 2>&1 | grep -vE "statically linked applications requires at runtime|use of .mktemp. is dangerous" | tail -n 1
export KILN="$PWD/.build/release/kiln"
bash Tests/E2E/run.sh vmlinux-init | tee /tmp/kiln-demo.$$
run=$(grep -oE 'results in [^,]+' /tmp/kiln-demo.$$ | tail -n 1 | cut -d' ' -f3)
rm -f /tmp/kiln-demo.$$
if [ -n "$run" ] && [ -f "$run/boots/vmlinux/console" ]; then
    echo
    echo "--- the guest's serial console under kiln ($(cat "$run/boots/vmlinux/command" | cut -c1-60)...):"
    cat "$run/boots/vmlinux/console"
    echo "--- kiln's stderr:"
    cat "$run/boots/vmlinux/stderr"
fi
