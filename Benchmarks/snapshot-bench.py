#!/usr/bin/env python3
"""Snapshot benchmark on this machine's /dev/kvm with the counter guest (Tests/Guests/counter.c),
in one run, interleaved:

(a) start to a counting guest: a cold `kiln boot` of counter.elf until its first COUNT line,
    against `kiln --restore ... --resume` of a snapshot of it until its first complete COUNT
    line (both from posix_spawn, so both pay kiln's own process start);
(b) memory of N clones of one snapshot against N cold VMs, all running at once: the sum over
    the processes of Private_Dirty of guest RAM (clones share every page they have not written)
    and of Private (Dirty + Clean) of everything.

The snapshot is taken through the API (PATCH /vm Paused, PUT /snapshot/create) from a VM that
has counted a while. Medians over RUNS.

usage: snapshot-bench.py [-n RUNS] [--clones N] [--kiln PATH]"""
import argparse, json, os, socket, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COUNTER = os.path.join(ROOT, "Tests", "Guests", "build", "counter.elf")
MEMORY_MIB = 64


def api(sock_path, method, path, body=None):
    data = json.dumps(body) if body is not None else ""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(sock_path)
        s.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n{data}".encode())
        reply = b""
        while chunk := s.recv(4096):
            reply += chunk
    status = int(reply.split(b" ", 2)[1])
    if status >= 300:
        sys.exit(f"{method} {path}: {reply.decode(errors='replace')}")


def until_line(proc, prefix, complete=True):
    """Reads stdout until a line starting with `prefix` (skipping the partial first line of a
    restored guest when `complete`); returns the time it arrived."""
    first = True
    while True:
        line = proc.stdout.readline()
        if not line:
            sys.exit(f"{proc.args[0]} ended before printing {prefix!r}")
        if line.startswith(prefix.encode()) and not (complete and first and not line.startswith(b"COUNT")):
            return time.monotonic()
        first = False


def spawn(argv):
    return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)


def private_kib(pid, guest_bytes):
    """(Private_Dirty of guest RAM, Private_Dirty + Private_Clean of every mapping), KiB."""
    guest = total = 0
    in_guest = False
    with open(f"/proc/{pid}/smaps") as smaps:
        for line in smaps:
            head = line.split()
            if "-" in head[0] and len(head[0]) > 8 and all(c in "0123456789abcdef-" for c in head[0]):
                start, end = (int(x, 16) for x in head[0].split("-"))
                in_guest = end - start == guest_bytes
            elif head[0] in ("Private_Dirty:", "Private_Clean:"):
                total += int(head[1])
                if head[0] == "Private_Dirty:" and in_guest:
                    guest += int(head[1])
    return guest, total


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", "--runs", type=int, default=10)
    parser.add_argument("--clones", type=int, default=10)
    parser.add_argument("--kiln", default=os.path.join(ROOT, ".build", "release", "kiln"))
    args = parser.parse_args()
    for path in (args.kiln, COUNTER):
        if not os.access(path, os.R_OK):
            sys.exit(f"missing {path}: swift build -c release --static-swift-stdlib -Xswiftc -static-executable; make -C Tests/Guests")
    work = tempfile.mkdtemp(prefix="kiln-snapshot-bench.")
    state, memory, sock = f"{work}/vm.state", f"{work}/vm.mem", f"{work}/api.sock"

    original = subprocess.Popen([args.kiln, "--api-sock", sock], stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    while not os.path.exists(sock):
        time.sleep(0.01)
    api(sock, "PUT", "/boot-source", {"kernel_image_path": COUNTER})
    api(sock, "PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": MEMORY_MIB})
    api(sock, "PUT", "/actions", {"action_type": "InstanceStart"})
    for _ in range(20):
        until_line(original, "COUNT", complete=False)
    api(sock, "PATCH", "/vm", {"state": "Paused"})
    t = time.monotonic()
    api(sock, "PUT", "/snapshot/create", {"snapshot_path": state, "mem_file_path": memory})
    create_ms = (time.monotonic() - t) * 1000
    original.kill()
    original.wait()

    cold_argv = [args.kiln, "boot", "--kernel", COUNTER, "--memory", str(MEMORY_MIB), "--no-stdin"]
    restore_argv = [args.kiln, "--restore", state, "--restore-memory", memory, "--resume"]
    times = {"cold": [], "restore": []}
    for _ in range(args.runs):
        for name, argv in (("cold", cold_argv), ("restore", restore_argv)):
            t0 = time.monotonic()
            proc = spawn(argv)
            times[name].append((until_line(proc, "COUNT") - t0) * 1000)
            proc.kill()
            proc.wait()

    memory_kib = {}
    for name, argv in (("cold", cold_argv), ("restore", restore_argv)):
        procs = [spawn(argv) for _ in range(args.clones)]
        try:
            for proc in procs:
                for _ in range(5):
                    until_line(proc, "COUNT")
            samples = [private_kib(proc.pid, MEMORY_MIB << 20) for proc in procs]
            memory_kib[name] = (sum(s[0] for s in samples), sum(s[1] for s in samples))
        finally:
            for proc in procs:
                proc.kill()
                proc.wait()

    cold, restore = statistics.median(times["cold"]), statistics.median(times["restore"])
    print(f"snapshot benchmark: counter guest, {MEMORY_MIB} MiB, {args.runs} runs each, host {os.uname().release}")
    print(f"snapshot/create of the paused VM: {create_ms:.1f} ms; state file {os.path.getsize(state)} bytes, "
          f"memory file {os.path.getsize(memory) >> 20} MiB ({os.stat(memory).st_blocks * 512 >> 10} KiB allocated)")
    print(f"(a) spawn -> counting guest (median): cold boot {cold:.2f} ms, restore {restore:.2f} ms, "
          f"ratio {restore / cold:.2f}  [restore min {min(times['restore']):.2f} max {max(times['restore']):.2f} ms]")
    for index, name in ((0, "Private_Dirty of guest RAM"), (1, "Private of all mappings")):
        c, r = memory_kib["cold"][index], memory_kib["restore"][index]
        print(f"(b) {name}, {args.clones} VMs at once (sum): cold {c / 1024:.2f} MiB, clones {r / 1024:.2f} MiB, "
              f"ratio {r / max(c, 1):.2f}")
    subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    main()
