#!/usr/bin/env python3
"""Writes the second layer of the E2E test image (an uncompressed tar) on top of a Debian base:
whiteouts and an opaque directory over the base, files with exact ownership and modes (setuid,
setgid, sticky), a symlink, a hard link, an xattr, and a user `kilnuser` (1500:1600) appended to
the base's /etc/passwd and /etc/group so the image config can name it.

usage: layer2.py BASE_ROOTFS_TAR OUT_LAYER_TAR"""
import io
import sys
import tarfile
import time

MTIME = 1700000000


def member(name, kind=tarfile.REGTYPE, mode=0o644, uid=0, gid=0, linkname="", data=b"", pax=None):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.uid, info.gid = uid, gid
    info.mtime = MTIME
    info.linkname = linkname
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    if pax:
        info.pax_headers = pax
    return info, (io.BytesIO(data) if kind == tarfile.REGTYPE else None)


def read_base(path, name):
    with tarfile.open(path) as base:
        for candidate in (name, "./" + name):
            try:
                return base.extractfile(candidate).read()
            except KeyError:
                continue
    raise SystemExit(f"layer2.py: {name} not in {path}")


def main():
    base, out = sys.argv[1], sys.argv[2]
    passwd = read_base(base, "etc/passwd") + b"kilnuser:x:1500:1600:kiln test:/home/kilnuser:/bin/sh\n"
    group = read_base(base, "etc/group") + b"kilngroup:x:1600:\n"
    entries = [
        member("etc/passwd", data=passwd),
        member("etc/group", data=group),
        # Whiteouts: a file and a directory of the base disappear.
        member("etc/.wh.motd", data=b""),
        member("usr/share/.wh.doc", data=b""),
        # An opaque directory: everything the base had under /usr/share/common-licenses goes,
        # only what this layer puts there stays.
        member("usr/share/common-licenses", tarfile.DIRTYPE, mode=0o755),
        member("usr/share/common-licenses/.wh..wh..opq", data=b""),
        member("usr/share/common-licenses/KILN", data=b"only this\n"),
        member("opt/kiln-test", tarfile.DIRTYPE, mode=0o755),
        member("opt/kiln-test/owned", mode=0o640, uid=1234, gid=5678, data=b"owned by 1234:5678\n"),
        member("opt/kiln-test/suid", mode=0o4755, data=b"#!/bin/sh\necho suid\n"),
        member("opt/kiln-test/sgid-dir", tarfile.DIRTYPE, mode=0o2775, gid=1600),
        member("opt/kiln-test/sticky", tarfile.DIRTYPE, mode=0o1777),
        member("opt/kiln-test/link", tarfile.SYMTYPE, mode=0o777, linkname="owned"),
        member("opt/kiln-test/hard", tarfile.LNKTYPE, linkname="opt/kiln-test/owned"),
        member("opt/kiln-test/capable", mode=0o755, data=b"cap\n",
               pax={"SCHILY.xattr.user.kiln": "e2e"}),
        member("home/kilnuser", tarfile.DIRTYPE, mode=0o750, uid=1500, gid=1600),
    ]
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in entries:
            tar.addfile(info, data)


if __name__ == "__main__":
    main()
