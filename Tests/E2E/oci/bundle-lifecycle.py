#!/usr/bin/env python3
"""oci-bundle: a bare bundle (`runc spec` + a rootfs directory) through kiln-oci as an engine
drives it (conmon, containerd's shim): create, state, start, kill, delete.

usage: bundle-lifecycle.py KILN_OCI ROOTFS WORKDIR LOGDIR

Every 5 s the VMs' console and VMM logs are copied to LOGDIR and $KILN_E2E_PROGRESS is touched
(the harness's stall watchdog must see a slow boot as progress, and a wedged L1 leave its logs).

This process is a child subreaper (as conmon and the shim are), so the relay that `create`
leaves behind becomes its child and its exit status can be read with waitpid. Prints one
`ok NAME` line per check and `FAIL NAME: why` for a failed one; exit 1 if any failed.
"""
import ctypes
import json
import os
import subprocess
import shutil
import sys
import threading
import time

PR_SET_CHILD_SUBREAPER = 36
STEP_TIMEOUT = 180   # create boots a VM: in the nested harness, seconds each

oci, rootfs, work, logdir = sys.argv[1:5]
state_root = os.path.join(work, "state")
failures = []


def check(name, ok, why=""):
    print(("ok " + name) if ok else f"FAIL {name}: {why}", flush=True)
    if not ok:
        failures.append(name)


class Result:
    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def run(*args, stdin=subprocess.DEVNULL, stdout=None):
    """kiln-oci with its stderr (and stdout unless given) in files: the relay `create` leaves
    behind inherits them, so a pipe would not see EOF until the container ends."""
    run.calls += 1
    err_path = os.path.join(work, f"call{run.calls}.err")
    out_path = os.path.join(work, f"call{run.calls}.out")
    with open(err_path, "wb") as err, open(out_path, "wb") as out:
        p = subprocess.run([oci, "--root", state_root, "--log", os.path.join(work, "runtime.log"), *args],
                           stdin=stdin, stdout=stdout or out, stderr=err, timeout=STEP_TIMEOUT)
    with open(err_path, "rb") as err, open(out_path, "rb") as out:
        return Result(p.returncode, out.read(), err.read())


run.calls = 0


def state(cid):
    r = run("state", cid)
    if r.returncode != 0:
        return None
    return json.loads(r.stdout)


def bundle(name, args, settings=None):
    """A runc spec'd bundle whose rootfs is a symlink-free path to ROOTFS (a bind would need
    mount privileges the engine has; the runtime only reads root.path); settings(config) may
    change the config further."""
    path = os.path.join(work, name)
    os.makedirs(path)
    subprocess.run(["runc", "spec", "--bundle", path], check=True)
    with open(os.path.join(path, "config.json")) as f:
        config = json.load(f)
    config["root"] = {"path": rootfs, "readonly": True}
    config["process"]["terminal"] = False
    config["process"]["args"] = args
    config["process"]["env"] = ["PATH=/bin:/sbin:/usr/bin:/usr/sbin", "KILN_E2E=bundle"]
    config["process"]["cwd"] = "/tmp"
    if settings:
        settings(config)
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(config, f)
    return path


def processes_naming(text):
    """Pids whose command line mentions text (the VMM, jailer and relays name the state root)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if text.encode() in f.read():
                    found.append(int(entry))
        except OSError:
            pass
    return found


def wait_exit(pid, limit):
    """The relay's wait status, reaped as its subreaper; None if it is still there after limit s."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return status
        time.sleep(0.05)
    return None


def guest_settings(config):
    """What the guest applies from the config: a working directory missing from the rootfs
    (made, as runc makes it), the hostname, rlimits and additional gids."""
    config["process"]["cwd"] = "/tmp/made/here"
    config["hostname"] = "kiln-bundle"
    config["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 321, "hard": 654}]
    config["process"]["user"] = {"uid": 0, "gid": 0, "additionalGids": [4000, 4001]}


ROOT_ONLY_TOKEN = f"kiln-root-only-{os.getpid()}"


def plant_root_only_files():
    """A 0700 directory holding a 0600 file, both root's, in the rootfs (as /etc/shadow and /root
    are in a Debian image): the jailed VMM runs as an unprivileged uid, so only its file server
    thread's CAP_DAC_READ_SEARCH lets the guest's root read and list them."""
    directory = os.path.join(rootfs, "root-only")
    os.makedirs(directory, exist_ok=True)
    secret = os.path.join(directory, "secret")
    with open(secret, "w") as f:
        f.write(ROOT_ONLY_TOKEN + "\n")
    os.chown(directory, 0, 0)
    os.chown(secret, 0, 0)
    os.chmod(secret, 0o600)
    os.chmod(directory, 0o700)


def lifecycle_with_stdio():
    """sh reads a line from the engine's pipe, writes it back with the env, cwd, hostname,
    nofile limits and groups, reads a root-only file and lists a root-only directory, exits 3."""
    b = bundle("bundle-stdio", ["sh", "-c", 'read line; echo "got:$line env:$KILN_E2E cwd:$(pwd)"; '
                                "echo \"host:$(hostname) nofile:$(ulimit -Sn)/$(ulimit -Hn) groups:$(id -G)\"; "
                                "echo \"root-only:$(cat /root-only/secret) $(ls /root-only)\"; exit 3"],
               guest_settings)
    pid_file = os.path.join(work, "stdio.pid")
    r_in, w_in = os.pipe()
    out_path = os.path.join(work, "stdio.out")
    with open(out_path, "w") as out:
        t = time.monotonic()
        r = run("create", "--bundle", b, "--pid-file", pid_file, "c-stdio", stdin=r_in, stdout=out)
        create_s = time.monotonic() - t
    os.close(r_in)
    check("create", r.returncode == 0, r.stderr.decode(errors="replace").strip()[-400:])
    if r.returncode != 0:
        return
    print(f"create took {create_s:.2f} s", flush=True)
    pid = int(open(pid_file).read())
    s = state("c-stdio")
    check("state-created", s is not None and s.get("status") == "created" and s.get("pid") == pid
          and s.get("bundle") == b and s.get("id") == "c-stdio", f"{s}")
    check("pid-is-host-process", os.path.exists(f"/proc/{pid}") and os.getppid() != pid
          and b"relay" in open(f"/proc/{pid}/cmdline", "rb").read(), f"pid {pid}")
    r = run("start", "c-stdio")
    check("start", r.returncode == 0, r.stderr.decode(errors="replace").strip())
    s = state("c-stdio")
    check("state-running", s is not None and s.get("status") == "running", f"{s}")
    os.write(w_in, b"hello-kiln\n")
    os.close(w_in)
    status = wait_exit(pid, 60)
    check("exit-status-3", status is not None and os.WIFEXITED(status) and os.WEXITSTATUS(status) == 3, f"status {status}")
    lines = open(out_path).read().strip().split("\n")
    check("stdio-env-cwd", lines[0] == "got:hello-kiln env:bundle cwd:/tmp/made/here", repr(lines))
    check("hostname-rlimits-groups", lines[1:2] == ["host:kiln-bundle nofile:321/654 groups:0 4000 4001"], repr(lines))
    check("root-only-file-and-directory", lines[2:] == [f"root-only:{ROOT_ONLY_TOKEN} secret"], repr(lines))
    s = state("c-stdio")
    check("state-stopped", s is not None and s.get("status") == "stopped", f"{s}")
    r = run("delete", "c-stdio")
    check("delete", r.returncode == 0, r.stderr.decode(errors="replace").strip())
    check("state-gone", state("c-stdio") is None, "state still answers")
    check("dir-gone", not os.path.exists(os.path.join(state_root, "c-stdio")), "state directory left")


def kill_running():
    """A sleeping container, `kill c-sleep TERM`: the relay exits 143 (128 + SIGTERM)."""
    b = bundle("bundle-sleep", ["sleep", "600"])
    pid_file = os.path.join(work, "sleep.pid")
    r = run("create", "--bundle", b, "--pid-file", pid_file, "c-sleep")
    check("create-2", r.returncode == 0, r.stderr.decode(errors="replace").strip()[-400:])
    if r.returncode != 0:
        return
    pid = int(open(pid_file).read())
    r = run("start", "c-sleep")
    check("start-2", r.returncode == 0, r.stderr.decode(errors="replace").strip())
    # A duplicate id is refused while the first exists.
    r = run("create", "--bundle", b, "--pid-file", pid_file + ".dup", "c-sleep")
    check("duplicate-refused", r.returncode != 0 and not os.path.exists(pid_file + ".dup"), f"rc {r.returncode}")
    time.sleep(1)
    r = run("kill", "c-sleep", "TERM")
    check("kill", r.returncode == 0, r.stderr.decode(errors="replace").strip())
    status = wait_exit(pid, 60)
    check("exit-status-143", status is not None and os.WIFEXITED(status) and os.WEXITSTATUS(status) == 143,
          f"status {status}")
    r = run("delete", "c-sleep")
    check("delete-2", r.returncode == 0, r.stderr.decode(errors="replace").strip())


def delete_force_created():
    """A created (never started) container: delete (allowed, as runc does) ends its relay and
    VM; delete --force of an id that is gone succeeds."""
    b = bundle("bundle-force", ["true"])
    pid_file = os.path.join(work, "force.pid")
    r = run("create", "--bundle", b, "--pid-file", pid_file, "c-force")
    check("create-3", r.returncode == 0, r.stderr.decode(errors="replace").strip()[-400:])
    if r.returncode != 0:
        return
    pid = int(open(pid_file).read())
    r = run("delete", "c-force")
    check("delete-created", r.returncode == 0, r.stderr.decode(errors="replace").strip())
    status = wait_exit(pid, 20)
    check("relay-ended", status is not None, "relay still there after delete")
    r = run("delete", "--force", "c-force")
    check("delete-force-gone", r.returncode == 0, r.stderr.decode(errors="replace").strip())


def mirror_logs():
    progress = os.environ.get("KILN_E2E_PROGRESS")
    while True:
        if progress:
            try:
                os.utime(progress)
            except OSError:
                pass
        try:
            for cid in os.listdir(state_root):
                for name in ("console.log", "vmm.log"):
                    source = os.path.join(state_root, cid, name)
                    if os.path.exists(source):
                        shutil.copyfile(source, os.path.join(logdir, f"{cid}.{name}"))
        except OSError:
            pass
        time.sleep(5)


def main():
    threading.Thread(target=mirror_logs, daemon=True).start()
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        print("FAIL subreaper: prctl failed", flush=True)
        sys.exit(1)
    plant_root_only_files()
    lifecycle_with_stdio()
    kill_running()
    delete_force_created()
    time.sleep(0.5)
    left = processes_naming(state_root)
    check("no-process-left", not left, f"pids {left}")
    check("state-root-empty", not os.listdir(state_root) if os.path.isdir(state_root) else True,
          f"{os.listdir(state_root)}")
    sys.exit(1 if failures else 0)


main()
