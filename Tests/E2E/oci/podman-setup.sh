# Sourced by oci/podman.sh and oci/bench.sh (run under `unshare -m`): podman confined to $work
# (storage, run root, tmp, events, libpod tmp; L1's root is the host's, read-only), cgroup2 on
# /sys/fs/cgroup for the cgroupfs manager, runtimes "kiln" ($oci) and "runc", the default
# `$default_runtime`. conmon passes conmon_env_vars on to the runtime: that is how kiln-oci gets
# the guest kernel and agent initramfs here (no `kiln setup` on a read-only root). conmon gets
# TMPDIR there too: podman 4.3 does not pass its own on to conmon, and for `-t` conmon binds its console socket
# (conmon-term.XXXXXX) in $TMPDIR or /tmp, which is read-only in L1 when the clone lives under
# the host's /tmp ("container create failed (no logs from conmon)", for runc as for kiln-oci).
# Needs: work oci default_runtime KILN_VMLINUX KILN_AGENT_INITRD.
mountpoint -q /sys/fs/cgroup || mount -t cgroup2 none /sys/fs/cgroup || { echo "FAIL cgroup2: cannot mount"; exit 1; }
mkdir -p "$work"/{storage,runroot,tmp,libpod}
# L1's chroot has no devpts on /dev/pts (its /dev is a bind made before that mount), so
# /dev/ptmx opens nothing (ENODEV): kiln-oci's pty for `-t` needs one.
mountpoint -q /dev/pts || mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts ||
    { echo "FAIL /dev/pts: cannot mount devpts"; exit 1; }
# podman load unpacks an OCI archive in /var/tmp whatever TMPDIR and image_copy_tmp_dir say.
mount -t tmpfs -o mode=1777 tmpfs /var/tmp || { echo "FAIL /var/tmp: cannot mount a tmpfs"; exit 1; }
cat >"$work/containers.conf" <<EOF
[containers]
# podman's default nofile limit is above this machine's hard limit (DESIGN.md)
default_ulimits = []
netns = "none"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$work/events.log"
image_copy_tmp_dir = "$work/tmp"
tmp_dir = "$work/libpod"
runtime = "$default_runtime"
conmon_env_vars = ["TMPDIR=$work/tmp", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "KILN_VMLINUX=$KILN_VMLINUX", "KILN_AGENT_INITRD=$KILN_AGENT_INITRD"]
[engine.runtimes]
kiln = ["$oci"]
runc = ["$(command -v runc)"]
EOF
cat >"$work/storage.conf" <<EOF
[storage]
driver = "vfs"
graphroot = "$work/storage"
runroot = "$work/runroot"
EOF
export CONTAINERS_CONF=$work/containers.conf CONTAINERS_STORAGE_CONF=$work/storage.conf TMPDIR=$work/tmp
