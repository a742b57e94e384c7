#!/usr/bin/env bash
# The oci-podman and oci-containerd test image: ROOTFS (the busybox rootfs) as the one layer of
# an OCI layout made with umoci, with Cmd sh, Env FOO=from-image, WorkingDir /work and User
# 1000:1000, tagged kiln-e2e and written as an OCI archive (a tar of the layout) to OUT. The
# layer holds /work (`kiln run --image` in oci-bench needs it); oci-containerd gives `ctr run`
# a working directory that is not in the layer.
# usage: make-image.sh ROOTFS OUT.tar
set -eu
rootfs=$1 out=$2
layout=$(mktemp -d "${TMPDIR:-/tmp}/kiln-e2e-layout.XXXXXX")
trap 'rm -rf "$layout"' EXIT
umoci init --layout "$layout/l"
umoci new --image "$layout/l:kiln-e2e"
mkdir -p "$layout/work"
umoci insert --image "$layout/l:kiln-e2e" "$rootfs" / >/dev/null
umoci insert --image "$layout/l:kiln-e2e" "$layout/work" /work >/dev/null
umoci config --image "$layout/l:kiln-e2e" --config.cmd sh --config.workingdir /work --config.env FOO=from-image \
    --config.env PATH=/bin:/sbin --config.user 1000:1000
tar -C "$layout/l" -cf "$out" .
