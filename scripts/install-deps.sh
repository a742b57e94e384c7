#!/usr/bin/env bash
# Installs every Debian package Kiln's build, tests and benchmarks need (run as root).
# The Swift 6.3 toolchain itself is expected at /opt/swift or on PATH.
set -euo pipefail
packages=(
    make gcc libc6-dev python3            # test guests, C baseline loader, benchmark drivers
    qemu-system-x86                       # nested harness (L1) and the QEMU microvm baseline
    linux-source-6.1 bc flex bison libelf-dev libssl-dev cpio xz-utils   # guest kernel build
    linux-image-amd64 kmod                # L1 kernel and kvm-amd/9p modules for the harness
    busybox-static e2fsprogs              # guest root filesystem and initramfs
    libseccomp-dev libcap-dev             # seccomp filters and capability dropping
)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all ${#packages[@]} packages present"
    exit 0
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
