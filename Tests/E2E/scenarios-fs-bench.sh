# fs-bench (EXTRA_SCENARIOS, issue 18's second benchmark): reading every file of a Debian root
# through kiln's virtio-fs, against the same files on a virtio-blk ext4 image under kiln, and
# against QEMU microvm with QEMU's virtiofsd (/usr/lib/qemu/virtiofsd, Debian's qemu-system-common).
# Sourced by scenarios.sh.
#
# The files: the default image's Debian tarball (Rootfs/build-debian.sh: bookworm minbase +
# python3) unpacked into local scratch (tmpfs in L1), and an ext4 image made from that directory
# with `mkfs.ext4 -d` (in the same tmpfs), so every variant reads the same bytes from host RAM:
#   kiln-fs    kiln boot --share DIR:kiln-bench              (kiln's in-process server, as kiln-oci
#                                                              and `kiln run -v` serve a directory)
#   kiln-blk   kiln boot --drive IMG,ro                      (mounted ext4 ro,noload)
#   qemu-fs    virtiofsd --socket-path S -o source=DIR -o cache=auto -o sandbox=chroot, and
#              qemu -M microvm,memory-backend=mem -object memory-backend-memfd,...,share=on
#              -device vhost-user-fs-device,chardev=...,tag=kiln-bench
# Same kernel (KILN_VMLINUX: FUSE_FS and VIRTIO_FS built in), initramfs, 1 vCPU, 256 MiB. Each
# boot drops the guest's caches, then times `find /mnt -xdev -type f -print0 | xargs -0 cat | wc
# -c` by /dev/kmsg timestamps (as blkbench) and prints the bytes and files read: every variant
# must read the same. One discarded warm-up boot per variant (a small subtree), then
# KILN_FSBENCH_RUNS (5) interleaved boots of each; medians and the ratios against qemu-fs and
# kiln-blk (> 1: kiln-fs faster). Per-boot timeout KILN_FSBENCH_TIMEOUT (600 s).
# Each inode the guest knows is one host descriptor in kiln's server (an O_PATH one, as in
# virtiofsd), and kiln sizes its tables from RLIMIT_NOFILE; virtiofsd raises its own limit to
# 1,000,000 by itself, kiln runs under `prlimit --nofile=KILN_FSBENCH_NOFILE` (65536; `inherit`:
# L1's 1024, which holds ~670 inodes, too few for this tree).
EXTRA_SCENARIOS="$EXTRA_SCENARIOS fs-bench"

fsbench_tag=kiln-bench
fsbench_virtiofsd=/usr/lib/qemu/virtiofsd

# The guest's script for kiln.exec: mount the variant's file system on /mnt, read SUBTREE.
fsbench_guest_script() {   # fs|blk SUBTREE
    local mount
    case $1 in
        fs) mount="mount -t virtiofs $fsbench_tag /mnt" ;;
        blk) mount="mount -t ext4 -o ro,noload /dev/vda /mnt" ;;
    esac
    cat <<EOF
$mount || echo KILN-FSBENCH-ERROR mount
m() { echo "kiln-fsbench \$*" >/dev/kmsg; }
sync; echo 3 >/proc/sys/vm/drop_caches
m files 1 start
n=\$(set -o pipefail; find $2 -xdev -type f -print0 | xargs -0 cat | wc -c)
c=\$?
m files 1 end rc=\$c
[ \$c = 0 ] || echo "KILN-FSBENCH-ERROR read rc=\$c"
echo "KILN-FSBENCH-READ bytes=\$n files=\$(find $2 -xdev -type f | wc -l)"
umount /mnt
timeout 1 cat /dev/kmsg | grep kiln-fsbench | sed 's/^/KILN-KMSG /'
EOF
}

# Starts virtiofsd for one QEMU boot; sets FSBENCH_VIRTIOFSD (pid) once its socket is there.
fsbench_start_virtiofsd() {   # DIR SOCKET LOG
    rm -f "$2"
    "$fsbench_virtiofsd" --socket-path="$2" -o source="$1" -o cache=auto -o sandbox=chroot >"$3" 2>&1 &
    FSBENCH_VIRTIOFSD=$!
    local _
    for _ in $(seq 100); do [ -S "$2" ] && return 0; kill -0 "$FSBENCH_VIRTIOFSD" 2>/dev/null || break; sleep 0.1; done
    return 1
}

fsbench_stop_virtiofsd() {   # it exits when QEMU disconnects; a stuck one is killed
    local _
    for _ in $(seq 50); do kill -0 "$FSBENCH_VIRTIOFSD" 2>/dev/null || break; sleep 0.1; done
    kill "$FSBENCH_VIRTIOFSD" 2>/dev/null
    wait "$FSBENCH_VIRTIOFSD" 2>/dev/null
    FSBENCH_VIRTIOFSD=
}

scenario_fs-bench() {
    local runs=${KILN_FSBENCH_RUNS:-5} variants="kiln-fs kiln-blk qemu-fs" v i bad= line read subtree script
    local dir=$SCRATCH/fsbench-root img=$SCRATCH/fsbench-root.ext4 sock=$SCRATCH/fsbench-vfsd.sock
    local saved=$KILN_E2E_VMM saved_timeout=$KILN_E2E_L2_TIMEOUT tar mkfs kib nofile=${KILN_FSBENCH_NOFILE-65536}
    KILN_E2E_L2_TIMEOUT=${KILN_FSBENCH_TIMEOUT:-$(( KILN_E2E_L2_TIMEOUT > 600 ? KILN_E2E_L2_TIMEOUT : 600 ))}
    tar=$("$(dirname "${BASH_SOURCE[0]}")/../../Rootfs/build-debian.sh" 2>"$RUN/fsbench-debian.log") && eval "$tar"
    mkfs=$(e2fs_tool mkfs.ext4)
    if [ -z "${KILN_DEBIAN_TAR:-}" ] || [ ! -f "$KILN_DEBIAN_TAR" ]; then
        fail "no Debian root tarball (Rootfs/build-debian.sh: $(tail -n 1 "$RUN/fsbench-debian.log"))"
    elif [ ! -x "$fsbench_virtiofsd" ]; then fail "$fsbench_virtiofsd not found (apt-get install -y qemu-system-common)"
    elif [ -z "$mkfs" ]; then fail "mkfs.ext4 not found (apt-get install -y e2fsprogs)"
    elif ! rm -rf "$dir" || ! mkdir -p "$dir" || ! tar -xf "$KILN_DEBIAN_TAR" -C "$dir" --numeric-owner 2>"$RUN/fsbench-prepare.log"; then
        fail "cannot unpack $KILN_DEBIAN_TAR into $dir: $(tail -n 2 "$RUN/fsbench-prepare.log")"
    else
        # ext4 of the same directory, a quarter larger than its contents.
        kib=$(du -sk "$dir" | cut -f1)
        if ! "$mkfs" -q -F -d "$dir" -L fsbench "$img" "$(( kib * 5 / 4 + 65536 ))K" >>"$RUN/fsbench-prepare.log" 2>&1; then
            fail "mkfs.ext4 -d $dir failed: $(tail -n 2 "$RUN/fsbench-prepare.log")"
        fi
    fi
    if [ -e "$RUN/results/$SCEN" ]; then rm -rf "$dir" "$img"; KILN_E2E_L2_TIMEOUT=$saved_timeout; return 0; fi
    note "fs-bench: $runs boots of each of [$variants] after a warm-up; $(find "$dir" -xdev -type f | wc -l) files, $(( $(find "$dir" -xdev -type f -print0 | du -cb --files0-from=- | tail -n 1 | cut -f1) / 1000000 )) MB in $dir; ext4 image $(( $(stat -c %s "$img") / 1048576 )) MiB"
    for v in $variants; do : >"$RUN/fsbench-$v"; : >"$RUN/fsbench-$v.read"; done
    for i in warmup $(seq 1 "$runs"); do
        for v in $variants; do
            # The warm-up (TCG translates each VMM's I/O path once) reads one small subtree.
            subtree=${KILN_FSBENCH_TREE:-/mnt}; [ "$i" = warmup ] && subtree=/mnt/etc
            case $v in
                kiln-fs) KILN_E2E_VMM=kiln; L2_SHARES=("$dir:$fsbench_tag"); script=$(fsbench_guest_script fs "$subtree")
                         [ "$nofile" = inherit ] || L2_PREFIX=(prlimit "--nofile=$nofile:$nofile") ;;
                kiln-blk) KILN_E2E_VMM=kiln; L2_DRIVES=("$img,ro"); script=$(fsbench_guest_script blk "$subtree") ;;
                qemu-fs) KILN_E2E_VMM=qemu; L2_VHOST_USER_FS="$sock:$fsbench_tag"; script=$(fsbench_guest_script fs "$subtree") ;;
            esac
            why=$(vmm_unavailable)
            if [ -n "$why" ]; then bad="$bad $v-$i(cannot run: $why)"; L2_SHARES=(); L2_DRIVES=(); L2_VHOST_USER_FS=; L2_PREFIX=(); continue; fi
            if [ "$v" = qemu-fs ] && ! fsbench_start_virtiofsd "$dir" "$sock" "$RUN/fsbench-virtiofsd-$i.log"; then
                note "fs-bench: virtiofsd did not start: $(tail -n 2 "$RUN/fsbench-virtiofsd-$i.log" | tr '\n' ' ')"
                fsbench_stop_virtiofsd; bad="$bad $v-$i(virtiofsd)"; L2_VHOST_USER_FS=; continue
            fi
            l2_boot "fsbench-$v-$i" "$KILN_VMLINUX" 1 256 "$BASE_CMDLINE kiln.exec=$(guest_script "$script") kiln.end=poweroff"
            [ "$v" = qemu-fs ] && { fsbench_stop_virtiofsd; cp "$RUN/fsbench-virtiofsd-$i.log" "$B_DIR/virtiofsd.log"; }
            L2_SHARES=(); L2_DRIVES=(); L2_VHOST_USER_FS=; L2_PREFIX=()
            grep -o 'KILN-FSBENCH-ERROR.*' "$B_DIR/console" | head -n 3 | sed "s/^/fs-bench: $v boot $i: /" | while read -r line; do note "$line"; done
            read=$(grep -o 'KILN-FSBENCH-READ.*' "$B_DIR/console" | head -n 1)
            if [ -z "$B_READY" ] || ! console_has 'KILN-TEST-DONE test=exec rc=0' || console_has 'KILN-FSBENCH-ERROR' ||
               [ "$(blkbench_values files <"$B_DIR/console" | wc -l)" != 1 ]; then
                note "fs-bench: $v boot $i: FAILED ($(boot_summary)) $read"; [ "$i" = warmup ] || bad="$bad $v-$i"; continue
            fi
            note "fs-bench: $v boot $i$([ "$i" = warmup ] && echo " (not counted)"): $(blkbench_values files <"$B_DIR/console") s, ${read#KILN-FSBENCH-READ }"
            [ "$i" = warmup ] && continue
            blkbench_values files <"$B_DIR/console" >>"$RUN/fsbench-$v"
            echo "${read#KILN-FSBENCH-READ }" >>"$RUN/fsbench-$v.read"
        done
    done
    rm -rf "$dir" "$img" "$sock"
    KILN_E2E_VMM=$saved KILN_E2E_L2_TIMEOUT=$saved_timeout
    # Every counted boot of every variant must have read the same bytes and files.
    if [ "$(cat "$RUN"/fsbench-*.read | sort -u | wc -l)" -gt 1 ]; then
        bad="$bad different-reads($(cat "$RUN"/fsbench-*.read | sort | uniq -c | tr -s ' \n' ' '))"
    fi
    local kf kb qf summary
    kf=$(median <"$RUN/fsbench-kiln-fs"); kb=$(median <"$RUN/fsbench-kiln-blk"); qf=$(median <"$RUN/fsbench-qemu-fs")
    summary="reading every file of a Debian root ($(head -n 1 "$RUN/fsbench-kiln-fs.read")), medians of $runs boots (s): kiln virtio-fs ${kf:-?} (n=$(wc -l <"$RUN/fsbench-kiln-fs")), kiln virtio-blk ext4 ${kb:-?} (n=$(wc -l <"$RUN/fsbench-kiln-blk")), QEMU microvm + virtiofsd ${qf:-?} (n=$(wc -l <"$RUN/fsbench-qemu-fs")); speed of kiln virtio-fs vs QEMU+virtiofsd $(awk -v a="$kf" -v b="$qf" 'BEGIN { if (a > 0) printf "%.2f", b / a; else print "?" }'), vs kiln virtio-blk $(awk -v a="$kf" -v b="$kb" 'BEGIN { if (a > 0) printf "%.2f", b / a; else print "?" }') (> 1: virtio-fs faster)"
    note "fs-bench: $summary"
    if [ -n "$bad" ]; then fail "incomplete:$bad; $summary"; else pass "$summary"; fi
}
