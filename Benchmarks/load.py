#!/usr/bin/env python3
"""Load (issue 19, point 3): many kiln VMs with a tiny guest started and stopped, all at once
and one after another, with the host's resources counted before and after.

Each VM boots Tests/Guests/build/idle.elf (boot marker, "IDLE" on the console, then `sti; hlt`)
with 16 MiB, a virtio-blk drive, virtio-rng and a vsock device (Unix socket), through one of the
paths users take, in turn:
  boot    kiln boot --kernel idle.elf ... --control-sock api.sock (the path kiln create takes)
  api     kiln --api-sock api.sock; machine-config, boot-source, drive, vsock, entropy, logger
          and metrics files over the API, then InstanceStart (Firecracker's way)
  jailed  kiln-jailer (cgroups pids and memory, the network namespace below) -- boot ... with a
          virtio-net device on its own TAP as well, control socket inside the jail
A VM counts as started when its console's "IDLE" line arrives; it is stopped by
SendCtrlAltDel over its socket (idle.elf takes the interrupt with no IDT: a triple fault, a
reset, kiln exits 0 after its teardown). Then, as a user would (README: a finished jail stays
until removed), the driver removes the jail and its cgroups; a cgroup that still holds a process
cannot be removed, which the check reports.

TAPs live in a network namespace this driver creates (`ip netns add`), owned by the jail's
uid/gid; a TAP still attached to a file descriptor after its VM ended shows carrier.

Counted before and after each scenario (any difference fails): this driver's descriptors and
threads; processes that are kiln's (descendants of this driver, or with this run's directory in
their command line, or in its cgroups), their threads and memory mappings; Unix sockets bound
under this run's directory (host) and in the VMs' network namespace; socket files under it;
TAP devices on the host and in the namespace, and those still attached; cgroups under this
run's parent cgroup; jail directories; mounts naming this run's directory; files in the VMMs'
TMPDIR. Per VM: exit status 0, and no socket file besides the API socket left in its directory
(the API socket stays, as with Firecracker: "remove it after kiln exits").

Reports: start latency (spawn -> "IDLE") median and p90, VMs started per second overall and per
core (Firecracker states 5 microVMs/s per host core), and per-VM descriptors, threads and
mappings of a running kiln. Needs root for the jailed path and the TAPs (without root, only
boot and api run, and the run says so).

usage: load.py [--concurrent N] [--sequential N] [--kiln PATH] [--jailer PATH] [--json FILE]
Prints PASS/FAIL lines and "N passed, N failed"; exits 1 on any failure."""
import argparse, json, os, resource, select, shutil, signal, socket, stat, statistics, subprocess, sys, tempfile, threading, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "Tests"))
import checks  # noqa: E402
from checks import check  # noqa: E402
GUEST = os.path.join(ROOT, "Tests", "Guests", "build", "idle.elf")
CORES = os.cpu_count() or 1
JAIL_ID = 23457                 # uid and gid of jailed VMMs
CGROUP_LIMITS = ["pids.max=64", "memory.limit_in_bytes=268435456"]
START_TIMEOUT = 60
STOP_TIMEOUT = 30



class Run:
    """This run's directory, network namespace, TAPs and parent cgroup."""

    def __init__(self, kiln, jailer):
        self.kiln, self.jailer = kiln, jailer
        self.base = tempfile.mkdtemp(prefix="kiln-load-")
        os.chmod(self.base, 0o755)      # the jailed VMMs' uid must reach nothing here, but the jailer (root) builds in it
        self.tmp = os.path.join(self.base, "tmp")
        self.jails = os.path.join(self.base, "jails")
        os.makedirs(self.tmp)
        os.makedirs(self.jails)
        self.parent_cgroup = f"kiln-load-{os.getpid()}"
        self.netns = f"kiln-load-{os.getpid()}" if jailer else None
        self.taps = 0
        if self.netns:
            subprocess.run(["ip", "netns", "add", self.netns], check=True)

    def add_taps(self, count):
        """TAPs tap0..tap<count-1> in the namespace, up, owned by the jail's uid/gid."""
        lines = []
        for i in range(self.taps, count):
            lines.append(f"tuntap add dev tap{i} mode tap user {JAIL_ID} group {JAIL_ID}")
            lines.append(f"link set tap{i} up")
        if lines:
            subprocess.run(["ip", "-n", self.netns, "-batch", "-"], input="\n".join(lines) + "\n",
                           text=True, check=True)
            self.taps = count

    def close(self):
        if self.netns:
            subprocess.run(["ip", "netns", "del", self.netns])
        for hierarchy in cgroup_hierarchies():
            path = os.path.join(hierarchy, self.parent_cgroup)
            if os.path.isdir(path):
                try:
                    os.rmdir(path)
                except OSError as error:
                    print(f"note: cannot remove {path}: {error}", flush=True)
        shutil.rmtree(self.base, ignore_errors=True)


def cgroup_hierarchies():
    root = "/sys/fs/cgroup"
    return [os.path.join(root, name) for name in sorted(os.listdir(root))
            if os.path.isdir(os.path.join(root, name)) and not os.path.islink(os.path.join(root, name))]


def read(path, mode="r"):
    try:
        with open(path, mode) as f:
            return f.read()
    except OSError:
        return b"" if "b" in mode else ""


def kiln_processes(run):
    """Pids of this run's kiln processes: descendants of this driver, processes whose command
    line names this run's directory, and processes in its cgroups."""
    me = os.getpid()
    parents, ours = {}, set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        fields = read(f"/proc/{pid}/stat").rsplit(")", 1)
        if len(fields) < 2:
            continue
        parents[pid] = int(fields[1].split()[1])
        if run.base.encode() in read(f"/proc/{pid}/cmdline", "rb") or run.parent_cgroup in read(f"/proc/{pid}/cgroup"):
            ours.add(pid)
    for pid in parents:
        p, seen = parents.get(pid), 0
        while p and p != 1 and seen < 64:
            if p == me:
                ours.add(pid)
                break
            p, seen = parents.get(p), seen + 1
    ours.discard(me)
    return ours


def netns_lines(run, *argv):
    if not run.netns:
        return []
    out = subprocess.run(["ip", "netns", "exec", run.netns, *argv], capture_output=True, text=True).stdout
    return out.splitlines()


def driver_threads():
    """This process's OS threads, once those Python has joined are gone: join() returns when the
    thread's Python state is released, a moment before its OS thread ends."""
    deadline = time.monotonic() + 2
    while len(os.listdir("/proc/self/task")) > threading.active_count() and time.monotonic() < deadline:
        time.sleep(0.01)
    return len(os.listdir("/proc/self/task"))


def resources(run):
    """What a leak would show, as counts."""
    pids = kiln_processes(run)
    counts = {
        "driver descriptors": len(os.listdir("/proc/self/fd")),
        "driver threads": driver_threads(),
        "kiln processes": len(pids),
        "their threads": sum(len(os.listdir(f"/proc/{p}/task")) for p in pids if os.path.isdir(f"/proc/{p}/task")),
        "their mappings": sum(read(f"/proc/{p}/maps").count("\n") for p in pids),
        "Unix sockets bound under the run directory": sum(run.base in line for line in read("/proc/net/unix").splitlines()),
        "socket files": sum(1 for d, _, files in os.walk(run.base) for f in files
                            if stat.S_ISSOCK(os.lstat(os.path.join(d, f)).st_mode)),
        "TAP devices on the host": sum(os.path.exists(f"/sys/class/net/{n}/tun_flags") for n in os.listdir("/sys/class/net")),
        "cgroups": sum(len([d for d in os.listdir(os.path.join(h, run.parent_cgroup))
                            if os.path.isdir(os.path.join(h, run.parent_cgroup, d))])
                       for h in cgroup_hierarchies() if os.path.isdir(os.path.join(h, run.parent_cgroup))),
        "jail directories": len(os.listdir(os.path.join(run.jails, "kiln"))) if os.path.isdir(os.path.join(run.jails, "kiln")) else 0,
        "mounts naming the run directory": sum(run.base in line for line in read("/proc/self/mountinfo").splitlines()),
        "files in the VMMs' TMPDIR": len(os.listdir(run.tmp)),
    }
    if run.netns:
        links = netns_lines(run, "ip", "-o", "link", "show", "type", "tun")
        counts["Unix sockets in the VMs' network namespace"] = max(0, len(netns_lines(run, "cat", "/proc/net/unix")) - 1)
        counts["TAP devices in the VMs' network namespace"] = len(links)
        counts["TAPs still attached (carrier)"] = sum("LOWER_UP" in line for line in links)
    return counts


class UnixHTTP:
    """One HTTP/1.1 request over a Unix socket; returns the status code."""

    @staticmethod
    def request(path, method, target, body, timeout=10):
        data = json.dumps(body).encode()
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(path)
            s.sendall(f"{method} {target} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                      f"Content-Length: {len(data)}\r\n\r\n".encode() + data)
            head = b""
            while b"\r\n" not in head:
                chunk = s.recv(4096)
                if not chunk:
                    break
                head += chunk
        parts = head.split(b" ", 2)
        return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


class VM:
    def __init__(self, run, index, variant, tap=None):
        self.run, self.index, self.variant, self.tap = run, index, variant, tap
        self.id = f"load-{index}"
        self.dir = os.path.join(run.base, "vms", self.id)
        os.makedirs(self.dir)
        self.disk = os.path.join(self.dir, "disk.img")
        with open(self.disk, "wb") as f:
            f.truncate(1 << 20)
        self.error = None
        self.proc = None
        self.started = self.ready = self.stopped = None
        self.usage = None

    @property
    def jail_root(self):
        return os.path.join(self.run.jails, "kiln", self.id, "root")

    @property
    def socket_path(self):
        return os.path.join(self.jail_root if self.variant == "jailed" else self.dir, "api.sock")

    def devices(self, prefix):
        return ["--memory", "16", "--drive", f"{prefix}disk.img", "--vsock", f"3,{prefix}vsock.sock",
                "--entropy", "--no-stdin"]

    def argv(self):
        kiln = self.run.kiln
        if self.variant == "boot":
            return [kiln, "boot", "--kernel", GUEST, *self.devices(self.dir + "/"), "--control-sock", self.socket_path]
        if self.variant == "api":
            return [kiln, "--api-sock", self.socket_path, "--id", self.id]
        limits = [x for limit in CGROUP_LIMITS for x in ("--cgroup", limit)]
        return [self.run.jailer, "--id", self.id, "--exec-file", kiln, "--uid", str(JAIL_ID), "--gid", str(JAIL_ID),
                "--chroot-base-dir", self.run.jails, "--parent-cgroup", self.run.parent_cgroup, *limits,
                "--netns", f"/var/run/netns/{self.run.netns}", "--bind-in", GUEST, "--copy-in", self.disk,
                "--", "boot", "--kernel", "/idle.elf", *self.devices("/"), "--net", self.tap,
                "--control-sock", "/api.sock"]

    def start(self):
        self.stderr = open(os.path.join(self.dir, "stderr"), "wb")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self.stderr, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                                                              "TMPDIR": self.run.tmp})
        if self.variant == "api":
            self.configure()

    def wait_socket(self, deadline):
        while time.monotonic() < deadline:
            if os.path.exists(self.socket_path):
                try:
                    return UnixHTTP.request(self.socket_path, "GET", "/", None) == 200
                except OSError:
                    pass
            if self.proc.poll() is not None:
                return False
            time.sleep(0.002)
        return False

    def configure(self):
        if not self.wait_socket(time.monotonic() + START_TIMEOUT):
            raise RuntimeError("the API socket never answered")
        for name in ("log", "metrics"):
            open(os.path.join(self.dir, name), "w").close()
        steps = [("/machine-config", {"vcpu_count": 1, "mem_size_mib": 16}),
                 ("/boot-source", {"kernel_image_path": GUEST}),
                 ("/drives/disk", {"drive_id": "disk", "path_on_host": self.disk, "is_root_device": False,
                                   "is_read_only": False}),
                 ("/vsock", {"guest_cid": 3, "uds_path": os.path.join(self.dir, "vsock.sock")}),
                 ("/entropy", {}),
                 ("/logger", {"log_path": os.path.join(self.dir, "log"), "level": "Info"}),
                 ("/metrics", {"metrics_path": os.path.join(self.dir, "metrics")}),
                 ("/actions", {"action_type": "InstanceStart"})]
        for target, body in steps:
            status = UnixHTTP.request(self.socket_path, "PUT", target, body)
            if status != 204:
                raise RuntimeError(f"PUT {target}: HTTP {status}")

    def wait_ready(self):
        """Reads the console until "IDLE" (the guest is running)."""
        deadline, seen = self.started + START_TIMEOUT, b""
        fd = self.proc.stdout.fileno()
        while b"IDLE" not in seen:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise RuntimeError(f"no IDLE within {START_TIMEOUT} s")
            chunk = os.read(fd, 4096)
            if not chunk:
                raise RuntimeError(f"kiln exited ({self.proc.wait()}) before IDLE: {read(self.stderr.name)[-300:]}")
            seen += chunk
        self.ready = time.monotonic()

    def measure(self):
        pid = self.proc.pid
        self.usage = (len(os.listdir(f"/proc/{pid}/fd")), len(os.listdir(f"/proc/{pid}/task")),
                      read(f"/proc/{pid}/maps").count("\n"))

    def stop(self):
        if self.variant != "api" and not self.wait_socket(time.monotonic() + STOP_TIMEOUT):
            raise RuntimeError("the control socket never answered")
        status = UnixHTTP.request(self.socket_path, "PUT", "/actions", {"action_type": "SendCtrlAltDel"})
        if status != 204:
            raise RuntimeError(f"SendCtrlAltDel: HTTP {status}")
        try:
            code = self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"still running {STOP_TIMEOUT} s after SendCtrlAltDel")
        self.stopped = time.monotonic()
        self.proc.stdout.close()
        self.stderr.close()
        if code != 0:
            raise RuntimeError(f"exit {code}: {read(self.stderr.name)[-300:]}")
        root = self.jail_root if self.variant == "jailed" else self.dir
        left = [f for f in os.listdir(root) if f != "api.sock" and stat.S_ISSOCK(os.lstat(os.path.join(root, f)).st_mode)]
        if left:
            raise RuntimeError(f"left socket files {left} in {root}")

    def remove(self):
        """What the user does after the VM ended: the jail and its cgroups, then its files."""
        if self.variant == "jailed" and os.path.isdir(os.path.dirname(self.jail_root)):
            shutil.rmtree(os.path.dirname(self.jail_root))
            for hierarchy in cgroup_hierarchies():
                group = os.path.join(hierarchy, self.run.parent_cgroup, self.id)
                if os.path.isdir(group):
                    os.rmdir(group)         # EBUSY if a process is still in it
        shutil.rmtree(self.dir)

    def abandon(self):
        """After a failure: the VMM's status and last words for the report, then kill it and
        clean up as after a normal stop, so what is counted afterwards is kiln's, not this
        driver's."""
        if not self.proc:
            return ""
        status = self.proc.poll()
        if status is None:
            self.proc.kill()
            self.proc.wait()
        for f in (self.proc.stdout, self.stderr):
            f.close()
        said = read(self.stderr.name)[-300:].strip().replace("\n", " | ")
        try:
            self.remove()
        except OSError as error:
            said += f" (cleanup: {error})"
        return f"[{'running, killed' if status is None else f'exit {status}'}; stderr: {said}]"


def variants(run):
    return ["boot", "api", "jailed"] if run.jailer else ["boot", "api"]


def lifecycle(vm, started_all, may_stop, errors):
    """One VM: start, wait for its console, (wait for the others and the count), stop, remove."""
    try:
        vm.start()
        vm.wait_ready()
        vm.measure()
    except Exception as error:      # a VM that fails is reported, the others go on
        vm.error = f"start: {error}"
    if started_all:
        started_all.wait()
        may_stop.wait()
    if vm.error is None:
        try:
            vm.stop()
            vm.remove()
        except Exception as error:
            vm.error = f"stop: {error}"
    if vm.error:
        errors.append(f"{vm.id} ({vm.variant}): {vm.error} {vm.abandon()}")


def check_counted(name, vms, during):
    """The counts must see the running VMs, or "nothing left behind" would prove nothing."""
    running = [vm for vm in vms if vm.ready and vm.proc.poll() is None]
    jailed = sum(vm.variant == "jailed" for vm in running)
    want = {"kiln processes": (len(running), len(running)),
            "Unix sockets bound under the run directory": (2 * (len(running) - jailed), None),
            "jail directories": (jailed, jailed), "cgroups": (jailed, None)}
    if "TAPs still attached (carrier)" in during:
        want["TAPs still attached (carrier)"] = (jailed, jailed)
    wrong = [f"{k} {during[k]}, want {'>= ' if hi is None else ''}{lo}" for k, (lo, hi) in want.items()
             if during[k] < lo or (hi is not None and during[k] > hi)]
    check(f"{name}: the counts see the {len(running)} running VMs ({jailed} jailed): "
          + ", ".join(f"{k} {during[k]}" for k in want), not wrong, "; ".join(wrong))


def scenario(run, name, count, concurrent):
    kinds = variants(run)
    jailed = sum(1 for i in range(count) if kinds[i % len(kinds)] == "jailed")
    if run.netns:
        run.add_taps(jailed if concurrent else 1)
    before = resources(run)
    vms, errors, tap = [], [], 0
    for i in range(count):
        kind = kinds[i % len(kinds)]
        vms.append(VM(run, f"{name}-{i}", kind, tap=f"tap{tap if concurrent else 0}" if kind == "jailed" else None))
        tap += kind == "jailed"
    t0 = time.monotonic()
    if concurrent:
        barrier, may_stop = threading.Barrier(count + 1), threading.Event()
        threads = [threading.Thread(target=lifecycle, args=(vm, barrier, may_stop, errors)) for vm in vms]
        for thread in threads:
            thread.start()
        # Every VM is running (or failed) once all have reached the barrier.
        barrier.wait()
        t_started = time.monotonic()
        during = resources(run)
        may_stop.set()
        check_counted(name, vms, during)
        for thread in threads:
            thread.join()
    else:
        for vm in vms:
            lifecycle(vm, None, None, errors)
        t_started = None
    t_end = time.monotonic()
    shutil.rmtree(os.path.join(run.base, "vms"), ignore_errors=True)
    after = resources(run)

    check(f"{name}: {count} VMs ({', '.join(kinds)} in turn) started and stopped, each exit 0",
          not errors, f"{len(errors)} failed: " + "; ".join(errors[:5]))
    leaks = {k: (before[k], after[k]) for k in before if before[k] != after[k]}
    check(f"{name}: nothing left behind (" + ", ".join(f"{k} {v}" for k, v in after.items()) + ")",
          not leaks, "; ".join(f"{k}: {b} before, {a} after" for k, (b, a) in leaks.items()))

    good = [vm for vm in vms if vm.ready]
    latencies = sorted((vm.ready - vm.started) * 1000 for vm in good)
    result = {"scenario": name, "vms": count, "failed": len(errors), "concurrent": concurrent,
              "cores": CORES, "before": before, "after": after, "seconds": round(t_end - t0, 3)}
    if latencies:
        result["start_ms_median"] = round(statistics.median(latencies), 1)
        result["start_ms_p90"] = round(latencies[int(0.9 * (len(latencies) - 1))], 1)
        for kind in kinds:
            own = [(vm.ready - vm.started) * 1000 for vm in good if vm.variant == kind]
            if own:
                result[f"start_ms_median_{kind}"] = round(statistics.median(own), 1)
    if concurrent:
        last_ready = max((vm.ready for vm in good), default=t_started)
        result["seconds_to_all_started"] = round(last_ready - t0, 3)
        rate = len(good) / (last_ready - t0)
    else:
        # One at a time: each VM's start and stop; what a core does in sequence.
        rate = len(good) / (t_end - t0)
    result["vms_per_second"] = round(rate, 2)
    result["vms_per_second_per_core"] = round(rate / CORES, 2)
    usage = [vm.usage for vm in good if vm.usage]
    if usage:
        result["running_kiln_median_fds_threads_mappings"] = [statistics.median(u[i] for u in usage) for i in range(3)]
    print(f"load: {name}: " + json.dumps({k: v for k, v in result.items() if k not in ("before", "after")}), flush=True)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--concurrent", type=int, default=100, help="VMs started at once, then stopped (0: skip)")
    parser.add_argument("--sequential", type=int, default=1000, help="VMs started and stopped one after another (0: skip)")
    parser.add_argument("--kiln", default=os.environ.get("KILN", os.path.join(ROOT, ".build", "release", "kiln")))
    parser.add_argument("--jailer", default=None, help="default: kiln-jailer next to kiln (root only)")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    for path in (args.kiln, GUEST):
        if not os.path.exists(path):
            check(f"prerequisite {path}", False,
                  "missing: `swift build -c release --static-swift-stdlib -Xswiftc -static-executable` and `make -C Tests/Guests`")
            sys.exit(checks.summary())
    jailer = args.jailer or os.path.join(os.path.dirname(args.kiln), "kiln-jailer")
    if os.geteuid() != 0 or not os.path.exists(jailer):
        check("the jailed path runs (root and kiln-jailer next to kiln)", False,
              f"euid {os.geteuid()}, {jailer} {'present' if os.path.exists(jailer) else 'missing'}")
        jailer = None
    # Each VMM holds about 20 descriptors; the driver holds 2 per VM while they run.
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    run = Run(args.kiln, jailer)
    results = []
    try:
        if args.concurrent:
            results.append(scenario(run, "concurrent", args.concurrent, True))
        if args.sequential:
            results.append(scenario(run, "sequential", args.sequential, False))
    finally:
        run.close()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    sys.exit(checks.summary())


if __name__ == "__main__":
    main()
