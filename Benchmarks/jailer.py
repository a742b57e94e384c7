#!/usr/bin/env python3
"""Jailer benchmark: what kiln-jailer adds to a VM's start, measured in the same run and
interleaved so machine load hits all variants alike.

Time from CLOCK_MONOTONIC just before posix_spawn to the guest's boot marker write (the first
instruction of Tests/Guests/build/hello.elf; kiln prints the monotonic time it saw it) for
  unjailed   kiln boot --kernel hello.elf
  jailed     kiln-jailer ... --copy-in hello.elf -- boot --kernel /hello.elf
             (jail directory, kiln hard-linked in, device nodes, mount namespace,
             pivot_root, rlimits, uid/gid, capabilities dropped, no_new_privs, exec)
  jailed-copy  the same with kiln copied in (an exec file not owned by root is never linked)
  +cgroups   jailed with v1 cgroups pids.max, memory.limit_in_bytes, cpu.cfs_quota_us
Each jail and cgroup is removed after its run (not timed). Needs root.
Reports medians over RUNS (default 20) and the ratios to unjailed.

usage: jailer.py [-n RUNS] [--kiln PATH] [--jailer PATH]"""
import argparse, os, re, shutil, statistics, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HELLO = os.path.join(ROOT, "Tests", "Guests", "build", "hello.elf")
MARKER = re.compile(r"monotonic (\d+) ns")
PARENT = f"kiln-jailer-bench-{os.getpid()}"
CGROUPS = ["pids.max=64", "memory.limit_in_bytes=536870912", "cpu.cfs_quota_us=100000"]


def spawn_to_marker(argv):
    with tempfile.TemporaryFile() as err:
        actions = [(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                   (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
                   (os.POSIX_SPAWN_DUP2, err.fileno(), 2)]
        t0 = time.monotonic_ns()
        pid = os.posix_spawn(argv[0], argv, {}, file_actions=actions)
        _, status, _ = os.wait4(pid, 0)
        err.seek(0)
        text = err.read().decode(errors="replace")
    match = MARKER.search(text)
    if os.waitstatus_to_exitcode(status) != 0 or not match:
        sys.exit(f"{' '.join(argv)} failed (status {status}): {text}")
    return (int(match.group(1)) - t0) / 1000


def remove_cgroups(vm_id):
    for controller in ("pids", "memory", "cpu"):
        path = f"/sys/fs/cgroup/{controller}/{PARENT}/{vm_id}"
        if os.path.isdir(path):
            os.rmdir(path)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", "--runs", type=int, default=20)
    parser.add_argument("--kiln", default=os.path.join(ROOT, ".build", "release", "kiln"))
    parser.add_argument("--jailer", default=os.path.join(ROOT, ".build", "release", "kiln-jailer"))
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("jailer.py needs root")
    for path in (args.kiln, args.jailer, HELLO):
        if not os.path.exists(path):
            sys.exit(f"missing {path}: run `swift build -c release --static-swift-stdlib -Xswiftc -static-executable` and `make -C Tests/Guests`")

    base = tempfile.mkdtemp(prefix="kiln-jailer-bench-")
    times = {"unjailed": [], "jailed": [], "jailed-copy": [], "jailed+cgroups": []}
    # A kiln the jailer must copy: owned by a non-root user, so a link could be rewritten.
    copy_source = os.path.join(base, "copy-source", "kiln")
    os.makedirs(os.path.dirname(copy_source))
    shutil.copy2(args.kiln, copy_source)
    os.chown(copy_source, 65534, 65534)
    try:
        for run in range(args.runs):
            times["unjailed"].append(spawn_to_marker([args.kiln, "boot", "--kernel", HELLO, "--no-stdin"]))
            for variant in ("jailed", "jailed-copy", "jailed+cgroups"):
                vm_id = f"{variant.replace('+', '-')}-{run}"
                extra = [x for setting in CGROUPS for x in ("--cgroup", setting)] if "cgroups" in variant else []
                exec_file = copy_source if variant == "jailed-copy" else args.kiln
                argv = [args.jailer, "--id", vm_id, "--exec-file", exec_file, "--uid", "23456", "--gid", "23456",
                        "--chroot-base-dir", base, "--parent-cgroup", PARENT, "--copy-in", HELLO, *extra,
                        "--", "boot", "--kernel", "/hello.elf", "--no-stdin"]
                times[variant].append(spawn_to_marker(argv))
                shutil.rmtree(os.path.join(base, "kiln", vm_id))
                remove_cgroups(vm_id)
    finally:
        shutil.rmtree(base, ignore_errors=True)
        for controller in ("pids", "memory", "cpu"):
            path = f"/sys/fs/cgroup/{controller}/{PARENT}"
            if os.path.isdir(path):
                os.rmdir(path)

    size = os.path.getsize(args.kiln) / (1 << 20)
    print(f"jailer benchmark: {args.runs} runs each, static kiln {size:.1f} MiB, host {os.uname().release}")
    baseline = statistics.median(times["unjailed"])
    for variant, values in times.items():
        m = statistics.median(values)
        print(f"process start -> first guest instruction (median) {variant:15s} {m/1000:7.2f} ms  "
              f"ratio {m/baseline:.2f}  added {(m-baseline)/1000:+.2f} ms  [min {min(values)/1000:.2f} max {max(values)/1000:.2f} ms]")


if __name__ == "__main__":
    main()
