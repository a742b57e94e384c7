#!/usr/bin/env python3
"""virtio-blk benchmark (issue 5, point 8a): Kiln's virtio-blk against raw host I/O on the same
host file, measured in the same run, interleaved (the order alternates every run) so that machine
load hits both alike.

Guest side: Tests/Guests/build/bench_blk.elf, whose virtio-blk driver loop runs in ring 3 (native
on our PVM /dev/kvm), drives one phase per boot: 1 MiB sequential reads/writes over the whole file
(8 requests in flight, one 1 MiB descriptor each) and 4 KiB random reads/writes (64 in flight).
It times each phase with rdtsc (first submit -> last completion, so VM start-up is not counted);
the TSC is calibrated by the host: the guest prints CAL0/CAL1 around a fixed number of TSC cycles
and the host timestamps both lines (median of 3 boots).

Host side: fio (Debian's `fio`), ioengine=psync, one job, buffered: the same pread/pwrite calls on
a normal (page-cached) fd that Kiln's backend makes, on its single device thread. Random offsets
are drawn with replacement on both sides (fio --norandommap; the guest uses an LCG).

Cache state, the same on both sides:
  warm  the file is read into the page cache (cat) before every measurement; `sync` before every
        measurement so earlier writes' writeback does not land in it; no fsync inside the timed
        region (writes end in the page cache) unless --flush;
  cold  `echo 3 > /proc/sys/vm/drop_caches` (after sync) before every measurement: sequential read
        of the whole file and random reads (--cold-rand-ops of them). Needs root.
Reports medians over RUNS (default 5): MB/s (10^6 bytes/s), IOPS, and the ratio Kiln / host.

usage: blk-bench.py [-n RUNS] [--size-mib 256] [--dir /var/tmp] [--rand-ops 65536]
                    [--cold-rand-ops 8192] [--flush] [--kiln PATH] [--guest PATH] [--keep]
                    [--engine sync|async|both]   (the drive's io_engine; both: interleaved in each run)
                    [--kiln-before PATH]  (a second kiln, e.g. main's build, interleaved with --kiln
                                           on the same engines: rows labelled "before")
                    [--phases randread,randwrite]  (a subset of the warm phases; --no-cold for none cold)"""
import argparse, json, os, re, shutil, statistics, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GUEST = os.path.join(ROOT, "Tests", "Guests", "build", "bench_blk.elf")
MEMORY_MIB = 64
SEQ_BS, RAND_BS = 1 << 20, 4096
PHASES = {  # name: (guest phase, guest key, fio rw, block size)
    "seqread": ("sr", "SEQREAD", "read", SEQ_BS),
    "seqwrite": ("sw", "SEQWRITE", "write", SEQ_BS),
    "randread": ("rr", "RANDREAD", "randread", RAND_BS),
    "randwrite": ("rw", "RANDWRITE", "randwrite", RAND_BS),
}
RESULT = re.compile(r"^(\w+) bytes (\d+) ops (\d+) cycles (\d+) errors (\d+) qd (\d+)$")


def drop_caches(_path=None):
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def warm(path):
    os.sync()
    with open(path, "rb") as f:
        while f.read(8 << 20):
            pass


def make_file(path, size_mib):
    chunk = os.urandom(1 << 20)
    with open(path, "wb") as f:
        for _ in range(size_mib):
            f.write(chunk)
        f.flush()
        os.fsync(f.fileno())


def run_kiln(args, cmdline, timeout=300, engine="sync", kiln=None):
    """Boots the guest; returns [(host monotonic s when the line arrived, line)]."""
    argv = [kiln or args.kiln, "boot", "--kernel", args.guest, "--memory", str(MEMORY_MIB), "--no-stdin",
            "--cmdline", cmdline]
    if "cal=" not in cmdline:
        argv += ["--drive", f"{args.file},io={engine}"]
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines = []
    deadline = time.monotonic() + timeout
    try:
        for raw in proc.stdout:
            lines.append((time.monotonic(), raw.decode(errors="replace").rstrip("\n")))
            if time.monotonic() > deadline:
                raise TimeoutError
        proc.wait(timeout=max(1, deadline - time.monotonic()))
    except (TimeoutError, subprocess.TimeoutExpired):
        proc.kill()
        proc.wait()
        sys.exit(f"kiln timed out; output so far: {lines}")
    err = proc.stderr.read().decode(errors="replace")
    if proc.returncode != 0:
        sys.exit(f"kiln exited {proc.returncode}: {err}\n{lines}")
    return lines


def calibrate(args):
    """TSC cycles per second, from host timestamps of the guest's CAL0/CAL1 lines."""
    rates = []
    for _ in range(3):
        lines = run_kiln(args, f"cal={args.cal_mcycles}")
        marks = {l.split()[0]: (t, int(l.split()[1])) for t, l in lines if l.startswith("CAL")}
        (t0, c0), (t1, c1) = marks["CAL0"], marks["CAL1"]
        rates.append((c1 - c0) / (t1 - t0))
    return statistics.median(rates), rates


def seq_mib(args, state):
    """Bytes per sequential phase: --seq-passes over the file when warm (a single pass of a
    256 MiB cached file takes ~10 ms), one pass when cold."""
    return args.size_mib * (args.seq_passes if state == "warm" else 1)


def kiln_phase(args, phase, tsc_hz, rand_ops, state, qd_seq, engine="sync", kiln=None):
    code, key, _, bs = PHASES[phase]
    cmdline = (f"phases={code} rand_ops={rand_ops} seq_mib={seq_mib(args, state)} qd_seq={qd_seq} "
               f"qd_rand={args.qd_rand} flush={int(args.flush)}")
    for _, line in run_kiln(args, cmdline, engine=engine, kiln=kiln):
        m = RESULT.match(line)
        if m and m.group(1) == key:
            nbytes, ops, cycles, errors = (int(m.group(i)) for i in (2, 3, 4, 5))
            if errors:
                sys.exit(f"guest reported {errors} failed requests: {line}")
            seconds = cycles / tsc_hz
            return nbytes / seconds / 1e6, ops / seconds
    sys.exit(f"guest printed no {key} line")


def fio_phase(args, phase, rand_ops, state):
    _, _, rw, bs = PHASES[phase]
    argv = ["fio", "--name=raw", f"--filename={args.file}", f"--rw={rw}", f"--bs={bs}",
            "--ioengine=psync", "--direct=0", "--invalidate=0", "--numjobs=1", "--thread",
            f"--size={args.size_mib}M", "--fallocate=none", "--output-format=json"]
    if rw.startswith("rand"):
        argv += ["--norandommap", "--randrepeat=0", f"--io_size={rand_ops * bs}"]
    else:
        argv += [f"--io_size={seq_mib(args, state)}M"]  # wraps around the file like the guest
    if args.flush and "write" in rw:
        argv += ["--end_fsync=1"]
    out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    job = json.loads(out[out.index("{"):])["jobs"][0]
    side = job["write" if "write" in rw else "read"]
    return side["bw_bytes"] / 1e6, side["iops"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", "--runs", type=int, default=5)
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--dir", default="/var/tmp")
    parser.add_argument("--rand-ops", type=int, default=65536)
    parser.add_argument("--cold-rand-ops", type=int, default=8192)
    parser.add_argument("--seq-passes", type=int, default=4, help="passes over the file per warm seq phase")
    parser.add_argument("--qd-seq", type=int, default=2, help="guest 1 MiB requests in flight (headline)")
    parser.add_argument("--qd-seq-alt", type=int, default=8, help="second guest queue depth for warm seq, 0: none")
    parser.add_argument("--qd-rand", type=int, default=64)
    parser.add_argument("--cal-mcycles", type=int, default=2000, help="TSC calibration spin, million cycles")
    parser.add_argument("--flush", action="store_true", help="fsync/FLUSH at the end of write phases, timed")
    parser.add_argument("--no-cold", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the test file")
    parser.add_argument("--kiln", default=os.path.join(ROOT, ".build", "release", "kiln"))
    parser.add_argument("--guest", default=GUEST)
    parser.add_argument("--engine", choices=["sync", "async", "both"], default="sync",
                        help="kiln drive io_engine; both runs each kiln phase with each engine")
    parser.add_argument("--kiln-before", help="a second kiln binary run interleaved with --kiln (rows 'before')")
    parser.add_argument("--phases", default=",".join(PHASES),
                        help=f"comma-separated warm phases to run (default all: {','.join(PHASES)})")
    args = parser.parse_args()
    for path in (args.kiln, args.guest) + ((args.kiln_before,) if args.kiln_before else ()):
        if not os.path.exists(path):
            sys.exit(f"missing {path}: run `swift build -c release --static-swift-stdlib` and `make -C Tests/Guests`")
    if not shutil.which("fio"):
        sys.exit("fio not found: apt-get install -y fio")
    cold = not args.no_cold
    if cold and os.geteuid() != 0:
        sys.exit("cold-cache runs need root (drop_caches); use --no-cold")

    args.file = os.path.join(args.dir, f"kiln-blk-bench-{os.getpid()}.img")
    make_file(args.file, args.size_mib)
    try:
        tsc_hz, rates = calibrate(args)
        phases = args.phases.split(",")
        unknown = [p for p in phases if p not in PHASES]
        if unknown:
            sys.exit(f"unknown phase(s) {', '.join(unknown)}; choose from {', '.join(PHASES)}")
        cases = [(p, "warm", args.rand_ops) for p in PHASES if p in phases]
        if cold:
            cases += [("seqread", "cold", args.rand_ops), ("randread", "cold", args.cold_rand_ops)]
        results = {}
        for run in range(args.runs):
            for phase, state, ops in cases:
                qds = [args.qd_seq] + ([args.qd_seq_alt] if args.qd_seq_alt and state == "warm"
                                       and phase.startswith("seq") else [])
                order = ("kiln", "host") if run % 2 == 0 else ("host", "kiln")
                engines = ["sync", "async"] if args.engine == "both" else [args.engine]
                builds = [("", args.kiln)] + ([("before ", args.kiln_before)] if args.kiln_before else [])
                variants = [(label, path, e) for label, path in builds for e in engines]
                if run % 2:
                    variants.reverse()
                for side in order:
                    for (label, path, engine), qd in ([(v, q) for v in variants for q in qds] if side == "kiln"
                                                      else [(("", None, ""), 0)]):
                        (drop_caches if state == "cold" else warm)(args.file)
                        result = (kiln_phase(args, phase, tsc_hz, ops, state, qd, engine, path) if side == "kiln"
                                  else fio_phase(args, phase, ops, state))
                        key = (f"kiln {label}{engine} qd{qd if phase.startswith('seq') else args.qd_rand}"
                               if side == "kiln" else "host")
                        results.setdefault((phase, state), {}).setdefault(key, []).append(result)
    finally:
        if not args.keep:
            os.unlink(args.file)

    print(f"virtio-blk benchmark: {args.runs} runs each, interleaved; file {args.size_mib} MiB in {args.dir}; "
          f"host {os.uname().release}; guest TSC {tsc_hz/1e9:.4f} GHz (calibrations "
          f"{', '.join(f'{r/1e9:.4f}' for r in rates)})")
    print(f"raw host = fio psync buffered, 1 job; kiln = bench_blk.elf ring-3 driver, 1 MiB x qd "
          f"{args.qd_seq} (and {args.qd_seq_alt}) / 4 KiB x qd {args.qd_rand}; warm seq phases "
          f"{args.seq_passes} passes; flush in timed region: {'yes' if args.flush else 'no'}")
    print(f"{'phase':<10} {'cache':<5} {'kiln':<20} {'kiln MB/s':>10} {'host MB/s':>10} {'kiln IOPS':>10} "
          f"{'host IOPS':>10} {'ratio':>6}  MB/s per run: kiln | host")
    headline = {}
    for (phase, state), sides in results.items():
        h_bw = statistics.median(r[0] for r in sides["host"])
        h_io = statistics.median(r[1] for r in sides["host"])
        hruns = " ".join(f"{r[0]:.0f}" for r in sides["host"])
        for key, runs in sides.items():
            if key == "host":
                continue
            k_bw = statistics.median(r[0] for r in runs)
            k_io = statistics.median(r[1] for r in runs)
            headline.setdefault((phase, state), k_bw / h_bw)
            kruns = " ".join(f"{r[0]:.0f}" for r in runs)
            print(f"{phase:<10} {state:<5} {key[5:]:<20} {k_bw:>10.1f} {h_bw:>10.1f} {k_io:>10.0f} {h_io:>10.0f} "
                  f"{k_bw/h_bw:>6.2f}  [{kruns}] | [{hruns}]")
    sequential = [headline[(p, "warm")] for p in ("seqread", "seqwrite") if (p, "warm") in headline]
    if not sequential:
        return
    worst = min(sequential)
    print(f"target (sequential, warm, headline qd): kiln >= 80% of raw host throughput: "
          f"{'met' if worst >= 0.8 else 'NOT met'} (worst ratio {worst:.2f})")


if __name__ == "__main__":
    main()
