#!/usr/bin/env bash
# Builds the initramfs of L1, the QEMU TCG machine (emulated AMD CPU with SVM)
# that gives these hosts a real nested /dev/kvm: static busybox, Tests/E2E/l1/init.sh
# as /init, and the Debian kernel modules for kvm-amd (nested=1), virtio-pci,
# 9p, vhost-vsock and tun (TAP devices for virtio-net), veth and the tc ingress/u32/mirred
# modules (oci-network: a TAP redirected to an engine's veth), and the bridge and netfilter
# modules of podman's default CNI network (the bridge plugin's cni-podman0; iptables-nft rules for
# its masquerade and the firewall plugin), in dependency order (modprobe --show-depends).
#
# Cached in ${KILN_CACHE:-$HOME/.cache/kiln}/e2e-l1/<key>.
# stdout: KILN_L1_KERNEL=/boot/vmlinuz-<ver>  KILN_L1_INITRAMFS=/path
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
log() { echo "l1: $*" >&2; }
die() { echo "l1: ERROR: $*" >&2; exit 1; }

# The newest Debian kernel that has its modules installed.
kver=
for k in $(ls /boot/vmlinuz-* 2>/dev/null | sed 's|/boot/vmlinuz-||' | sort -V); do
    [ -d "/lib/modules/$k/kernel/arch/x86/kvm" ] && kver=$k
done
if [ -z "$kver" ] || ! command -v modprobe >/dev/null || [ ! -x /bin/busybox ]; then
    echo "l1: need a Debian kernel with modules (/boot/vmlinuz-*, /lib/modules/*/kernel/arch/x86/kvm)," \
         "kmod and busybox-static" >&2
    echo "l1: install them with:  apt-get install -y linux-image-amd64 kmod busybox-static cpio" >&2
    exit 1
fi
kernel=/boot/vmlinuz-$kver

# Order matters: kvm-amd needs kvm and ccp; 9p needs the virtio-pci transport.
modules=(irqbypass kvm ccp kvm-amd virtio_pci 9pnet_virtio 9p vhost_vsock tun veth sch_ingress cls_u32 act_mirred
         bridge nf_tables nft_compat nft_chain_nat xt_MASQUERADE xt_conntrack xt_comment xt_addrtype
         xt_multiport xt_mark xt_tcpudp xt_nat)

cache=${KILN_CACHE:-${HOME:-/root}/.cache/kiln}
key=$( { echo "$kver"; stat -c '%s %Y' "$kernel"; echo "${modules[*]}"
         dpkg-query -W -f='${Version}\n' busybox-static 2>/dev/null || true
         cat "${BASH_SOURCE[0]}" "$here/init.sh"; } | sha256sum | cut -c1-16)
out=$cache/e2e-l1/$key
emit() { echo "KILN_L1_KERNEL=$kernel"; echo "KILN_L1_INITRAMFS=$out/initramfs.cpio.gz"; }
if [ -f "$out/.complete" ]; then log "cached: $out"; emit; exit 0; fi

mkdir -p "$cache/e2e-l1"
exec 9>"$cache/e2e-l1/.lock"
flock 9
if [ -f "$out/.complete" ]; then log "cached: $out"; emit; exit 0; fi
work=$out.tmp
rm -rf "$work"
tree=$work/tree
mkdir -p "$tree"/{bin,sbin,proc,sys,dev,host,lib/modules}

cp /bin/busybox "$tree/bin/busybox"
for a in sh mount umount mkdir insmod cat echo sleep sync poweroff chroot grep sed ls dmesg cut; do
    ln -s busybox "$tree/bin/$a"
done
install -m 0755 "$here/init.sh" "$tree/init"

# Modules in load order, decompressed (busybox insmod takes plain .ko).
: >"$tree/lib/modules/order"
for m in "${modules[@]}"; do
    modprobe -S "$kver" --show-depends "$m" | while read -r kind path _; do
        [ "$kind" = insmod ] || continue
        name=$(basename "$path"); name=${name%.xz}; name=${name%.zst}; name=${name%.gz}
        grep -qxF "$name" "$tree/lib/modules/order" && continue
        case $path in
            *.xz) xz -dc "$path" ;; *.zst) zstd -dc "$path" ;; *.gz) gzip -dc "$path" ;; *) cat "$path" ;;
        esac >"$tree/lib/modules/$name"
        echo "$name" >>"$tree/lib/modules/order"
    done
done
log "modules: $(tr '\n' ' ' <"$tree/lib/modules/order")"

(cd "$tree" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) | gzip -6 -n \
    >"$work/initramfs.cpio.gz"
rm -rf "$tree"
touch "$work/.complete"
rm -rf "$out"
mv "$work" "$out"
log "built: $out ($(stat -c %s "$out/initramfs.cpio.gz") bytes) for $kernel"
emit
