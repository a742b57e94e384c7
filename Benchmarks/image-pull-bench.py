#!/usr/bin/env python3
"""Cold pull + conversion of an image: `kiln pull` (skopeo fetch into the store, sha256 of every
blob, layers written straight into ext4) against the well-known toolchain doing the same work,
`skopeo copy` to an OCI layout + `umoci unpack` to a directory, both from a docker-registry on
127.0.0.1, interleaved, each round on an empty store / empty directories.

The image is the E2E test image (Tests/E2E/images): the default Debian image's tarball (python3,
ca-certificates; Rootfs/build-debian.sh, or --base-tar) plus a small second layer.

Usage: python3 Benchmarks/image-pull-bench.py [-n 7] [--base-tar TAR]   (KILN=path/to/kiln)
Prints each round and the medians; exits 1 if a pull failed."""
import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def kiln_binary():
    if os.environ.get("KILN"):
        return os.environ["KILN"]
    for config in ("release", "debug"):
        path = os.path.join(REPO, ".build", config, "kiln")
        if os.access(path, os.X_OK):
            return path
    sys.exit("no kiln binary: build it or set KILN")


def run(argv, **kw):
    return subprocess.run(argv, check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def base_tar(given):
    if given:
        return given
    out = run([os.path.join(REPO, "Rootfs", "build-debian.sh")]).stdout.decode()
    for line in out.splitlines():
        if line.startswith("KILN_DEBIAN_TAR="):
            return line.split("=", 1)[1]
    sys.exit("Rootfs/build-debian.sh printed no KILN_DEBIAN_TAR")


def build_image(work, base):
    layout = os.path.join(work, "layout")
    run(["python3", os.path.join(REPO, "Tests", "E2E", "images", "layer2.py"), base, os.path.join(work, "layer2.tar")])
    run(["umoci", "init", "--layout", layout])
    run(["umoci", "new", "--image", layout + ":bench"])
    run(["umoci", "raw", "add-layer", "--image", layout + ":bench", base])
    run(["umoci", "raw", "add-layer", "--image", layout + ":bench", os.path.join(work, "layer2.tar")])
    run(["umoci", "config", "--image", layout + ":bench", "--config.cmd", "/bin/sh"])
    return layout


def start_registry(work):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    config = os.path.join(work, "registry.yml")
    with open(config, "w") as f:
        f.write(f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {work}/registry\n"
                f"http:\n  addr: 127.0.0.1:{port}\nlog:\n  level: error\n")
    proc = subprocess.Popen(["docker-registry", "serve", config], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    sys.exit("docker-registry did not start")


def drop_caches():
    # Equal footing: neither side finds the other's blobs in the page cache... except the
    # registry's own files, which both read; what is measured is fetch + verify + convert.
    subprocess.run(["sync"])


def kiln_pull(kiln, ref, work):
    store = tempfile.mkdtemp(prefix="store-", dir=work)
    start = time.monotonic()
    run([kiln, "pull", "--tls-verify=false", ref], env=dict(os.environ, KILN_IMAGE_STORE=store))
    elapsed = time.monotonic() - start
    shutil.rmtree(store, ignore_errors=True)
    return elapsed


def skopeo_umoci(ref, work):
    scratch = tempfile.mkdtemp(prefix="umoci-", dir=work)
    start = time.monotonic()
    run(["skopeo", "copy", "-q", "--src-tls-verify=false", "docker://" + ref, f"oci:{scratch}/layout:bench"])
    unpack = ["umoci", "unpack", "--image", f"{scratch}/layout:bench", f"{scratch}/bundle"]
    if os.geteuid() != 0:
        unpack.insert(2, "--rootless")
    run(unpack)
    elapsed = time.monotonic() - start
    shutil.rmtree(scratch, ignore_errors=True)
    return elapsed


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=7)
    parser.add_argument("--base-tar")
    args = parser.parse_args()
    kiln = kiln_binary()
    work = tempfile.mkdtemp(prefix="kiln-image-bench-", dir=os.environ.get("TMPDIR", "/tmp"))
    registry = None
    try:
        base = base_tar(args.base_tar)
        layout = build_image(work, base)
        registry, port = start_registry(work)
        ref = f"127.0.0.1:{port}/kiln/bench:1"
        run(["skopeo", "copy", "-q", "--dest-tls-verify=false", f"oci:{layout}:bench", "docker://" + ref])
        size = os.path.getsize(base)
        print(f"image-pull-bench: {args.n} rounds, interleaved; base layer {size / 1e6:.0f} MB uncompressed; kiln {kiln}")
        kiln_times, pair_times = [], []
        for round_ in range(args.n):
            drop_caches()
            order = [("kiln", kiln_pull), ("skopeo+umoci", skopeo_umoci)]
            if round_ % 2:
                order.reverse()
            for name, step in order:
                t = step(kiln, ref, work) if name == "kiln" else step(ref, work)
                (kiln_times if name == "kiln" else pair_times).append(t)
            print(f"  round {round_ + 1}: kiln pull {kiln_times[-1]:.2f} s, skopeo copy + umoci unpack {pair_times[-1]:.2f} s")
        k, p = statistics.median(kiln_times), statistics.median(pair_times)
        print(f"cold pull + convert (median of {args.n}): kiln {k:.2f} s, skopeo + umoci {p:.2f} s, ratio kiln/pair {k / p:.2f}")
    except subprocess.CalledProcessError as error:
        print(f"image-pull-bench: {' '.join(error.cmd)} failed: {error.stderr.decode(errors='replace')[-400:]}")
        sys.exit(1)
    finally:
        if registry:
            registry.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
