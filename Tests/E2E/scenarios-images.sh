# Images (issue 15): an OCI image built from Debian packages by Tests/E2E/images/prepare.sh on the
# host (no KVM needed there: pulled from a docker-registry on 127.0.0.1, from oci: and from
# docker-archive: into the store $KILN_IMAGE_STORE), run here with `kiln run --image`.
ALL_SCENARIOS="$ALL_SCENARIOS images-run"

# images-run: the image's config (Env, WorkingDir, User by name, Cmd), --env/--workdir/--user/
# --entrypoint overrides, whiteouts and an opaque directory, ownership and modes, a symlink, a
# hard link and an xattr as the layers put them, python3 from the Debian base, two concurrent
# runs, and the stored image unchanged afterwards.
scenario_images-run() {
    local -x TMPDIR=/tmp
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
    local image rootfs before after rc slow
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
        cat /opt/kiln-test/hard'
    sx_expect layers listing "$(tr '\n' '|' <"$B_DIR/layers.out")" \
        "KILN /opt/kiln-test/owned 1234:5678 640|/opt/kiln-test/suid 0:0 4755|/opt/kiln-test/sgid-dir 0:1600 2775|/opt/kiln-test/sticky 0:0 1777|/home/kilnuser 1500:1600 750|owned|1|owned by 1234:5678|"
    # The docker-archive: pull of the same image (its own config digest) runs the same way.
    SX_CLIENT=("$KILN" run --kernel "$KILN_VMLINUX" --image "$KILN_E2E_ARCHIVE_REF")
    sx archive 0 -- -- sh -c 'echo "$GREETING $(id -un)"; stat -c "%u:%g %a" /opt/kiln-test/owned'
    sx_expect archive output "$(tr '\n' ' ' <"$B_DIR/archive.out")" "hello-image kilnuser 1234:5678 640 "
    SX_CLIENT=("$KILN" run --kernel "$KILN_VMLINUX" --image "$image")
    # Writes go to the overlay: two runs at once on the one image, each seeing only its own.
    timeout -k 5 "$SX_TIMEOUT" "${SX_CLIENT[@]}" --user 0 -- sh -c 'echo one >/etc/marker; sleep 1; cat /etc/marker' \
        </dev/null >"$B_DIR/concurrent1.out" 2>"$B_DIR/concurrent1.err" & slow=$!
    sx concurrent2 0 -- --user 0 -- sh -c 'echo two >/etc/marker; sleep 1; cat /etc/marker'
    rc=0; wait "$slow" || rc=$?
    sx_expect concurrent "outputs and exits" "$(cat "$B_DIR/concurrent1.out") $rc $(cat "$B_DIR/concurrent2.out")" "one 0 two"
    after=$(sha256sum <"$rootfs")
    [ "$before" = "$after" ] || SX_FAILED="$SX_FAILED image(changed)"
    if [ -n "$SX_FAILED" ]; then fail "kiln run --image:$SX_FAILED"; return 0; fi
    pass "kiln run --image $image (pulled by registry reference, oci: and docker-archive: to one image): Cmd as kilnuser:kilngroup in WorkingDir, Env, overrides, --entrypoint, python3, whiteouts + opaque dir, ownership/setuid/setgid/sticky, symlink, hard link, 2 concurrent runs; image unchanged"
}
