# virtio-blk benchmark (issue 16): what guests really do with a disk, kiln against QEMU microvm.
# Sourced by scenarios.sh.
#
# KILN_BLKBENCH_RUNS (7) boots of each VMM in KILN_BLKBENCH_VMMS (default $KILN_BENCH_VMMS, else
# "qemu kiln"), interleaved, after one discarded warm-up boot each. A VMM named kiln-sync or
# kiln-async is kiln with every drive's I/O engine forced (`--drive PATH,io=ENGINE`); plain kiln
# uses its default engine. QEMU gets its defaults (aio=threads, host page cache), as kiln.
# Every boot: the initramfs guest, 256 MiB, two disks in local scratch, the same files for all:
#   /dev/vda  KILN_BLKBENCH_MIB (64) MiB of zeros (written, not sparse)
#   /dev/vdb  the Debian default image's root filesystem (Rootfs/build-default-image.sh,
#             $KILN_IMAGE_STORE), read-only, mounted ro on /mnt
# and KILN_BLKBENCH_REPS (1) rounds of the workloads in KILN_BLKBENCH_WORKLOADS, each after
# `sync; echo 3 >/proc/sys/vm/drop_caches` (so every one starts from a cold guest page cache):
#   direct    dd if=/dev/zero of=/dev/vda bs=1M oflag=direct conv=fsync, then the same read back
#             with iflag=direct: "write" and "read", MB/s
#   buffered  dd if=/dev/vda of=/dev/null bs=1M (the guest's page cache and readahead), MB/s
#   python    chroot /mnt python3 -c 'import json, email, asyncio', seconds
#   files     find /mnt -xdev -type f -print0 | xargs -0 cat >/dev/null (every file of the Debian
#             root: 215.5 MB for the image of 2026-12-06), seconds
#   randread  blk-randread /dev/vda JOBS READS: KILN_BLKBENCH_JOBS (4) processes, each
#             KILN_BLKBENCH_READS (1000) random 4 KiB O_DIRECT preads, IOPS
# Busybox has no sub-second clock and this kernel no adjtimex: each workload is timed by the
# microsecond timestamps of /dev/kmsg records written before and after it (includes starting
# the first process, ~ms). The warm-up boot runs only direct and buffered. Medians over all rounds of all boots; ratios kiln/qemu of the
# medians, oriented so that > 1 means kiln is faster for every workload (for the timed ones
# that is qemu's seconds / kiln's). Per-boot timeout KILN_BLKBENCH_TIMEOUT (600 s: under a load of
# 14 one boot took 190 s).

blkbench_workloads_default="direct buffered python files randread"

# The VMM a blkbench name runs and the drive options it adds: "kiln-sync" -> kiln, ",io=sync".
blkbench_vmm() { case $1 in kiln-*) echo kiln ;; *) echo "$1" ;; esac; }
blkbench_drive_suffix() { case $1 in kiln-sync) echo ,io=sync ;; kiln-async) echo ,io=async ;; esac; }

# What a workload's value is, from its seconds: "rate BYTES" (MB/s), "ops N" (per second), "time".
blkbench_unit() {
    case $1 in
        write|read|buffered) echo "MB/s" ;;
        randread) echo "IOPS" ;;
        files|python) echo "s" ;;
    esac
}

# The Debian default image's root filesystem in the run's store, or nothing.
blkbench_debian_rootfs() {
    [ -n "${KILN_IMAGE_STORE:-}" ] || return 0
    ls -S "$KILN_IMAGE_STORE"/images/*/rootfs.ext4 2>/dev/null | head -n 1
}

# The guest's script (busybox sh), kept short: it travels base64-encoded on the kernel command
# line (2048 bytes in all). The kmsg records go to the console as they are; the host times them.
# PYTHONHASHSEED=0: otherwise Python seeds its hashes from getrandom, which this guest (no RNG
# device, no RDRAND) answers only after ~3 min, and falls back to /dev/urandom, which the
# image has no /dev for; with it, those imports ask for no randomness at all.
blkbench_guest_script() {   # REPS WORKLOADS
    local reps=$1 workloads=$2 mib=${KILN_BLKBENCH_MIB:-64} jobs=${KILN_BLKBENCH_JOBS:-4} reads=${KILN_BLKBENCH_READS:-1000}
    cat <<EOF
mount -t ext4 -o ro,noload /dev/vdb /mnt || echo KILN-BLKBENCH-ERROR mount
m() { echo "kiln-blkbench \$*" >/dev/kmsg; }
r() {
n=\$1 i=\$2; shift 2
sync; echo 3 >/proc/sys/vm/drop_caches
m \$n \$i start
"\$@" >/dev/null 2>/tmp/e
c=\$?
m \$n \$i end rc=\$c
[ \$c = 0 ] || echo "KILN-BLKBENCH-ERROR \$n \$i: \$(tail -n 2 /tmp/e | tr '\n' ' ')"
echo "KILN-BLKBENCH-IO \$n \$i \$(cat /sys/block/vda/stat /sys/block/vdb/stat | tr -s ' ')"
}
for i in \$(seq 1 $reps); do for w in $workloads; do case \$w in
direct) r write \$i dd if=/dev/zero of=/dev/vda bs=1M count=$mib oflag=direct conv=fsync
r read \$i dd if=/dev/vda of=/dev/null bs=1M count=$mib iflag=direct ;;
buffered) r buffered \$i dd if=/dev/vda of=/dev/null bs=1M ;;
python) r python \$i env PYTHONHASHSEED=0 chroot /mnt /usr/bin/python3 -c 'import json, email, asyncio' ;;
files) r files \$i sh -c 'find /mnt -xdev -type f -print0 | xargs -0 cat' ;;
randread) r randread \$i blk-randread /dev/vda $jobs $reads ;;
esac; done; done
cd /sys/block/vda/queue && echo "KILN-BLKBENCH-QUEUE \$(grep . read_ahead_kb max_sectors_kb max_segments max_segment_size nr_requests | tr '\n' ' ')"
cd /; umount /mnt
timeout 1 cat /dev/kmsg | grep kiln-blkbench | sed 's/^/KILN-KMSG /'
EOF
}

# The console's "KILN-KMSG PRIO,SEQ,USEC,-;kiln-blkbench NAME ROUND start|end rc=N" records on
# stdin -> NAME's values in its unit, one per successful round.
blkbench_values() {   # NAME
    local name=$1 bytes=0 ops=0
    case $name in
        write|read|buffered) bytes=$(( ${KILN_BLKBENCH_MIB:-64} * 1048576 )) ;;
        randread) ops=$(( ${KILN_BLKBENCH_JOBS:-4} * ${KILN_BLKBENCH_READS:-1000} )) ;;
    esac
    awk -v name="$name" -v bytes="$bytes" -v ops="$ops" '$2 == "KILN-KMSG" && $4 == name {
        split($3, f, ","); key = $5
        if ($6 == "start") { t[key] = f[3]; next }
        if ($6 != "end" || $7 != "rc=0" || !(key in t)) next
        s = (f[3] - t[key]) / 1e6; if (s <= 0) next
        if (bytes > 0) printf "%.1f\n", bytes / s / 1e6; else if (ops > 0) printf "%.0f\n", ops / s; else printf "%.3f\n", s }'
}

scenario_blkbench() {
    local runs=${KILN_BLKBENCH_RUNS:-7} reps=${KILN_BLKBENCH_REPS:-1} mib=${KILN_BLKBENCH_MIB:-64}
    local vmms=${KILN_BLKBENCH_VMMS:-${KILN_BENCH_VMMS:-qemu kiln}} workloads=${KILN_BLKBENCH_WORKLOADS:-$blkbench_workloads_default}
    local names="" w name vmm i why bad= img=$SCRATCH/blkbench.img debian=$SCRATCH/blkbench-debian.ext4 src line
    local saved=$KILN_E2E_VMM saved_timeout=$KILN_E2E_L2_TIMEOUT cmdline script
    KILN_E2E_L2_TIMEOUT=${KILN_BLKBENCH_TIMEOUT:-$(( KILN_E2E_L2_TIMEOUT > 600 ? KILN_E2E_L2_TIMEOUT : 600 ))}
    for w in $workloads; do case $w in direct) names="$names write read" ;; *) names="$names $w" ;; esac; done
    src=$(blkbench_debian_rootfs)
    if [ -z "$src" ]; then
        fail "no Debian root filesystem (KILN_IMAGE_STORE='${KILN_IMAGE_STORE:-}'): run.sh puts the default image there for blkbench"
        KILN_E2E_L2_TIMEOUT=$saved_timeout; return 0
    fi
    # Both disks in local scratch (tmpfs in L1), never over 9p: the same host cost for both VMMs.
    dd if=/dev/zero of="$img" bs=1M count="$mib" status=none && cp "$src" "$debian" ||
        { fail "cannot create the disks in $SCRATCH"; rm -f "$img" "$debian"; KILN_E2E_L2_TIMEOUT=$saved_timeout; return 0; }
    note "blkbench: $runs boots x $reps rounds each of [$vmms], workloads [$workloads]; vda $mib MiB, vdb $(basename "$(dirname "$src")")/rootfs.ext4 ($(( $(stat -c %s "$debian") / 1048576 )) MiB, ro)"
    for vmm in $vmms; do
        KILN_E2E_VMM=$(blkbench_vmm "$vmm")
        why=$(vmm_unavailable)
        if [ -n "$why" ]; then note "blkbench: $vmm cannot run: $why"; bad="$bad $vmm(cannot run: $why)"; fi
        for name in $names; do : >"$RUN/blkbench-$vmm.$name"; done
    done
    # One discarded boot per VMM first (fresh L1: TCG has not translated the VMM's I/O path yet).
    for i in warmup $(seq 1 "$runs"); do
        for vmm in $vmms; do
            KILN_E2E_VMM=$(blkbench_vmm "$vmm")
            [ -z "$(vmm_unavailable)" ] || continue
            L2_DRIVES=("$img$(blkbench_drive_suffix "$vmm")" "$debian,ro$(blkbench_drive_suffix "$vmm")")
            # The warm-up boot only warms the VMM's I/O path: the short workloads.
            if [ "$i" = warmup ]; then script=$(blkbench_guest_script 1 "direct buffered")
            else script=$(blkbench_guest_script "$reps" "$workloads"); fi
            cmdline="$BASE_CMDLINE kiln.exec=$(guest_script "$script") kiln.end=poweroff"
            l2_boot "blkbench-$vmm-$i" "$KILN_VMLINUX" 1 256 "$cmdline"
            L2_DRIVES=()
            grep -o 'KILN-BLKBENCH-ERROR.*' "$B_DIR/console" | head -n 3 | sed "s/^/blkbench: $vmm boot $i: /" | while read -r line; do note "$line"; done
            if [ -z "$B_READY" ] || ! console_has 'KILN-TEST-DONE test=exec rc=0'; then
                note "blkbench: $vmm boot $i: FAILED ($(boot_summary))"; [ "$i" = warmup ] || bad="$bad $vmm-boot-$i"; continue
            fi
            line=
            for name in $names; do
                line="$line $name $(blkbench_values "$name" <"$B_DIR/console" | tr '\n' ' ')$(blkbench_unit "$name");"
                [ "$i" = warmup ] && continue
                blkbench_values "$name" <"$B_DIR/console" >>"$RUN/blkbench-$vmm.$name"
                [ "$(blkbench_values "$name" <"$B_DIR/console" | wc -l)" = "$reps" ] || bad="$bad $vmm-boot-$i-$name"
            done
            note "blkbench: $vmm boot $i$([ "$i" = warmup ] && echo " (not counted)"):$line"
        done
    done
    rm -f "$img" "$debian"
    KILN_E2E_VMM=$saved KILN_E2E_L2_TIMEOUT=$saved_timeout
    blkbench_summary "$vmms" "$names"
    if [ -n "$bad" ]; then fail "benchmark incomplete:$bad;$BLKBENCH_SUMMARY"; else pass "${BLKBENCH_SUMMARY# }"; fi
}

# Medians per VMM and workload, and each kiln variant against qemu; sets BLKBENCH_SUMMARY and
# writes $RUN/blkbench-summary.txt (one line per workload).
blkbench_summary() {
    local vmms=$1 names=$2 name vmm m q r unit count line table=$RUN/blkbench-summary.txt
    BLKBENCH_SUMMARY=
    : >"$table"
    for name in $names; do
        unit=$(blkbench_unit "$name")
        q=$(median <"$RUN/blkbench-qemu.$name" 2>/dev/null)
        line="$name ($unit):"
        for vmm in $vmms; do
            m=$(median <"$RUN/blkbench-$vmm.$name")
            count=$(wc -l <"$RUN/blkbench-$vmm.$name")
            line="$line $vmm ${m:-?} (n=$count)"
            if [ "$vmm" != qemu ] && [ -n "$m" ] && [ -n "$q" ]; then
                # > 1: kiln faster (rates: kiln/qemu; times: qemu/kiln).
                if [ "$unit" = s ]; then r=$(awk -v a="$m" -v b="$q" 'BEGIN { printf "%.2f", b / a }')
                else r=$(awk -v a="$m" -v b="$q" 'BEGIN { printf "%.2f", a / b }'); fi
                line="$line [speed vs qemu $r]"
            fi
            line="$line,"
        done
        echo "${line%,}" >>"$table"
        BLKBENCH_SUMMARY="$BLKBENCH_SUMMARY ${line%,};"
    done
    note "blkbench summary (medians; speed vs qemu > 1: kiln faster):"
    sed 's/^/blkbench:   /' "$table" | while read -r line; do note "$line"; done
}
