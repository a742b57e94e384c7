#!/usr/bin/env bash
# Runs the scenarios listed in RUN/job.env where /dev/kvm can boot Linux:
# directly on a host with hardware KVM, or inside L1 (chrooted into the host
# root). One result file per scenario in RUN/results; a log in RUN/report.log.
# usage: inner.sh RUN_DIR
set -uo pipefail
export LC_ALL=C
RUN=$1
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=/dev/null
. "$RUN/job.env"
. "$here/scenarios.sh"
mkdir -p "$RUN/results" "$RUN/boots" "$RUN/tmp"
export TMPDIR=$RUN/tmp
# Local scratch (FIFOs): /dev/shm or /tmp, never the 9p run directory.
SCRATCH=$(mktemp -d -p /dev/shm kiln-e2e.XXXXXX 2>/dev/null || mktemp -d -p /tmp kiln-e2e.XXXXXX) || {
    echo "inner.sh: no local scratch directory" >&2; exit 1; }
trap 'rm -rf "$SCRATCH"' EXIT
# A local, writable directory for kiln's run directories and sandbox state ($TMPDIR of the
# sandbox scenarios): L1 says which (its /tmp is the host's, read-only, when the repo is there).
E2E_LOCAL_TMP=${KILN_E2E_LOCAL_TMP:-/tmp}

for SCEN in $KILN_E2E_SCENARIOS; do
    [ -e "$RUN/results/$SCEN" ] && continue   # done by an earlier L1 attempt
    B_DIR=
    SX_RETRY_TRIPLE=
    if ! declare -F "scenario_$SCEN" >/dev/null; then
        fail "no such scenario (known: $ALL_SCENARIOS $EXTRA_SCENARIOS)"; continue
    fi
    if [ "$SCEN" != bench ] && [ "$SCEN" != blkbench ] && [ "$SCEN" != vsockbench ]; then   # these check each VMM
        why=$(vmm_unavailable)
        if [ -n "$why" ]; then fail "cannot run with VMM '$KILN_E2E_VMM': $why"; continue; fi
    fi
    "scenario_$SCEN"
    [ -e "$RUN/results/$SCEN" ] || fail "the scenario recorded no result"
    # Known, not yet explained (issue 6): under heavy virtio traffic in this nested harness a
    # kiln guest sometimes dies of a triple fault. Such a failure is reported (FAIL above, a
    # RETRY line, and the summary's retry list) and the scenario runs once more; it passes only
    # if the second attempt passes.
    # The VMM's stderr is $B_DIR/stderr for plain boots; sandbox scenarios keep kiln's error
    # output and the VMM log (which says how the VM ended) elsewhere in $B_DIR.
    if [ "$SCEN" != sandbox-stress ] && grep -q '^FAIL' "$RUN/results/$SCEN" && [ -n "${B_DIR:-}" ] && grep -rqs '(triple fault)' "$B_DIR"; then
        note "RETRY $SCEN: the guest died of a triple fault ($(grep -rls '(triple fault)' "$B_DIR" | head -n 1)); running the scenario once more"
        echo "$SCEN (guest triple fault)" >>"$RUN/retries"
        mv "$RUN/results/$SCEN" "$RUN/results-first-attempt.$SCEN"
        "scenario_$SCEN"
        [ -e "$RUN/results/$SCEN" ] || fail "the scenario recorded no result"
    fi
done
exit 0
