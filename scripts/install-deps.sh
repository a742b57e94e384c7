#!/usr/bin/env bash
# Installs every Debian package in scripts/packages.txt that is missing (run as root), and the
# Python packages in scripts/requirements.txt (PyPI, with the python3 on PATH: the one the tests run).
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
else
    echo "install-deps: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
fi
# The test suite's Python packages come from PyPI; setting up and running Kiln needs none
# (scripts/sandbox.sh and demo.sh pass --debian-only: nothing outside Debian's packages).
[ "${1:-}" = --debian-only ] && exit 0
# A Debian python3 is externally managed (PEP 668): then the packages go in system-wide.
pip_install() { python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore "$@" -r requirements.txt; }
pip_install 2>/dev/null || pip_install --break-system-packages
echo "install-deps: schemathesis $(python3 -c 'import schemathesis; print(schemathesis.__version__)')"
