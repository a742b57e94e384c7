"""Shared helpers for the API tests and benchmark (stdlib only): start `kiln --api-sock` in a
temporary directory, talk HTTP/1.1 to it over the Unix socket (http.client) or send raw bytes."""
import http.client
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def kiln_binary():
    """$KILN, else the release build, else the debug build."""
    for candidate in (os.environ.get("KILN"), os.path.join(REPO, ".build/release/kiln"),
                      os.path.join(REPO, ".build/debug/kiln")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise SystemExit("kiln not built: swift build (or set KILN)")


def guest(name):
    path = os.path.join(REPO, "Tests/Guests/build", name)
    if not os.path.exists(path):
        raise SystemExit(f"{path} missing: make -C Tests/Guests")
    return path


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=10):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


class Response:
    def __init__(self, status, raw):
        self.status = status
        self.raw = raw
        try:
            self.json = json.loads(raw) if raw else None
        except ValueError:
            self.json = None

    @property
    def fault(self):
        """The fault_message, or None when the body is not {"fault_message": "<non-empty>"}."""
        if isinstance(self.json, dict) and isinstance(self.json.get("fault_message"), str) \
                and self.json["fault_message"]:
            return self.json["fault_message"]
        return None

    def __repr__(self):
        return f"{self.status} {self.raw[:300]!r}"


class Kiln:
    """One `kiln --api-sock` process in its own temporary directory."""

    def __init__(self, *extra, instance_id="conformance", seccomp=True, wait=True, binary=None):
        self.dir = tempfile.mkdtemp(prefix="kiln-api-")
        self.sock = os.path.join(self.dir, "api.sock")
        self.stdout_path = os.path.join(self.dir, "stdout")
        self.stderr_path = os.path.join(self.dir, "stderr")
        args = [binary or kiln_binary(), "--api-sock", self.sock, "--id", instance_id, *extra]
        if not seccomp:
            args.append("--no-seccomp")
        self.started = time.monotonic()
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        self.pid = self.proc.pid
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"kiln exited with {self.proc.returncode}: {self.stderr()}")
            try:
                if self.request("GET", "/", timeout=2).status == 200:
                    return time.monotonic() - self.started
            except OSError:
                pass
            time.sleep(0.002)
        raise RuntimeError(f"kiln API socket did not answer within {timeout} s")

    def request(self, method, path, body=None, timeout=10, headers=None):
        """One request on a fresh connection; body: a dict/list (sent as JSON), str or bytes."""
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        connection = UnixHTTPConnection(self.sock, timeout)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return Response(response.status, response.read())
        finally:
            connection.close()

    def raw(self, data, timeout=5):
        """Sends raw bytes, returns (status or None, Response-like body) of the first answer."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(self.sock)
        out = b""
        try:
            try:
                s.sendall(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server may answer and close before reading everything
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
                head, sep, rest = out.partition(b"\r\n\r\n")
                if sep:
                    length = 0
                    for line in head.split(b"\r\n")[1:]:
                        name, _, value = line.partition(b":")
                        if name.strip().lower() == b"content-length":
                            length = int(value.strip())
                    if len(rest) >= length:
                        break
        except (socket.timeout, ConnectionResetError):
            pass
        finally:
            s.close()
        head, _, rest = out.partition(b"\r\n\r\n")
        try:
            status = int(head.split(b" ")[1])
        except (IndexError, ValueError):
            status = None
        return Response(status, rest)

    def alive(self):
        return self.proc.poll() is None

    def stderr(self):
        with open(self.stderr_path, "rb") as f:
            return f.read().decode(errors="replace")

    def stdout(self):
        with open(self.stdout_path, "rb") as f:
            return f.read().decode(errors="replace")

    def threads(self):
        """{tid: (name, seccomp mode)} of every thread of the process."""
        result = {}
        try:
            tids = os.listdir(f"/proc/{self.pid}/task")
        except (FileNotFoundError, ProcessLookupError):
            return result
        for tid in tids:
            try:
                with open(f"/proc/{self.pid}/task/{tid}/comm") as f:
                    name = f.read().strip()
                with open(f"/proc/{self.pid}/task/{tid}/status") as f:
                    mode = next((line.split()[1] for line in f if line.startswith("Seccomp:")), None)
            except (FileNotFoundError, ProcessLookupError):
                continue  # a thread that ended while we looked
            result[int(tid)] = (name, mode)
        return result

    def thread_cpu_ms(self, name):
        """Time on CPU (ms, from /proc/PID/task/TID/schedstat: ns resolution, guest time
        included) of the thread named `name`."""
        for tid, (comm, _) in self.threads().items():
            if comm == name:
                with open(f"/proc/{self.pid}/task/{tid}/schedstat") as f:
                    return int(f.read().split()[0]) / 1e6
        return None

    def memory_kib(self):
        """{field: KiB} of /proc/PID/smaps_rollup (Rss, Private_Clean, Private_Dirty...)."""
        fields = {}
        with open(f"/proc/{self.pid}/smaps_rollup") as f:
            for line in f:
                parts = line.split()
                if len(parts) == 3 and parts[2] == "kB":
                    fields[parts[0].rstrip(":")] = int(parts[1])
        return fields

    def private_kib(self):
        """Private_Clean + Private_Dirty of the whole process, in KiB."""
        fields = self.memory_kib()
        return fields["Private_Clean"] + fields["Private_Dirty"]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
        return self.proc.returncode

    def wait_exit(self, timeout):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
