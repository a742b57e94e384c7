#!/usr/bin/env bash
# Builds Kiln's microVM guest kernel (vmlinux + bzImage) from Debian's
# linux-source-6.1: `make tinyconfig` + Kernels/microvm.config.
#
# The build lives outside the clone, in ${KILN_CACHE:-$HOME/.cache/kiln}/kernel/<key>,
# where <key> hashes the fragment, the source package version, the compiler
# and this script; a second run with the same inputs returns at once.
#
# stdout: exactly two lines, for `eval "$(Kernels/build.sh)"`:
#   KILN_VMLINUX=/path/vmlinux
#   KILN_BZIMAGE=/path/bzImage
# Everything else goes to stderr.
#
# Options: --force (rebuild even if cached), --fragment FILE (another fragment).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
fragment=$here/microvm.config
force=0
while [ $# -gt 0 ]; do
    case $1 in
        --force) force=1 ;;
        --fragment) fragment=$(realpath "$2"); shift ;;
        *) echo "usage: $0 [--force] [--fragment FILE]" >&2; exit 2 ;;
    esac
    shift
done

log() { echo "kernel: $*" >&2; }
die() { echo "kernel: ERROR: $*" >&2; exit 1; }

tarball=/usr/src/linux-source-6.1.tar.xz

# --- prerequisites ------------------------------------------------------------
missing=()
command -v dpkg-query >/dev/null || die "dpkg-query not found (a Debian host is expected)"
for p in linux-source-6.1 bc flex bison libelf-dev libssl-dev make gcc xz-utils; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ] || [ ! -f "$tarball" ]; then
    echo "kernel: missing packages: ${missing[*]:-linux-source-6.1 (no $tarball)}" >&2
    echo "kernel: install them with:  apt-get install -y ${missing[*]:-linux-source-6.1}" >&2
    exit 1
fi

srcver=$(dpkg-query -W -f='${Version}' linux-source-6.1)
cache=${KILN_CACHE:-${HOME:-/root}/.cache/kiln}
key=$( { echo "source $srcver"; gcc --version | head -1; cat "$fragment" "${BASH_SOURCE[0]}"; } \
       | sha256sum | cut -c1-16)
out=$cache/kernel/$key
srcdir=$cache/src/linux-source-6.1_$srcver

emit() { echo "KILN_VMLINUX=$out/vmlinux"; echo "KILN_BZIMAGE=$out/bzImage"; }

if [ "$force" = 0 ] && [ -f "$out/.complete" ]; then
    log "cached: $out"
    emit
    exit 0
fi

mkdir -p "$cache/kernel" "$cache/src"
exec 9>"$cache/kernel/.lock"
flock 9   # one build at a time; a waiter then finds the finished build
if [ "$force" = 0 ] && [ -f "$out/.complete" ]; then log "cached: $out"; emit; exit 0; fi

# --- source (shared by every config, never modified: builds use O=) -----------
if [ ! -f "$srcdir/.extracted" ]; then
    log "extracting $tarball ($srcver) into $srcdir"
    rm -rf "$srcdir" "$srcdir.tmp"
    mkdir -p "$srcdir.tmp"
    tar -xJf "$tarball" -C "$srcdir.tmp" --strip-components=1
    touch "$srcdir.tmp/.extracted"
    mv "$srcdir.tmp" "$srcdir"
fi

# --- configure -----------------------------------------------------------------
start=$(date +%s)
work=$out.tmp
rm -rf "$work" "$out"
mkdir -p "$work/build"
b=$work/build
buildlog=$work/build.log
log "configuring in $b (log: $buildlog)"
run() { "$@" >>"$buildlog" 2>&1 || { tail -40 "$buildlog" >&2; die "failed: $*"; }; }
run make -C "$srcdir" O="$b" tinyconfig
run "$srcdir/scripts/kconfig/merge_config.sh" -m -O "$b" "$b/.config" "$fragment"
run make -C "$srcdir" O="$b" olddefconfig

# Every option of the fragment must have its value in the final .config.
dropped=0
while IFS= read -r line; do
    case $line in
        CONFIG_*=*)
            opt=${line%%=*}
            grep -qxF "$line" "$b/.config" || {
                echo "kernel: ERROR: $line from $(basename "$fragment") is not in the final .config" \
                     "(got: $(grep -E "^$opt=|^# $opt is not set" "$b/.config" || echo absent))" >&2
                dropped=1; } ;;
        "# CONFIG_"*" is not set")
            opt=${line#\# }; opt=${opt%% *}
            if grep -q "^$opt=" "$b/.config"; then
                echo "kernel: ERROR: $opt should be unset but is $(grep "^$opt=" "$b/.config")" >&2
                dropped=1
            fi ;;
    esac
done <"$fragment"
[ "$dropped" = 0 ] || die "merge_config/olddefconfig dropped options (unmet dependencies?)"
log "fragment applied: $(grep -c '^CONFIG_' "$fragment") options set, $(grep -c '^# CONFIG_.* is not set' "$fragment") unset, as asked"

# --- build -------------------------------------------------------------------------
jobs=$(nproc)
log "make -j$jobs vmlinux bzImage (a few minutes)"
run make -C "$srcdir" O="$b" -j"$jobs" vmlinux bzImage

# --- check the results -------------------------------------------------------------
vmlinux=$b/vmlinux
bzimage=$b/arch/x86/boot/bzImage
hdr=$(readelf -h "$vmlinux")
grep -q 'Class:.*ELF64' <<<"$hdr" || die "vmlinux is not ELF64"
grep -q 'Machine:.*X86-64' <<<"$hdr" || die "vmlinux is not x86-64"
# The first PT_LOAD must be at physical 0x1000000 (16 MiB), where Kiln loads it.
first_load=$(readelf -lW "$vmlinux" | awk '$1 == "LOAD" { print $4; exit }')
[ $((first_load)) -eq $((0x1000000)) ] || die "first PT_LOAD of vmlinux at $first_load, expected 0x1000000"
# bzImage: "HdrS" at 0x202, boot protocol >= 2.12 (64-bit entry)
magic=$(dd if="$bzimage" bs=1 skip=$((0x202)) count=4 2>/dev/null)
[ "$magic" = HdrS ] || die "bzImage has no HdrS header"
proto=$(od -An -tx2 -j $((0x206)) -N2 "$bzimage" | tr -d ' ')
[ $((0x$proto)) -ge $((0x20c)) ] || die "bzImage boot protocol 0x$proto < 0x20c"

cp "$vmlinux" "$work/vmlinux"
cp "$bzimage" "$work/bzImage"
cp "$b/.config" "$work/config"
cp "$b/System.map" "$work/System.map"
{
    echo "source linux-source-6.1 $srcver"
    echo "fragment $fragment"
    echo "built $(date -u +%FT%TZ) in $(( $(date +%s) - start )) s"
    echo "vmlinux $(stat -c %s "$work/vmlinux") bytes, first PT_LOAD at $first_load"
    echo "bzImage $(stat -c %s "$work/bzImage") bytes, boot protocol 0x$proto"
} >"$work/manifest"
rm -rf "$b"   # the object tree is ~100 MB; the outputs are all we keep
touch "$work/.complete"
mv "$work" "$out"
log "built in $(( $(date +%s) - start )) s: $out"
sed 's/^/kernel:   /' "$out/manifest" >&2
emit
