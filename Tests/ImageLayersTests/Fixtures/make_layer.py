#!/usr/bin/env python3
"""Writes a layer tarball from a JSON list of entries (tests craft hostile ones on purpose).

usage: make_layer.py SPEC.json OUTPUT none|gzip|zstd
Each entry: {"path", "type": file|dir|symlink|hardlink|char|block|fifo, "data", "mode", "uid",
"gid", "mtime", "link", "xattrs": {name: hex bytes}, "major", "minor"}. Paths are written as
given (no normalisation), in PAX format so xattrs travel as SCHILY.xattr records.
"""
import io, json, subprocess, sys, tarfile

TYPES = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE,
         "hardlink": tarfile.LNKTYPE, "char": tarfile.CHRTYPE, "block": tarfile.BLKTYPE,
         "fifo": tarfile.FIFOTYPE}

def main():
    spec_path, output, compression = sys.argv[1:4]
    with open(spec_path) as f:
        entries = json.load(f)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for e in entries:
            info = tarfile.TarInfo(e["path"])
            info.type = TYPES[e.get("type", "file")]
            info.mode = e.get("mode", 0o755 if info.type == tarfile.DIRTYPE else 0o644)
            info.uid, info.gid = e.get("uid", 0), e.get("gid", 0)
            info.mtime = e.get("mtime", 1700000000)
            info.linkname = e.get("link", "")
            info.devmajor, info.devminor = e.get("major", 0), e.get("minor", 0)
            for name, value in e.get("xattrs", {}).items():
                info.pax_headers["SCHILY.xattr." + name] = bytes.fromhex(value).decode("utf-8", "surrogateescape")
            data = e.get("data", "").encode()
            if info.type == tarfile.REGTYPE:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    blob = raw.getvalue()
    if compression == "gzip":
        import gzip
        blob = gzip.compress(blob)
    elif compression == "zstd":
        blob = subprocess.run(["zstd", "-q", "-c"], input=blob, check=True, stdout=subprocess.PIPE).stdout
    with open(output, "wb") as f:
        f.write(blob)

main()
