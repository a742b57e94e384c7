#!/usr/bin/env bash
# Installs every Debian package in scripts/packages.txt that is missing (run as root).
# The Swift 6.3 toolchain itself is expected at /opt/swift or on PATH.
set -euo pipefail
cd "$(dirname "$0")"
mapfile -t packages < <(grep -vE '^\s*(#|$)' packages.txt)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all ${#packages[@]} packages present"
    exit 0
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
