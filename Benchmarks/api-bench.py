#!/usr/bin/env python3
"""The API's costs, measured against baselines in the same run:

  start     process start (fork+exec of `kiln --api-sock`) until the socket answers GET /,
            median of N starts; baseline: `kiln --version` (exec, Swift runtime, exit) and a
            python3 process that binds a Unix socket and answers one line
  latency   PUT /machine-config, R requests on one keep-alive connection (http.client),
            median and p99; the same with a minimal raw-bytes client; GET / likewise; baseline: a raw Unix-socket echo round trip of the
            same request bytes against a python3 echo server process (no HTTP parsing, no
            handoff to the VMM thread)
  memory    the kiln process's private memory (Private_Clean + Private_Dirty of
            /proc/PID/smaps_rollup), idle before boot: right after the first GET /, after the
            latency runs, and with a second kiln running (the binary's clean pages are then
            shared between the two, as between VMs on a host); and a VM running idle.elf
            started by `kiln boot` (no API) against one started through the API: the API's
            cost to a running VM

Every kiln runs from a copy made in a temporary directory (exec of the linker's own output file
is slower than of a copy, see README "Start-up"); the start measurements run in a fresh random
order each round. With --kiln-before PATH (an older kiln), its start and --version are measured
in the same rounds.

Usage: python3 Benchmarks/api-bench.py [-n STARTS] [-r REQUESTS] [--kiln-before PATH] [--start-only]
(KILN=... picks the binary; default: the release build if present)"""
import argparse
import http.client
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "Tests/API"))
from kilnapi import Kiln, UnixHTTPConnection, guest, kiln_binary  # noqa: E402


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def time_starts(n, binary=None):
    """Seconds from Popen to GET / answered, n times (each a fresh process and socket)."""
    times = []
    for _ in range(n):
        kiln = Kiln(instance_id="bench", wait=False, binary=binary)
        deadline = kiln.started + 20
        while True:
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(kiln.sock)
                s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    times.append(time.monotonic() - kiln.started)
                    s.close()
                    break
                s.close()
            except OSError:
                s.close()
            if time.monotonic() > deadline or kiln.proc.poll() is not None:
                kiln.stop()
                raise SystemExit(f"kiln did not answer: {kiln.stderr()}")
            time.sleep(0.0002)
        kiln.stop()
    return times


def time_version(n, binary=None):
    """Seconds for `kiln --version` to run and exit."""
    times = []
    for _ in range(n):
        started = time.monotonic()
        subprocess.run([binary or kiln_binary(), "--version"], stdout=subprocess.DEVNULL, check=True)
        times.append(time.monotonic() - started)
    return times


PY_SERVER = r"""
import os, socket, sys
path, mode = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
s.listen(1)
while True:
    c, _ = s.accept()
    if mode == "hello":
        c.sendall(b"ok\n")
        c.close()
        continue
    while True:
        data = c.recv(65536)
        if not data:
            break
        c.sendall(data)
    c.close()
"""


def time_python_starts(n, directory):
    """Seconds from Popen of a python3 Unix-socket server until it answers a connection."""
    times = []
    for _ in range(n):
        path = tempfile.mktemp(prefix="py", suffix=".sock", dir=directory)
        started = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-c", PY_SERVER, path, "hello"])
        while True:
            if proc.poll() is not None or time.monotonic() - started > 20:
                proc.kill()
                raise SystemExit("the python3 baseline server did not answer")
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(path)
                if s.recv(16) == b"ok\n":
                    times.append(time.monotonic() - started)
                    s.close()
                    break
            except OSError:
                pass
            s.close()
            time.sleep(0.0002)
        proc.kill()
        proc.wait()
    return times


def time_echo(request, count, directory):
    """Round trips of `request` through a python3 echo server process over a Unix socket."""
    path = os.path.join(directory, "echo.sock")
    proc = subprocess.Popen([sys.executable, "-c", PY_SERVER, path, "echo"])
    try:
        for _ in range(2000):
            if os.path.exists(path):
                break
            time.sleep(0.005)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        times = []
        for i in range(count + 50):
            started = time.perf_counter_ns()
            s.sendall(request)
            received = 0
            while received < len(request):
                received += len(s.recv(65536))
            if i >= 50:
                times.append(time.perf_counter_ns() - started)
        s.close()
        return times
    finally:
        proc.kill()
        proc.wait()


def time_requests(kiln, method, path, body, count):
    """Latency (ns) of `count` requests on one keep-alive connection, after 50 warm-up ones."""
    connection = UnixHTTPConnection(kiln.sock)
    payload = json.dumps(body) if body is not None else None
    headers = {"Content-Type": "application/json"} if payload else {}
    times = []
    for i in range(count + 50):
        started = time.perf_counter_ns()
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
        response.read()
        elapsed = time.perf_counter_ns() - started
        if response.status >= 300:
            raise SystemExit(f"{method} {path}: {response.status}")
        if i >= 50:
            times.append(elapsed)
    connection.close()
    return times


def time_raw_requests(kiln, request, count):
    """Latency (ns) of `request` (raw HTTP bytes) on one keep-alive connection, reading each
    response by its Content-Length: the client's own cost kept as small as the echo's."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(kiln.sock)
    times = []
    for i in range(count + 50):
        started = time.perf_counter_ns()
        s.sendall(request)
        data = b""
        while True:
            data += s.recv(65536)
            head, sep, rest = data.partition(b"\r\n\r\n")
            if sep:
                fields = head.lower().split(b"content-length:")  # none on a 204
                length = int(fields[1].split(b"\r\n")[0]) if len(fields) > 1 else 0
                if len(rest) >= length:
                    break
        elapsed = time.perf_counter_ns() - started
        if not data.startswith(b"HTTP/1.1 204"):
            raise SystemExit(f"raw request: {data[:100]!r}")
        if i >= 50:
            times.append(elapsed)
    s.close()
    return times


def running_memory(directory, memory_mib=32):
    """Private memory of a VM running idle.elf, started by `kiln boot` (no API thread, no
    swift-nio) and through the API (InstanceStart), each with a twin running so the binary's
    clean pages are shared: the difference is what the API costs a running VM."""
    idle = guest("idle.elf")

    def boot_cli():
        log = open(os.path.join(directory, "boot.out"), "wb")
        proc = subprocess.Popen([kiln_binary(), "boot", "--kernel", idle, "--memory", str(memory_mib), "--no-stdin",
                                 "--serial-output", tempfile.mktemp(dir=directory)],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        return proc

    def boot_api():
        kiln = Kiln(instance_id="bench_vm")
        for method, path, body in (("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": memory_mib}),
                                   ("PUT", "/boot-source", {"kernel_image_path": idle}),
                                   ("PUT", "/actions", {"action_type": "InstanceStart"})):
            r = kiln.request(method, path, body)
            if r.status != 204:
                kiln.stop()
                raise SystemExit(f"{method} {path}: {r!r}")
        return kiln

    def private(pid):
        fields = {}
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                parts = line.split()
                if len(parts) == 3 and parts[2] == "kB":
                    fields[parts[0].rstrip(":")] = int(parts[1])
        return fields["Private_Clean"] + fields["Private_Dirty"], fields["Private_Dirty"]

    clis = [boot_cli(), boot_cli()]
    apis = [boot_api(), boot_api()]
    try:
        time.sleep(1.0)  # both guests print IDLE and halt within milliseconds
        for proc in clis:
            if proc.poll() is not None:
                raise SystemExit(f"kiln boot idle.elf exited with {proc.returncode}")
        return private(clis[0].pid), private(apis[0].pid)
    finally:
        for proc in clis:
            proc.kill()
            proc.wait()
        for kiln in apis:
            kiln.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--starts", type=int, default=20)
    parser.add_argument("-r", "--requests", type=int, default=1000)
    parser.add_argument("--kiln-before", help="an older kiln binary whose start is measured in the same rounds")
    parser.add_argument("--start-only", action="store_true", help="measure the starts only")
    args = parser.parse_args()
    binary = kiln_binary()
    body = {"vcpu_count": 2, "mem_size_mib": 256}
    request_bytes = (b"PUT /machine-config HTTP/1.1\r\nHost: localhost\r\nAccept-Encoding: identity\r\n"
                     b"Content-Length: %d\r\nContent-Type: application/json\r\n\r\n" % len(json.dumps(body))
                     + json.dumps(body).encode())

    with tempfile.TemporaryDirectory(prefix="kiln-api-bench-") as directory:
        copy = os.path.join(directory, "kiln")
        shutil.copy2(binary, copy)
        os.environ["KILN"] = copy  # every Kiln() and kiln_binary() below runs the copy
        before = None
        if args.kiln_before:
            before = os.path.join(directory, "kiln-before")
            shutil.copy2(args.kiln_before, before)
        # Written back, so that smaps counts the binary's pages as clean: page-cache pages not
        # yet written back count as Private_Dirty in every process that maps them.
        os.sync()
        # Interleaved in a fresh order each round, so a burst of load on this shared host hits
        # each kind alike.
        version, starts, python_starts, version_before, starts_before = [], [], [], [], []
        runs = {"version": lambda: version.extend(time_version(1)),
                "starts": lambda: starts.extend(time_starts(1)),
                "python": lambda: python_starts.extend(time_python_starts(1, directory))}
        if before:
            runs["version_before"] = lambda: version_before.extend(time_version(1, before))
            runs["starts_before"] = lambda: starts_before.extend(time_starts(1, before))
        for _ in range(args.starts):
            order = list(runs)
            random.shuffle(order)
            for name in order:
                runs[name]()
        ms = lambda seconds: f"{seconds * 1000:.2f} ms"  # noqa: E731
        if args.start_only:
            print(f"API start benchmark: {binary}" + (f", before: {args.kiln_before}" if before else ""))
            print(f"{args.starts} rounds, each kind once per round in a random order")
            print()
            print("| measure | median | p99 | min |")
            print("| --- | --- | --- | --- |")
            rows = [("kiln --api-sock: start until GET / answers", starts),
                    ("kiln --version (exec, runtime, exit)", version)]
            if before:
                rows += [("before: kiln --api-sock: start until GET / answers", starts_before),
                         ("before: kiln --version", version_before)]
            rows.append(("python3 Unix-socket server: start until it answers", python_starts))
            for label, values in rows:
                print(f"| {label} | {ms(statistics.median(values))} | {ms(percentile(values, 99))} | {ms(min(values))} |")
            return

        kiln = Kiln(instance_id="bench")
        try:
            memory_fresh = kiln.memory_kib()
            put = time_requests(kiln, "PUT", "/machine-config", body, args.requests)
            raw = time_raw_requests(kiln, request_bytes, args.requests)
            get = time_requests(kiln, "GET", "/", None, args.requests)
            memory_after = kiln.memory_kib()
            # A second kiln maps the same binary: its clean pages are then shared, not private.
            other = Kiln(instance_id="bench2")
            try:
                memory_shared = kiln.memory_kib()
            finally:
                other.stop()
            threads = sorted(name for name, _ in kiln.threads().values())
        finally:
            kiln.stop()
        echo = time_echo(request_bytes, args.requests, directory)
        (cli_total, cli_dirty), (api_total, api_dirty) = running_memory(directory)

    ms = lambda seconds: f"{seconds * 1000:.2f} ms"  # noqa: E731
    us = lambda ns: f"{ns / 1000:.1f} us"  # noqa: E731
    print(f"API benchmark: {binary}")
    print(f"{args.starts} starts, {args.requests} requests per latency run; threads before boot: {', '.join(threads)}")
    print()
    print("| measure | median | p99 | min |")
    print("| --- | --- | --- | --- |")
    print(f"| kiln --api-sock: start until GET / answers | {ms(statistics.median(starts))} "
          f"| {ms(percentile(starts, 99))} | {ms(min(starts))} |")
    print(f"| baseline: kiln --version (exec, runtime, exit) | {ms(statistics.median(version))} "
          f"| {ms(percentile(version, 99))} | {ms(min(version))} |")
    if before:
        print(f"| before ({args.kiln_before}): start until GET / answers | {ms(statistics.median(starts_before))} "
              f"| {ms(percentile(starts_before, 99))} | {ms(min(starts_before))} |")
        print(f"| before: kiln --version | {ms(statistics.median(version_before))} "
              f"| {ms(percentile(version_before, 99))} | {ms(min(version_before))} |")
    print(f"| baseline: python3 Unix-socket server: start until it answers | "
          f"{ms(statistics.median(python_starts))} | {ms(percentile(python_starts, 99))} | {ms(min(python_starts))} |")
    print(f"| PUT /machine-config, keep-alive (http.client) | {us(statistics.median(put))} "
          f"| {us(percentile(put, 99))} | {us(min(put))} |")
    print(f"| PUT /machine-config, keep-alive, raw bytes (minimal client) | {us(statistics.median(raw))} "
          f"| {us(percentile(raw, 99))} | {us(min(raw))} |")
    print(f"| GET /, keep-alive (http.client) | {us(statistics.median(get))} | {us(percentile(get, 99))} "
          f"| {us(min(get))} |")
    print(f"| baseline: raw Unix-socket echo of the same {len(request_bytes)} bytes (python3 server) "
          f"| {us(statistics.median(echo))} | {us(percentile(echo, 99))} | {us(min(echo))} |")
    print()
    print("| kiln's memory, idle before boot (smaps_rollup) | private (clean + dirty) | of which dirty | Rss |")
    print("| --- | --- | --- | --- |")
    mib = lambda kib: f"{kib / 1024:.2f} MiB"  # noqa: E731
    for label, m in ((f"after the first GET /", memory_fresh),
                     (f"after {3 * (args.requests + 50)} requests", memory_after),
                     ("same, with a second kiln running (binary pages shared)", memory_shared)):
        print(f"| {label} | {mib(m['Private_Clean'] + m['Private_Dirty'])} | {mib(m['Private_Dirty'])} "
              f"| {mib(m['Rss'])} |")
    print(f"| running idle.elf (32 MiB), twin running: kiln boot (no API) | {mib(cli_total)} | {mib(cli_dirty)} | |")
    print(f"| running idle.elf (32 MiB), twin running: kiln --api-sock + InstanceStart | {mib(api_total)} "
          f"| {mib(api_dirty)} | |")
    print(f"| what the API (kiln_api thread, its buffers, request channel) adds to a running VM "
          f"| {mib(api_total - cli_total)} | {mib(api_dirty - cli_dirty)} | |")


if __name__ == "__main__":
    main()
