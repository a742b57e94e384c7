#!/usr/bin/env bash
# Host side of the images E2E scenario (no KVM needed, so it runs outside the emulated L1):
# builds the test image from Debian packages (the default image's mmdebstrap tarball as the
# base layer, Tests/E2E/images/layer2.py's whiteouts, ownership and modes on top, config set
# with umoci), pushes it to a docker-registry started here on 127.0.0.1, and pulls it with
# `kiln pull` three ways (registry reference, oci:, docker-archive:) into the store $2.
#
# usage: prepare.sh KILN STORE WORKDIR
# stdout: lines for job.env (KILN_E2E_IMAGE_REF=..., KILN_E2E_IMAGE_ID=..., KILN_E2E_OCI_REF=..., KILN_IMAGE_STORE=...)
# stderr: progress; exit 1 with a reason on failure.
set -euo pipefail
kiln=$1 store=$2 work=$3
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../../.." && pwd)
log() { echo "images-prepare: $*" >&2; }
die() { echo "images-prepare: FAIL: $*" >&2; exit 1; }
secs() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }
for tool in umoci skopeo docker-registry python3; do command -v "$tool" >/dev/null || die "$tool not installed"; done

mkdir -p "$work"
eval "$("$repo/Rootfs/build-debian.sh")"
[ -f "${KILN_DEBIAN_TAR:-}" ] || die "no Debian base tarball (Rootfs/build-debian.sh)"

t=$EPOCHREALTIME
layout=$work/layout
rm -rf "$layout"
python3 "$here/layer2.py" "$KILN_DEBIAN_TAR" "$work/layer2.tar"
umoci init --layout "$layout"
umoci new --image "$layout:e2e"
umoci raw add-layer --image "$layout:e2e" "$KILN_DEBIAN_TAR"
umoci raw add-layer --image "$layout:e2e" "$work/layer2.tar"
umoci config --image "$layout:e2e" --config.env GREETING=hello-image --config.env PATH=/usr/local/bin:/usr/bin:/bin \
    --config.workingdir /opt/kiln-test --config.user kilnuser:kilngroup \
    --config.cmd sh --config.cmd -c --config.cmd 'echo cmd-ran as $(id -u):$(id -g) in $(pwd)'
log "test image built in $(secs "$t") s"

# A registry of our own on loopback, gone when this script ends.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$work/registry.yml" <<YML
version: 0.1
storage:
  filesystem:
    rootdirectory: $work/registry
http:
  addr: 127.0.0.1:$port
log:
  level: error
YML
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
registry=$!
trap 'kill $registry 2>/dev/null; wait $registry 2>/dev/null || true' EXIT
for _ in $(seq 100); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null && break
    sleep 0.1
done
ref=127.0.0.1:$port/kiln/e2e:1
skopeo copy -q --dest-tls-verify=false "oci:$layout:e2e" "docker://$ref" || die "skopeo push to $ref failed"
skopeo copy -q "oci:$layout:e2e" "docker-archive:$work/e2e.tar:kiln/e2e:1" || die "skopeo docker-archive failed"

export KILN_IMAGE_STORE=$store
t=$EPOCHREALTIME
id_registry=$("$kiln" pull --tls-verify=false "$ref") || die "kiln pull $ref failed"
log "kiln pull $ref (cold: fetch + convert): $(secs "$t") s"
t=$EPOCHREALTIME
id_oci=$("$kiln" pull "oci:$layout:e2e") || die "kiln pull oci: failed"
id_archive=$("$kiln" pull "docker-archive:$work/e2e.tar") || die "kiln pull docker-archive: failed"
log "kiln pull oci: and docker-archive: (cached blobs): $(secs "$t") s"
# The registry and the OCI layout hold the same manifest and config: one image, converted once.
# docker-archive (`docker save` format) rewrites the config, so it is an image of its own.
[ "$id_registry" = "$id_oci" ] || die "one image, two ids: registry $id_registry, oci $id_oci"
[ -n "$id_archive" ] || die "kiln pull docker-archive: printed no image id"
"$kiln" images >&2
echo "KILN_E2E_IMAGE_REF=$ref"
echo "KILN_E2E_IMAGE_ID=$id_registry"
echo "KILN_E2E_ARCHIVE_REF=docker-archive:$work/e2e.tar"
echo "KILN_E2E_OCI_REF=oci:$layout:e2e"
echo "KILN_IMAGE_STORE=$store"
