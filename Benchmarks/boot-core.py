#!/usr/bin/env python3
"""Boot-core benchmark: Kiln against a minimal C KVM loader (Benchmarks/c-loader), same guests,
same /dev/kvm, measured in the same run and interleaved so machine load hits both alike.

(a) start-up: CLOCK_MONOTONIC just before posix_spawn -> the guest's boot marker write, which is
    the first instruction of Tests/Guests/build/hello.elf (both VMMs print the monotonic time at
    which they saw the marker exit).
(b) memory: with two VMs running Tests/Guests/build/idle.elf at once (so shared libraries count
    as shared, as they are on a host with many VMs), per VMM process: Private_Dirty +
    Private_Clean over every mapping except guest RAM (the anonymous mapping of exactly the
    guest's size), plus RSS for reference.
Reports medians over RUNS (default 20) and the ratio Kiln / C loader. With --kiln-before PATH (an
older kiln binary), (a) also runs that binary, interleaved with the others, so a change's effect on
start-up is measured in the same run as its baseline. Each round runs the VMMs in a random order.

usage: boot-core.py [-n RUNS] [--kiln PATH] [--loader PATH] [--kiln-before PATH] [--start-only]"""
import argparse, os, random, re, shutil, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GUESTS = os.path.join(ROOT, "Tests", "Guests", "build")
MEMORY_MIB = 128
MARKER = re.compile(r"monotonic (\d+) ns", re.IGNORECASE)
# kiln's own clock lines: process constructor -> first KVM_RUN, build start -> first KVM_RUN, and
# constructor -> boot marker, which split (a) into phases.
SETUP = re.compile(r"VMM set-up took (\d+) us \(first KVM_RUN of vCPU 0; (\d+) us after the build began\)")
BOOT = re.compile(r"Guest-boot-time = (\d+) us")
PHASES = ("spawn -> process constructor (exec, libc start)", "constructor -> VM build starts (Swift runtime, arguments)",
          "build -> first KVM_RUN (KVM objects, kernel, tables, devices, threads, filters)",
          "first KVM_RUN -> boot marker")


def spawn_to_marker(argv, phases=None):
    with tempfile.TemporaryFile() as err:
        actions = [(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                   (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
                   (os.POSIX_SPAWN_DUP2, err.fileno(), 2)]
        t0 = time.monotonic_ns()
        pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=actions)
        _, status, _ = os.wait4(pid, 0)
        err.seek(0)
        text = err.read().decode(errors="replace")
    match = MARKER.search(text)
    if os.waitstatus_to_exitcode(status) != 0 or not match:
        sys.exit(f"{argv[0]} failed (status {status}): {text}")
    total = (int(match.group(1)) - t0) / 1000
    setup, boot = SETUP.search(text), BOOT.search(text)
    if phases is not None and setup and boot:
        to_run, since_build, to_marker = int(setup.group(1)), int(setup.group(2)), int(boot.group(1))
        phases.append((total - to_marker, to_run - since_build, since_build, to_marker - to_run))
    return total


def private_outside_guest_ram(pid):
    """(private KiB outside guest RAM, Private_Dirty KiB outside guest RAM, RSS KiB)."""
    guest_bytes = MEMORY_MIB << 20
    private = dirty = rss = 0
    skip = False
    with open(f"/proc/{pid}/smaps") as smaps:
        for line in smaps:
            head = line.split()
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                start, end = (int(x, 16) for x in head[0].split("-"))
                anonymous = len(head) < 6
                skip = anonymous and end - start == guest_bytes
            elif head[0] in ("Private_Dirty:", "Private_Clean:") and not skip:
                private += int(head[1])
                if head[0] == "Private_Dirty:":
                    dirty += int(head[1])
            elif head[0] == "Rss:":
                rss += int(head[1])
    return private, dirty, rss


def running_pair(argv, ready):
    """Starts two VMs, waits until both printed `ready`, measures both, then kills them."""
    procs = [subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL) for _ in range(2)]
    try:
        for proc in procs:
            line = proc.stdout.readline().decode()
            if ready not in line:
                sys.exit(f"{argv[0]}: guest did not report {ready!r}: {line!r}")
        time.sleep(0.1)
        return [private_outside_guest_ram(proc.pid) for proc in procs]
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def median(xs):
    return statistics.median(xs)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", "--runs", type=int, default=20)
    parser.add_argument("--kiln", default=os.path.join(ROOT, ".build", "release", "kiln"))
    parser.add_argument("--loader", default=os.path.join(ROOT, "Benchmarks", "c-loader", "build", "loader"))
    parser.add_argument("--kiln-before", help="an older kiln binary to measure (a) with too")
    parser.add_argument("--start-only", action="store_true", help="measure (a) only")
    args = parser.parse_args()
    for path in (args.kiln, args.loader, os.path.join(GUESTS, "hello.elf"), os.path.join(GUESTS, "idle.elf")):
        if not os.access(path, os.X_OK if path in (args.kiln, args.loader) else os.R_OK):
            sys.exit(f"missing {path}: run `swift build -c release --static-swift-stdlib`, `make -C Benchmarks/c-loader`, `make -C Tests/Guests`")
    # Every VMM runs from a copy made here, so that all are read from files written the same way:
    # exec of the linker's own output file took 0.26 ms longer here than of a `cp` of the same
    # bytes (`kiln --version`, 1.91 against 2.17 ms), which favoured a copied baseline.
    copies = tempfile.TemporaryDirectory(prefix="boot-core-")
    before_path = args.kiln_before
    for name in ("kiln", "loader", "kiln_before"):
        if getattr(args, name):
            copy = os.path.join(copies.name, name)
            shutil.copy2(getattr(args, name), copy)
            setattr(args, name, copy)

    hello, idle = os.path.join(GUESTS, "hello.elf"), os.path.join(GUESTS, "idle.elf")
    kiln_boot = [args.kiln, "boot", "--kernel", hello, "--memory", str(MEMORY_MIB)]
    loader_boot = [args.loader, hello, str(MEMORY_MIB)]
    start = {"kiln": [], "loader": [], "before": []}
    phases = {"kiln": [], "before": []}
    runs = {"kiln": lambda: start["kiln"].append(spawn_to_marker(kiln_boot, phases["kiln"])),
            "loader": lambda: start["loader"].append(spawn_to_marker(loader_boot))}
    if args.kiln_before:
        runs["before"] = lambda: start["before"].append(spawn_to_marker([args.kiln_before] + kiln_boot[1:], phases["before"]))
    for _ in range(args.runs):
        # A fresh order each round: the host is still tearing the previous VM down (KVM, its
        # 128 MiB, the PIT's worker) while the next VMM starts, so a fixed order made one VMM
        # always follow another kiln and the other always the small C loader (0.2-0.5 ms apart).
        order = list(runs)
        random.shuffle(order)
        for name in order:
            runs[name]()

    memory = {"kiln": [], "loader": []}
    for _ in range(0 if args.start_only else args.runs):
        memory["kiln"] += running_pair([args.kiln, "boot", "--kernel", idle, "--memory", str(MEMORY_MIB)], "IDLE")
        memory["loader"] += running_pair([args.loader, idle, str(MEMORY_MIB)], "IDLE")

    print(f"boot-core benchmark: {args.runs} runs each, guest RAM {MEMORY_MIB} MiB, host {os.uname().release}")
    k, c = median(start["kiln"]), median(start["loader"])
    print(f"(a) process start -> first guest instruction (median): kiln {k/1000:.2f} ms, "
          f"C loader {c/1000:.2f} ms, ratio {k/c:.2f}  [kiln min {min(start['kiln'])/1000:.2f} "
          f"max {max(start['kiln'])/1000:.2f} ms]")
    if args.kiln_before:
        b = median(start["before"])
        print(f"(a) before ({before_path}): {b/1000:.2f} ms, ratio to the C loader {b/c:.2f}; "
              f"kiln now / before {k/b:.2f}")
    for name in ("kiln", "before"):
        if phases[name]:
            split = ", ".join(f"{label} {median([p[i] for p in phases[name]])/1000:.2f}" for i, label in enumerate(PHASES))
            print(f"    {name} phases (medians, ms): {split}")
    if args.start_only:
        return
    for field, name in ((0, "private (Dirty+Clean) outside guest RAM"), (1, "Private_Dirty outside guest RAM"), (2, "RSS")):
        k = median([m[field] for m in memory["kiln"]])
        c = median([m[field] for m in memory["loader"]])
        print(f"(b) {name} (median, 2 VMs running): kiln {k/1024:.2f} MiB, C loader {c/1024:.2f} MiB, ratio {k/max(c,1):.2f}")


if __name__ == "__main__":
    main()
