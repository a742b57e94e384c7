#!/usr/bin/env bash
# Boot-time benchmark: time from VMM start to the guest's KILN-INIT-READY line,
# median of KILN_BENCH_RUNS (default 5) boots of each VMM in KILN_BENCH_VMMS
# (default "qemu kiln": QEMU -M microvm and kiln, interleaved, same kernel,
# initrd and command line, same /dev/kvm, in one L1 session), and the ratio.
# usage: Tests/E2E/bench-boot.sh [--direct|--nested]
exec "$(dirname "${BASH_SOURCE[0]}")/run.sh" "$@" bench
