#!/usr/bin/env python3
"""Start-up baseline: runs a loader N times on a guest that writes the boot marker first
(Tests/Guests/build/hello.elf) and reports medians of
  spawn -> marker: CLOCK_MONOTONIC just before posix_spawn to the marker exit in the loader,
  main  -> marker: the loader's own figure (from main's first line), and their difference,
  spawn -> main (fork/exec, dynamic linking),
  peak RSS of the loader (VmHWM, printed by `loader -r`; wait4's ru_maxrss is useless here
  because Linux carries the vfork()ing parent's RSS across execve) and its CPU time.
usage: bench.py [-n RUNS] [LOADER [GUEST.elf [MiB]]]"""
import os, re, statistics, sys, tempfile, time

here = os.path.dirname(os.path.abspath(__file__))
args = sys.argv[1:]
runs = 20
if args[:1] == ["-n"]:
    runs, args = int(args[1]), args[2:]
loader = args[0] if args else os.path.join(here, "build", "loader")
guest = args[1] if len(args) > 1 else os.path.join(here, "..", "..", "Tests", "Guests", "build", "hello.elf")
extra = args[2:]
marker = re.compile(r"boot marker at (\d+) us since main .*CLOCK_MONOTONIC (\d+) ns")
peak = re.compile(r"peak RSS (\d+) KiB")

spawn_us, exec_us, main_us, rss_kib, cpu_ms = [], [], [], [], []
for _ in range(runs):
    with tempfile.TemporaryFile() as err:
        actions = [(os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
                   (os.POSIX_SPAWN_DUP2, err.fileno(), 2)]
        t0 = time.monotonic_ns()
        pid = os.posix_spawn(loader, [loader, "-r", guest, *extra], os.environ, file_actions=actions)
        _, status, usage = os.wait4(pid, 0)
        err.seek(0)
        text = err.read().decode()
    m, p = marker.search(text), peak.search(text)
    if os.waitstatus_to_exitcode(status) != 0 or not m or not p:
        sys.exit(f"run failed (status {status}): {text}")
    main_us.append(int(m.group(1)))
    spawn_us.append((int(m.group(2)) - t0) / 1000)
    exec_us.append(spawn_us[-1] - main_us[-1])
    rss_kib.append(int(p.group(1)))
    cpu_ms.append((usage.ru_utime + usage.ru_stime) * 1000)

def show(name, xs, unit):
    print(f"{name:16} median {statistics.median(xs):8.0f} {unit}  min {min(xs):8.0f}  max {max(xs):8.0f}")

print(f"{runs} runs of {os.path.basename(loader)} {os.path.basename(guest)} {' '.join(extra)}")
show("spawn -> marker", spawn_us, "us")
show("main -> marker", main_us, "us")
show("spawn -> main", exec_us, "us")
show("peak RSS", rss_kib, "KiB")
show("CPU user+sys", cpu_ms, "ms")
