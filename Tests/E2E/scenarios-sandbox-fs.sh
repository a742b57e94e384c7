# Shared host directories (`kiln run -v HOST:GUEST`, virtio-fs), sourced by scenarios.sh after
# scenarios-sandbox.sh (it uses sx, sx_expect and sandbox_prereqs from there).
#
# sandbox-share: a host directory with a file, a subdirectory and three symlinks planted to
# lead out (to /etc/shadow, to ../.. and to an absolute host directory) is shared at /mnt/host:
# the guest reads the file and lists the directory as the host has it, a write, a new file, a
# mkdir, a chmod and a rm there all fail (read-only), and no symlink reaches a host file
# outside the share (the guest resolves them in its own tree, where the targets are the
# guest's, not the host's); afterwards the host directory is exactly as before (sha256 of a
# listing with modes and contents). As root with kiln-jailer next to $KILN the VMM is jailed,
# so this also covers the read-only bind mount into the jail.
ALL_SCENARIOS="$ALL_SCENARIOS sandbox-share"

sandbox_share_snapshot() {   # a listing of the tree with modes, link targets and contents
    (cd "$1" && find . -printf '%p %m %y %l\n' | sort && find . -type f -print0 | sort -z | xargs -0 sha256sum) | sha256sum
}

scenario_sandbox-share() {
    local -x TMPDIR=$E2E_LOCAL_TMP
    sandbox_prereqs || return 0
    B_DIR=$RUN/boots/sandbox-share
    rm -rf "$B_DIR"; mkdir -p "$B_DIR"
    SX_FAILED=
    SX_TIMEOUT=$KILN_E2E_L2_TIMEOUT
    SX_RETRY_TRIPLE=1
    # In local scratch, readable by the jailed VMM's uid (65534): others may read and search.
    local share=$E2E_LOCAL_TMP/kiln-e2e-share.$$ secret=$E2E_LOCAL_TMP/kiln-e2e-secret.$$
    rm -rf "$share" "$secret"; mkdir -p "$share/sub" "$secret"
    chmod 0755 "$share" "$share/sub"
    printf 'host-file-%s\n' "$$" >"$share/file"; chmod 0644 "$share/file"
    echo nested >"$share/sub/inner"; chmod 0644 "$share/sub/inner"
    echo "host-secret-$$" >"$secret/token"; chmod 0644 "$secret/token"
    ln -s /etc/shadow "$share/shadow"
    ln -s ../.. "$share/up"
    ln -s "$secret" "$share/abs"
    local before; before=$(sandbox_share_snapshot "$share")
    SX_CLIENT=("$KILN" run --kernel "$KILN_VMLINUX" --rootfs "$KILN_SANDBOX_ROOTFS" -v "$share:/mnt/host")

    sx_out read "host-file-$$" cat /mnt/host/file
    sx_out nested nested cat /mnt/host/sub/inner
    sx_out list "abs,file,shadow,sub,up" sh -c 'ls -A /mnt/host | tr "\n" "," | sed "s/,$//"'
    sx_out mount-ro "ro" sh -c 'grep " /mnt/host virtiofs " /proc/mounts | cut -d" " -f4 | tr , "\n" | grep -x ro'
    sx_out link-text "/etc/shadow" readlink /mnt/host/shadow
    # Every write refused: the shell's redirection, a new file, mkdir, chmod, rm, rename.
    sx_out writes "refused,refused,refused,refused,refused,refused," sh -c '
        for op in "echo x > /mnt/host/new" "echo x >> /mnt/host/file" "mkdir /mnt/host/d" "chmod 777 /mnt/host/file" \
                  "rm /mnt/host/file" "mv /mnt/host/file /mnt/host/moved"; do
            if sh -c "$op" 2>/dev/null; then printf "done,"; else printf "refused,"; fi
        done'
    # The links resolve in the guest: nothing of the host's /etc/shadow or of $secret comes in.
    sx_out escape "none" sh -c '
        found=none
        for f in /mnt/host/shadow /mnt/host/up/etc/shadow /mnt/host/abs/token /mnt/host/up/'"${secret#/}"'/token; do
            if grep -qs "host-secret-'"$$"'" "$f"; then found=$f; fi
        done
        echo $found'
    local after; after=$(sandbox_share_snapshot "$share")
    sx_expect host-unchanged "tree sha256" "$after" "$before"
    [ ! -e "$share/new" ] && [ ! -e "$share/d" ] || SX_FAILED="$SX_FAILED host(new files appeared)"
    # A bad -v is one line and exit 125, before any VM.
    local rc=0
    "$KILN" run --kernel "$KILN_VMLINUX" --rootfs "$KILN_SANDBOX_ROOTFS" -v "$share:/mnt/../etc" -- true \
        </dev/null >/dev/null 2>"$B_DIR/bad.err" || rc=$?
    sx_expect bad-volume "exit, lines" "$rc $(wc -l <"$B_DIR/bad.err")" "125 1"
    rm -rf "$share" "$secret"
    if [ -n "$SX_FAILED" ]; then fail "kiln run -v:$SX_FAILED"; return 0; fi
    pass "kiln run -v DIR:/mnt/host$( [ "$(id -u)" = 0 ] && [ -x "$(dirname "$KILN")/kiln-jailer" ] && echo ' (jailed VMM)'): file read, nested file read, listing right, mounted ro, 6 kinds of write refused, symlinks to /etc/shadow, ../.. and a host directory reach nothing of the host, host tree unchanged, bad -v exit 125"
}
