#!/usr/bin/env bash
# oci-podman: podman (conmon) with kiln-oci as its runtime, in a private mount namespace
# (scenarios-oci.sh runs this under `unshare -m`; podman-setup.sh confines podman to WORK).
#
# usage: podman.sh KILN_OCI ROOTFS IMAGE_TAR WORK     (KILN_VMLINUX, KILN_AGENT_INITRD in the environment)
# Prints `ok NAME` per check, `FAIL NAME: why` for a failed one; exit 1 if any failed.
set -u
oci=$1 rootfs=$2 archive=$3 work=$4
# shellcheck source=checks.sh
. "$(dirname "${BASH_SOURCE[0]}")/checks.sh"
default_runtime=kiln
# /tmp read-only wherever the clone lives, as L1's is when the clone lives under the host's /tmp:
# nothing on podman's path may need it (conmon's console socket for `-t` did, podman-setup.sh).
# The scenario's own directory (the rootfs, the archive, WORK), perhaps under /tmp, stays writable.
scratch=$(dirname "$work")
mkdir -p "$work"
{ mountpoint -q /tmp || mount --bind /tmp /tmp; } &&
    { case $scratch/ in /tmp/*) mount --bind "$scratch" "$scratch" ;; esac; } &&
    mount -o remount,bind,ro /tmp || { echo "FAIL read-only /tmp: cannot remount /tmp read-only"; kill $keeper; exit 1; }
# shellcheck source=podman-setup.sh
. "$(dirname "${BASH_SOURCE[0]}")/podman-setup.sh"

# The image (oci/make-image.sh: Cmd, Env, WorkingDir, User) from its OCI archive into podman's storage.
podman load -q -i "$archive" >"$work/load.out" 2>&1 || { echo "FAIL load: $(tail -n 2 "$work/load.out")"; exit 1; }
img=localhost/kiln-e2e:latest
podman image exists "$img" && ok load || { bad load "$(cat "$work/load.out")"; exit 1; }

step() {   # step NAME CMD... : stdout in $out, rc in $rc, stderr kept in $work/NAME.err
    local name=$1; shift
    rc=0
    out=$(timeout -k 5 240 "$@" 2>"$work/$name.err") || rc=$?
    touch "${KILN_E2E_PROGRESS:-/dev/null}" 2>/dev/null
}

t0=$EPOCHREALTIME
step exit podman run --rm "$img" sh -c 'echo out; echo err >&2; exit 7'
expect exit-code "7 out" "$rc $out"
echo "first run took $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }') s"

step config sh -c "echo stdin-line | podman run --rm -i $img sh -c 'read l; echo \"\$l \$FOO \$(pwd) \$(id -u):\$(id -g)\"'"
expect image-config "0 stdin-line from-image /work 1000:1000" "$rc $out"

step overrides sh -c "echo x | podman run --rm -i -e FOO=from-cli -w /tmp -u 0:0 $img sh -c 'read l; echo \"\$FOO \$(pwd) \$(id -u)\"'"
expect cli-overrides "0 from-cli /tmp 0" "$rc $out"

# What the guest applies from config.json: rlimits (--ulimit), additional gids (--group-add)
# and the hostname (--hostname), for the image's user 1000:1000.
step guest-config podman run --rm --ulimit nofile=1234:2345 --group-add 4000 --hostname kiln-h1 "$img" \
    sh -c 'echo $(ulimit -Sn) $(ulimit -Hn) $(id -G) $(hostname)'
expect rlimits-groups-hostname "0 1234 2345 1000 4000 kiln-h1" "$rc $out"

# -t: conmon gets the pty master over --console-socket; its line discipline turns \n into \r\n.
step tty podman run --rm -t "$img" echo tty-line
case "$out" in *$'tty-line\r'*) ok tty ;; *) bad tty "rc $rc, output $(printf %q "$out")" ;; esac

# The workload traps TERM: `stop` must reach it through the relay and the agent (exit 0, not
# the 137 of the kill that follows stop's timeout).
step detach podman run -d --name kiln-c1 "$img" sh -c 'trap "exit 0" TERM; sleep 600 & wait'

expect run-detached 0 "$rc"
step exec podman exec kiln-c1 sh -c 'echo exec-ok $(id -u)'
expect exec "0 exec-ok 1000" "$rc $out"
step ps podman ps --format '{{.Names}} {{.Status}}' --filter name=kiln-c1
case "$out" in "kiln-c1 Up"*) ok ps ;; *) bad ps "$out" ;; esac
step stop podman stop -t 5 kiln-c1
expect stop 0 "$rc"
step stopped-code podman inspect -f '{{.State.ExitCode}}' kiln-c1
expect stop-reached-workload "0 0" "$rc $out"
step rm podman rm kiln-c1
expect rm 0 "$rc"

step kill-run podman run -d --name kiln-c2 "$img" sleep 600
step kill podman kill kiln-c2
step wait podman wait kiln-c2
expect kill-exit-137 "0 137" "$rc $out"
step rm2 podman rm kiln-c2
expect rm-killed 0 "$rc"

# --rootfs: the directory itself is the bundle's rootfs (no image, no storage copy).
step rootfs podman run --rm -u 0:0 --rootfs "$rootfs" sh -c 'echo rootfs-ok; touch /new-file && echo wrote'
expect rootfs "0 rootfs-ok
wrote" "$rc $out"
[ ! -e "$rootfs/new-file" ] && ok rootfs-unchanged || bad rootfs-unchanged "the write reached the host directory"

# podman's own default network (the `podman` CNI network of /etc/cni/net.d, 10.88.0.0/16 on
# the cni-podman0 bridge, masqueraded): kiln-oci hands the veth's address to the guest, which
# fetches a file from an HTTP server on this side, at the bridge's gateway. host-local keeps its
# leases in /var/lib/cni, which L1's read-only root lacks: a tmpfs on /var/lib (this namespace only).
mount -t tmpfs -o mode=0755 tmpfs /var/lib || { echo "FAIL /var/lib: cannot mount a tmpfs"; exit 1; }
mkdir -p "$work/www" && echo "from-the-host-$$" >"$work/www/file"
busybox httpd -f -p 0.0.0.0:18088 -h "$work/www" & httpd=$!
# `timeout`, not wget's -T, which segfaults in Debian's static busybox.
step network podman run --rm --network bridge "$img" sh -c "timeout 30 wget -q -O - http://10.88.0.1:18088/file || { ip addr; ip route; }"
kill $httpd 2>/dev/null
expect bridge-network-reaches-host "0 from-the-host-$$" "$rc $out"

step leftovers podman ps -a -q
expect no-containers-left "0 " "$rc $out"
kill $keeper 2>/dev/null
[ "$failed" = 0 ] || save_consoles
exit $failed
