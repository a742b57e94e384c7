# Images (issue 15): an OCI image built from Debian packages by Tests/E2E/images/prepare.sh on the
# host (no KVM needed there: pulled from a docker-registry on 127.0.0.1, from oci: and from
# docker-archive: into the store $KILN_IMAGE_STORE), run here with `kiln run --image`.
ALL_SCENARIOS="$ALL_SCENARIOS images-run images-user"

# images-run: the image's config (Env, WorkingDir, User by name, Cmd), --env/--workdir/--user/
# --entrypoint overrides, whiteouts and an opaque directory, ownership and modes, a symlink, a
# hard link and an xattr as the layers put them, python3 from the Debian base, the image run by
# its registry, oci: and docker-archive: names, `kiln create --image` + `kiln exec` (the image's
# config on each command) + `kiln rm`, two concurrent runs, the stored image unchanged
# afterwards, and `kiln run` without --image on kiln's default image (python3, the CA bundle).
scenario_images-run() {
    local -x TMPDIR=$E2E_LOCAL_TMP
    sandbox_prereqs || return 0
    if [ -z "${KILN_E2E_IMAGE_REF:-}" ] || [ -z "${KILN_IMAGE_STORE:-}" ]; then
        fail "no test image: the host-side preparation failed (${KILN_E2E_IMAGE_PREP_ERROR:-see images-prepare.log in the run directory})"; return 0
    fi
    if [ -z "${KILN_AGENT_INITRD:-}" ] || [ ! -f "$KILN_AGENT_INITRD" ]; then
        fail "no agent initramfs (KILN_AGENT_INITRD='${KILN_AGENT_INITRD:-}'): Rootfs/build-agent-initrd.sh"; return 0
    fi
    export KILN_IMAGE_STORE KILN_AGENT_INITRD
    B_DIR=$RUN/boots/images-run
    rm -rf "$B_DIR"; mkdir -p "$B_DIR"
    local image rootfs before after rc slow name=e2e-image-$$
    image=$KILN_E2E_IMAGE_REF
    rootfs=$KILN_IMAGE_STORE/images/$KILN_E2E_IMAGE_ID/rootfs.ext4
    before=$(sha256sum <"$rootfs")
    SX_FAILED=
    SX_TIMEOUT=$KILN_E2E_L2_TIMEOUT
    SX_CLIENT=("$KILN" run --kernel "$KILN_VMLINUX" --image "$image")
    SX_RETRY_TRIPLE=1
    # No command: the image's Cmd, as its User (kilnuser:kilngroup = 1500:1600) in its WorkingDir.
    sx cmd 0 --
    sx_expect cmd output "$(cat "$B_DIR/cmd.out")" "cmd-ran as 1500:1600 in /opt/kiln-test"
    sx config 0 -- -- sh -c 'echo "$GREETING $(pwd) $(id -un):$(id -gn)"'
    sx_expect config output "$(cat "$B_DIR/config.out")" "hello-image /opt/kiln-test kilnuser:kilngroup"
    sx overrides 0 -- --env GREETING=override --workdir /tmp --user 0:0 -- sh -c 'echo "$GREETING $(pwd) $(id -u):$(id -g)"'
    sx_expect overrides output "$(cat "$B_DIR/overrides.out")" "override /tmp 0:0"
    sx entrypoint 0 -- --entrypoint /bin/echo -- from-entrypoint
    sx_expect entrypoint output "$(cat "$B_DIR/entrypoint.out")" "from-entrypoint"
    sx python 0 -- --user 0 -- python3 -c 'print(6*7)'
    sx_expect python output "$(cat "$B_DIR/python.out")" "42"
    sx layers 0 -- --user 0 -- sh -c '
        for p in /etc/motd /usr/share/doc; do [ -e "$p" ] && echo "present:$p"; done
        ls /usr/share/common-licenses | tr "\n" " "
        stat -c "%n %u:%g %a" /opt/kiln-test/owned /opt/kiln-test/suid /opt/kiln-test/sgid-dir /opt/kiln-test/sticky /home/kilnuser
        readlink /opt/kiln-test/link
        stat -c "%i" /opt/kiln-test/owned /opt/kiln-test/hard | uniq | wc -l
        cat /opt/kiln-test/hard
        python3 -c "import os; print(os.getxattr(\"/opt/kiln-test/capable\", \"user.kiln\").decode())"'
    sx_expect layers listing "$(tr '\n' '|' <"$B_DIR/layers.out")" \
        "KILN /opt/kiln-test/owned 1234:5678 640|/opt/kiln-test/suid 0:0 4755|/opt/kiln-test/sgid-dir 0:1600 2775|/opt/kiln-test/sticky 0:0 1777|/home/kilnuser 1500:1600 750|owned|1|owned by 1234:5678|e2e|"
    # The docker-archive: pull of the same image (its own config digest) runs the same way.
    SX_CLIENT=("$KILN" run --kernel "$KILN_VMLINUX" --image "$KILN_E2E_ARCHIVE_REF")
    sx archive 0 -- -- sh -c 'echo "$GREETING $(id -un)"; stat -c "%u:%g %a" /opt/kiln-test/owned'
    sx_expect archive output "$(tr '\n' ' ' <"$B_DIR/archive.out")" "hello-image kilnuser 1234:5678 640 "
    # The oci: name of the registry's image (one image id: nothing is pulled again).
    SX_CLIENT=("$KILN" run --kernel "$KILN_VMLINUX" --image "$KILN_E2E_OCI_REF")
    sx oci 0 -- -- sh -c 'echo "$GREETING $(id -un)"'
    sx_expect oci output "$(cat "$B_DIR/oci.out")" "hello-image kilnuser"
    # kiln create --image records the image; kiln exec applies its config to each command (the
    # options on top); kiln rm ends the sandbox.
    rc=0
    timeout -k 5 "$SX_TIMEOUT" "$KILN" create --name "$name" --kernel "$KILN_VMLINUX" --image "$image" \
        </dev/null >"$B_DIR/create.out" 2>"$B_DIR/create.err" || rc=$?
    sx_expect create "exit, stdout" "$rc $(cat "$B_DIR/create.out")" "0 $name"
    SX_CLIENT=("$KILN" exec "$name")
    SX_RETRY_TRIPLE=
    sx exec-config 0 -- -- sh -c 'echo "$GREETING $(pwd) $(id -un):$(id -gn)"'
    sx_expect exec-config output "$(cat "$B_DIR/exec-config.out")" "hello-image /opt/kiln-test kilnuser:kilngroup"
    sx exec-overrides 0 -- --env GREETING=again --workdir / --user 0 -- sh -c 'echo "$GREETING $(pwd) $(id -u)"'
    sx_expect exec-overrides output "$(cat "$B_DIR/exec-overrides.out")" "again / 0"
    rc=0; timeout -k 5 60 "$KILN" rm "$name" </dev/null >"$B_DIR/rm.out" 2>"$B_DIR/rm.err" || rc=$?
    sx_expect rm "exit, rows left in kiln ls" "$rc $("$KILN" ls | awk -v n="$name" '$1 == n' | wc -l)" "0 0"
    SX_RETRY_TRIPLE=1
    SX_CLIENT=("$KILN" run --kernel "$KILN_VMLINUX" --image "$image")
    # Writes go to the overlay: two runs at once on the one image, each seeing only its own.
    timeout -k 5 "$SX_TIMEOUT" "${SX_CLIENT[@]}" --user 0 -- sh -c 'echo one >/etc/marker; sleep 1; cat /etc/marker' \
        </dev/null >"$B_DIR/concurrent1.out" 2>"$B_DIR/concurrent1.err" & slow=$!
    sx concurrent2 0 -- --user 0 -- sh -c 'echo two >/etc/marker; sleep 1; cat /etc/marker'
    rc=0; wait "$slow" || rc=$?
    sx_expect concurrent "outputs and exits" "$(cat "$B_DIR/concurrent1.out") $rc $(cat "$B_DIR/concurrent2.out")" "one 0 two"
    after=$(sha256sum <"$rootfs")
    [ "$before" = "$after" ] || SX_FAILED="$SX_FAILED image(changed)"
    # No --image, no --rootfs (job.env's KILN_SANDBOX_ROOTFS is not exported): the default image.
    if [ -n "${KILN_DEFAULT_IMAGE:-}" ]; then
        SX_CLIENT=("$KILN" run --kernel "$KILN_VMLINUX")
        sx default 0 -- -- sh -c 'python3 -c "print(6*7)"; grep -c "BEGIN CERTIFICATE" /etc/ssl/certs/ca-certificates.crt'
        sx_expect default "python3, CA certificates" "$(awk 'NR == 1 { p = $0 } NR == 2 { c = ($1 > 100) ? "ca-ok" : "ca-" $1 } END { print p, c }' "$B_DIR/default.out")" "42 ca-ok"
    else
        SX_FAILED="$SX_FAILED default(no default image: Rootfs/build-default-image.sh failed, see default-image.log)"
    fi
    if [ -n "$SX_FAILED" ]; then fail "kiln run --image:$SX_FAILED"; return 0; fi
    pass "kiln run --image $image (pulled by registry reference and oci: to one image id, run by both names; the docker-archive: pull, its own config, runs too): Cmd as kilnuser:kilngroup in WorkingDir, Env, overrides, --entrypoint, python3, whiteouts + opaque dir, ownership/setuid/setgid/sticky, symlink, hard link, xattr, 2 concurrent runs; image unchanged; kiln create --image + exec (image config, overrides) + rm; kiln run without --image: the default image's python3 prints 42, its CA bundle is there"
}

# images-user: `kiln run --image` as an ordinary user (uid/gid 65534, /dev/kvm through its
# group), not root: no jail, its state under its own XDG directories and $TMPDIR, the image
# from a store it may only read (the run's store, bind-mounted read-only where that user can
# reach it, as a system-wide /var/lib/kiln would be). The image's config, its ownership and
# modes, an exit code passed through, kiln's own failure as 125, nothing left behind.
scenario_images-user() {
    sandbox_prereqs || return 0
    if [ -z "${KILN_E2E_IMAGE_REF:-}" ] || [ -z "${KILN_IMAGE_STORE:-}" ]; then
        fail "no test image: the host-side preparation failed (${KILN_E2E_IMAGE_PREP_ERROR:-see images-prepare.log in the run directory})"; return 0
    fi
    command -v setpriv >/dev/null || { fail "setpriv (util-linux) not found"; return 0; }
    [ -c /dev/kvm ] || { fail "no /dev/kvm in L1"; return 0; }
    B_DIR=$RUN/boots/images-user
    rm -rf "$B_DIR"; mkdir -p "$B_DIR"
    local u=$E2E_LOCAL_TMP/images-user-$$ m rc kvm_group
    mkdir -p "$u/bin" "$u/home" "$u/store" "$u/kernel" "$u/agent"
    cp "$KILN" "$u/bin/kiln"
    chmod 755 "$u" "$u/bin" "$u/bin/kiln"
    chown 65534:65534 "$u/home"; chmod 700 "$u/home"
    # Read-only bind mounts: the user reaches them without traversing root's home.
    for m in "$KILN_IMAGE_STORE:$u/store" "$(dirname "$KILN_VMLINUX"):$u/kernel" "$(dirname "$KILN_AGENT_INITRD"):$u/agent"; do
        mount --bind "${m%%:*}" "${m#*:}" && mount -o remount,ro,bind "${m#*:}" || {
            fail "cannot bind-mount ${m%%:*} read-only at ${m#*:}"; images_user_cleanup "$u"; return 0; }
    done
    # /dev/kvm by its group, as udev sets it up on a host (root:kvm 0660). L1's own devtmpfs
    # has no udev: there (only there) the node gets that group and mode.
    if [ "$(( 0$(stat -c %a /dev/kvm) & 060 ))" != 48 ] || [ "$(stat -c %g /dev/kvm)" = 0 ]; then
        if [ "${KILN_E2E_IN_L1:-}" = 1 ]; then
            kvm_group=$(getent group kvm | cut -d: -f3)
            chgrp "${kvm_group:-65534}" /dev/kvm && chmod 660 /dev/kvm
        else
            fail "/dev/kvm ($(stat -c '%U:%G %a' /dev/kvm)) is not open to a group: this host's /dev/kvm is not changed by a test"
            images_user_cleanup "$u"; return 0
        fi
    fi
    kvm_group=$(stat -c %g /dev/kvm)
    images_user_kiln() {   # images_user_kiln NAME ARGS...: kiln as 65534, stdout/stderr in $B_DIR/NAME.*
        local name=$1; shift
        touch "$RUN/progress"
        timeout -k 5 "$KILN_E2E_L2_TIMEOUT" setpriv --reuid=65534 --regid=65534 --groups="$kvm_group" --inh-caps=-all \
            env -i PATH=/usr/bin:/bin HOME="$u/home" XDG_DATA_HOME="$u/home/data" XDG_STATE_HOME="$u/home/state" \
                XDG_RUNTIME_DIR="$u/home/run" TMPDIR="$u/home/tmp" KILN_IMAGE_STORE="$u/store" \
                KILN_AGENT_INITRD="$u/agent/$(basename "$KILN_AGENT_INITRD")" \
            "$u/bin/kiln" "$@" </dev/null >"$B_DIR/$name.out" 2>"$B_DIR/$name.err"
    }
    setpriv --reuid=65534 --regid=65534 --clear-groups mkdir -m 700 "$u/home/run" "$u/home/tmp"
    SX_FAILED=
    local kernel=$u/kernel/$(basename "$KILN_VMLINUX")
    rc=0; images_user_kiln config run --kernel "$kernel" --image "$KILN_E2E_IMAGE_REF" -- sh -c \
        'echo "$GREETING $(pwd) $(id -un):$(id -gn)"; stat -c "%u:%g %a" /opt/kiln-test/owned /opt/kiln-test/suid; exit 7' || rc=$?
    sx_expect config "exit, output" "$rc $(tr '\n' '|' <"$B_DIR/config.out")" \
        "7 hello-image /opt/kiln-test kilnuser:kilngroup|1234:5678 640|0:0 4755|"
    rc=0; images_user_kiln missing run --kernel "$kernel" --image "oci:$u/no-such-layout:x" -- true || rc=$?
    # Not in the store, which this user may only read: no pull is tried, one line says why.
    sx_expect missing "exit, lines on stderr, the store named not writable" \
        "$rc $(wc -l <"$B_DIR/missing.err") $(grep -c "image store $u/store is not writable" "$B_DIR/missing.err")" "125 1 1"
    rc=0; images_user_kiln images images || rc=$?
    sx_expect images "exit, the image listed" "$rc $(awk -v n="${KILN_E2E_IMAGE_REF%:*}" '$1 == n' "$B_DIR/images.out" | wc -l)" "0 1"
    # Nothing left: no run directory, no temporary file; the store unchanged (read-only anyway).
    local leftovers
    leftovers=$(find "$u/home/run" "$u/home/tmp" -mindepth 1 2>/dev/null | head -n 5 | tr '\n' ' ')
    sx_expect leftovers "files left in XDG_RUNTIME_DIR and TMPDIR" "$leftovers" ""
    images_user_cleanup "$u"
    if [ -n "$SX_FAILED" ]; then fail "kiln run --image as uid 65534:$SX_FAILED (see $B_DIR)"; return 0; fi
    pass "kiln run --image as uid 65534 (no root, no jail; /dev/kvm by group; XDG state and TMPDIR its own; the store read-only): the image's Env, WorkingDir and User, ownership 1234:5678 640 and setuid 4755 as converted, exit 7 passed through; an image not in the store: one line naming the store not writable, exit 125; kiln images lists the image; nothing left behind"
}

images_user_cleanup() {
    local m
    for m in store kernel agent; do umount "$1/$m" 2>/dev/null || true; done
    rm -rf "$1"
}

# images-bench (EXTRA_SCENARIOS; issue 15's benchmark): interleaved rounds of `kiln run --image
# TEST -- true` (the Debian test image through the agent initramfs), `kiln run -- true` on the
# built-in busybox sandbox image (agent as its /sbin/init) and a plain `kiln boot` of the same
# kernel to /init; medians, the image run against the plain boot, and image-ms (the host-side
# cost of finding the cached image and shaping the job).
EXTRA_SCENARIOS="$EXTRA_SCENARIOS images-bench"
images_bench_ms_since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f\n", (b - a) * 1000 }'; }
images_bench_ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
# images_bench_variant NAME ROUND: one run of a variant; its time appended to $dir/NAME (and
# NAME-wall), or NAME+ROUND to $bad. Uses the scenario's locals (dir, kernel, image_cmd, ...).
# wall: the whole command as a user waits for it (kiln's start, the image lookup, the VM's end);
# total-ms is kiln's own measure from its run directory to the VM's end.
images_bench_variant() {
    local name=$1 i=$2 t=$EPOCHREALTIME line
    case $name in
        image|builtin)
            local cmd=("${image_cmd[@]}")
            [ "$name" = builtin ] && cmd=("${builtin_cmd[@]}")
            if timeout -k 5 "$KILN_E2E_L2_TIMEOUT" "${cmd[@]}" </dev/null >/dev/null 2>"$dir/$name$i.err"; then
                images_bench_ms_since "$t" >>"$dir/$name-wall"
                line=$(grep 'timing:' "$dir/$name$i.err")
                echo "$line" | sed -n 's/.*total-ms \([0-9.]*\).*/\1/p' >>"$dir/$name"
                [ "$name" = image ] && echo "$line" | sed -n 's/.*image-ms \([0-9.]*\).*/\1/p' >>"$dir/image-ms"
                note "images-bench: $name run $i: wall $(tail -n 1 "$dir/$name-wall") ms; $line"
            else bad="$bad $name$i"; fi ;;
        # The plain boot prints the kernel's log on the serial console, as every plain boot in
        # this harness does (each byte an exit); kiln run's guest is quiet, so the same boot
        # with `quiet` is measured too.
        plain|plain-quiet)
            local cmdline
            cmdline=$(test_cmdline ready)
            [ "$name" = plain-quiet ] && cmdline="$cmdline quiet"
            l2_boot "images-bench-$name-$i" "$kernel" 1 128 "$cmdline"
            if [ -n "$B_READY" ]; then echo "$B_READY" | awk '{ print $1 * 1000 }' >>"$dir/$name"; else bad="$bad $name$i"; fi ;;
    esac
}
scenario_images-bench() {
    local -x TMPDIR=$E2E_LOCAL_TMP
    sandbox_prereqs || return 0
    if [ -z "${KILN_E2E_IMAGE_REF:-}" ] || [ -z "${KILN_AGENT_INITRD:-}" ]; then
        fail "no test image or agent initramfs (${KILN_E2E_IMAGE_PREP_ERROR:-see images-prepare.log})"; return 0
    fi
    local runs=${KILN_IMAGES_BENCH_RUNS:-7} i line bad= dir=$RUN/boots/images-bench
    mkdir -p "$dir"
    # Guest files on 9p are an artefact of this harness that no host has: L1 mounts the run
    # directory (where prepare.sh put the store) without a page cache, so every block the guest
    # read from the image was a round trip to L0, and an initramfs mapped from the host root's
    # share cost its VMM ~300 ms more set-up from the second boot on (the same file from L1's
    # tmpfs: ~100 ms each time). So every variant boots from copies in L1's local scratch: the
    # kernel, the agent initramfs, the plain boot's initramfs, the busybox image and the store
    # (its names and converted images; no blobs).
    local stage=$E2E_LOCAL_TMP/images-bench
    rm -rf "$stage"; mkdir -p "$stage/store"
    if ! cp "$KILN_VMLINUX" "$stage/vmlinux" || ! cp "$KILN_AGENT_INITRD" "$stage/agent-initrd.cpio" ||
       ! cp "$KILN_INITRAMFS" "$stage/initramfs.cpio.gz" || ! cp --sparse=always "$KILN_SANDBOX_ROOTFS" "$stage/sandbox.ext4" ||
       ! cp -a --sparse=always "$KILN_IMAGE_STORE/refs" "$KILN_IMAGE_STORE/images" "$stage/store/"; then
        fail "cannot copy the guest files to $stage"; rm -rf "$stage"; return 0
    fi
    local -x KILN_IMAGE_STORE=$stage/store KILN_AGENT_INITRD=$stage/agent-initrd.cpio
    local KILN_INITRAMFS=$stage/initramfs.cpio.gz kernel=$stage/vmlinux
    : >"$dir/image"; : >"$dir/image-wall"; : >"$dir/builtin"; : >"$dir/builtin-wall"; : >"$dir/plain"; : >"$dir/plain-quiet"; : >"$dir/image-ms"
    local image_cmd=("$KILN" run --kernel "$kernel" --image "$KILN_E2E_IMAGE_REF" --report-timing -- true)
    local builtin_cmd=("$KILN" run --kernel "$kernel" --rootfs "$stage/sandbox.ext4" --report-timing -- true)
    timeout -k 5 "$KILN_E2E_L2_TIMEOUT" "${image_cmd[@]}" </dev/null >/dev/null 2>"$dir/warmup.err" ||
        { fail "warm-up kiln run --image failed: $(tail -c 300 "$dir/warmup.err")"; rm -rf "$stage"; return 0; }
    # The order changes each round as a balanced Latin square (Williams): over four rounds each
    # variant runs once in each place. Which VM ran just before decides a boot's time here: a VM
    # started right after a plain `kiln boot` (verbose or quiet, jailed or not, with a 2 s pause
    # or not) is ~300-400 ms slower, whichever it is. With the kernel and initramfs copied into
    # fresh guest memory, the VMM's `load` step takes it (~280-500 instead of ~100-150 ms); with
    # them mapped instead (tried 2026-12-07), `load` took 6-35 ms and the guest took the same
    # cost itself (README, images). It is an artefact of L0's emulation (a host has none), and
    # the Latin square alone charged it to the image run in half its rounds and to the quiet
    # plain boot in a quarter (a plain kind cannot follow itself). So every measured boot
    # follows the same kind of VM: a spacer `kiln run --image -- true`, not timed, runs before
    # each one (KILN_IMAGES_BENCH_SPACER=0 leaves them out).
    local variants=(image builtin plain plain-quiet) orders=("0 1 3 2" "1 2 0 3" "2 3 1 0" "3 0 2 1") k
    for i in $(seq 1 "$runs"); do
        for k in ${orders[$(( (i - 1) % 4 ))]}; do
            if [ "${KILN_IMAGES_BENCH_SPACER:-1}" = 1 ] &&
               ! timeout -k 5 "$KILN_E2E_L2_TIMEOUT" "${image_cmd[@]}" </dev/null >/dev/null 2>"$dir/spacer.err"; then
                note "images-bench: a spacer run failed: $(tail -c 200 "$dir/spacer.err")"
            fi
            images_bench_variant "${variants[$k]}" "$i"
        done
    done
    local image image_wall builtin builtin_wall plain plain_quiet ims
    image=$(median <"$dir/image"); image_wall=$(median <"$dir/image-wall"); builtin=$(median <"$dir/builtin")
    builtin_wall=$(median <"$dir/builtin-wall"); plain=$(median <"$dir/plain"); plain_quiet=$(median <"$dir/plain-quiet")
    ims=$(median <"$dir/image-ms")
    local spacing="each boot after a spacer kiln run"
    [ "${KILN_IMAGES_BENCH_SPACER:-1}" = 1 ] || spacing="no spacers"
    local summary="medians of $(wc -l <"$dir/image") rounds ($spacing; wall / kiln's total-ms): kiln run --image (Debian test image) -- true ${image_wall} / ${image} ms, kiln run -- true (busybox sandbox image) ${builtin_wall} / ${builtin} ms, plain kiln boot to /init ${plain} ms (quiet: ${plain_quiet} ms); image/plain $(images_bench_ratio "$image_wall" "$plain") wall, $(images_bench_ratio "$image" "$plain") total-ms; image/plain-quiet $(images_bench_ratio "$image_wall" "$plain_quiet") wall, $(images_bench_ratio "$image" "$plain_quiet") total-ms; image/builtin $(images_bench_ratio "$image" "$builtin"); image-ms (store lookup + config) ${ims}"
    note "images-bench: $summary"
    rm -rf "$stage"
    if [ -n "$bad" ]; then fail "incomplete:$bad; $summary"; else pass "$summary"; fi
}
