#!/usr/bin/env python3
"""A hostile guest agent against kiln's host commands.

The fake agent below is written from docs/agent-protocol.md alone (not from kiln-agent's code):
it serves Firecracker's hybrid vsock handshake on a Unix socket (`CONNECT 1024` / `OK 1024`) and
then speaks agent protocol v1, or breaks it on purpose: it stalls at every step (before the
handshake answer, before its hello, in the middle of a stream), sends absurd frame lengths and
malformed frames, floods output, and answers copy-outs with setuid modes, sizes larger than the
disk, short or overlong data, while a symlink is planted at the destination.

Each case runs a real `kiln` command against it (`kiln agent-exec --uds`, with --copy-in and
--copy-out as `kiln run` uses them: both go through the same SandboxJob; and `kiln cp` against a
sandbox recorded in a scratch $KILN_SANDBOX_DIR) and checks: the exit status, one clear error line,
that it ended within its timeout, and that nothing was created, truncated or changed on the host
(the destination keeps its old contents, no temporary file is left, no setuid bit appears, a
planted symlink's target is untouched). The output flood also checks kiln's peak memory.

Usage: python3 Tests/Sandbox/hostile_agent.py   (KILN=path/to/kiln picks the binary)
Prints PASS/FAIL per case and "N passed, N failed"; exits 1 on any failure."""
import os
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "Tests"))
import checks  # noqa: E402
from checks import check  # noqa: E402

MAGIC = 0x4B494C4E
T_HELLO, T_EXEC, T_STDIN, T_STDIN_CLOSE, T_STDOUT, T_STDERR, T_EXIT = 1, 2, 3, 4, 5, 6, 7
T_SIGNAL, T_COPY_IN, T_COPY_OUT, T_FILE_INFO, T_FILE_DATA, T_FILE_END = 8, 9, 10, 11, 12, 13
T_POWER_OFF, T_OK, T_ERROR = 14, 15, 16


def kiln_binary():
    if os.environ.get("KILN"):
        return os.environ["KILN"]
    for config in ("release", "debug"):
        path = os.path.join(REPO, ".build", config, "kiln")
        if os.access(path, os.X_OK):
            return path
    sys.exit("no kiln binary: build it (swift build) or set KILN")


# --- protocol, from docs/agent-protocol.md ---------------------------------------------------

def frame(msg_type, body=b""):
    return struct.pack(">IB", len(body) + 1, msg_type) + body


def hello():
    return frame(T_HELLO, struct.pack(">II", MAGIC, 1))


def exit_frame(code):
    return frame(T_EXIT, struct.pack(">BI", 0, code))


def file_info(mode, size):
    return frame(T_FILE_INFO, struct.pack(">IQ", mode, size))


def error_frame(code, text):
    data = text.encode()
    return frame(T_ERROR, struct.pack(">II", code, len(data)) + data)


class Conn:
    """One accepted connection: the handshake line, then frames."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def read_exact(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def handshake_line(self):
        line = b""
        while not line.endswith(b"\n"):
            line += self.read_exact(1)
        return line

    def read_frame(self):
        (length,) = struct.unpack(">I", self.read_exact(4))
        body = self.read_exact(length)
        return body[0], body[1:]

    def send(self, data):
        self.sock.sendall(data)


class FakeAgent:
    """Listens on a Unix socket path like the VMM's hybrid vsock socket; `script(conn)` plays
    the guest's side of each connection (after accept; it does the handshake itself)."""

    def __init__(self, directory, script):
        self.path = os.path.join(directory, "vsock.sock")
        self.script = script
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        self.listener.listen(16)
        self.stop = threading.Event()
        self.connections = []
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        self.listener.settimeout(0.2)
        while not self.stop.is_set():
            try:
                sock, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.connections.append(sock)
            threading.Thread(target=self.play, args=(sock,), daemon=True).start()

    def play(self, sock):
        try:
            self.script(Conn(sock))
        except (EOFError, OSError):
            pass

    def close(self):
        self.stop.set()
        self.thread.join()
        self.listener.close()
        for sock in self.connections:
            try:
                sock.close()
            except OSError:
                pass


def standard_start(conn):
    """The handshake and hello exchange a well-behaved agent does; returns the request frame."""
    conn.handshake_line()
    conn.send(b"OK 1024\n")
    msg_type, _ = conn.read_frame()
    assert msg_type == T_HELLO
    conn.send(hello())
    return conn.read_frame()


def stall(_conn=None):
    time.sleep(3600)


# --- scripts ---------------------------------------------------------------------------------

def never_answers_connect(conn):
    conn.handshake_line()
    stall()


def never_says_hello(conn):
    conn.handshake_line()
    conn.send(b"OK 1024\n")
    conn.read_frame()
    stall()


def stalls_mid_stream(conn):
    standard_start(conn)
    conn.send(frame(T_STDOUT, b"partial output\n"))
    stall()


def absurd_length(conn):
    standard_start(conn)
    conn.send(struct.pack(">I", 0xFFFFFFFF) + b"\x05" + b"x" * 100)
    stall()


def unknown_type(conn):
    standard_start(conn)
    conn.send(frame(0x7F, b"what"))
    stall()


def trailing_bytes(conn):
    standard_start(conn)
    conn.send(frame(T_EXIT, struct.pack(">BI", 0, 0) + b"extra"))
    stall()


def bad_exit_kind(conn):
    standard_start(conn)
    conn.send(frame(T_EXIT, struct.pack(">BI", 9, 0)))
    stall()


def wrong_version(conn):
    conn.handshake_line()
    conn.send(b"OK 1024\n")
    conn.read_frame()
    conn.send(frame(T_HELLO, struct.pack(">II", MAGIC, 99)))
    stall()


def bad_magic(conn):
    conn.handshake_line()
    conn.send(b"OK 1024\n")
    conn.read_frame()
    conn.send(frame(T_HELLO, struct.pack(">II", 0xDEADBEEF, 1)))
    stall()


def closes_before_exit(conn):
    standard_start(conn)
    conn.send(frame(T_STDOUT, b"bye\n"))
    conn.sock.close()


def truncated_frame(conn):
    standard_start(conn)
    conn.send(frame(T_STDOUT, b"x" * 1000)[:500])
    conn.sock.shutdown(socket.SHUT_WR)
    stall()


def huge_error(conn):
    standard_start(conn)
    conn.send(error_frame(0, "E" * (1024 * 1024 - 20)))
    stall()


FLOOD_BYTES = 256 * 1024 * 1024


def floods_output(conn):
    standard_start(conn)
    chunk = frame(T_STDOUT, b"F" * 65536)
    sent = 0
    while sent < FLOOD_BYTES:
        conn.send(chunk)
        sent += 65536
    conn.send(exit_frame(0))


def exec_then(copy_out_script):
    """Answers an exec with exit 0 and every copy-out connection with `copy_out_script`."""
    def script(conn):
        msg_type, _ = standard_start(conn)
        if msg_type == T_EXEC:
            conn.send(exit_frame(0))
            time.sleep(0.2)
            return
        if msg_type == T_COPY_IN:
            drain_copy_in(conn)
            return
        copy_out_script(conn)
    return script


def drain_copy_in(conn):
    while True:
        msg_type, _ = conn.read_frame()
        if msg_type == T_FILE_END:
            conn.send(frame(T_OK))
            return


PAYLOAD = b"guest-chosen contents\n" * 10


def setuid_copy(conn):
    conn.send(file_info(0o6755, len(PAYLOAD)))
    conn.send(frame(T_FILE_DATA, PAYLOAD))
    conn.send(frame(T_FILE_END))
    time.sleep(0.2)


def short_copy(conn):
    conn.send(file_info(0o644, 1000))
    conn.send(frame(T_FILE_DATA, b"s" * 400))
    conn.send(frame(T_FILE_END))
    stall()


def short_then_close(conn):
    conn.send(file_info(0o644, 1000))
    conn.send(frame(T_FILE_DATA, b"s" * 400))
    conn.sock.close()


def overlong_copy(conn):
    conn.send(file_info(0o644, 10))
    conn.send(frame(T_FILE_DATA, b"o" * 400))
    stall()


def bigger_than_disk(conn):
    conn.send(file_info(0o644, 1 << 60))
    conn.send(frame(T_FILE_DATA, b"b" * 65536))
    stall()


def stalls_mid_copy(conn):
    conn.send(file_info(0o644, 100000))
    conn.send(frame(T_FILE_DATA, b"m" * 1000))
    stall()


def killed_mid_copy():
    """SIGKILL of the host command while a copy-out is half written (as when `kiln run` is
    killed): the destination keeps its old contents and nothing is left beside it, no
    temporary file that neither kiln nor `kiln gc` would ever find again."""
    started = threading.Event()

    def copy_then_stall(conn):
        conn.send(file_info(0o644, 100000))
        conn.send(frame(T_FILE_DATA, b"m" * 1000))
        started.set()
        stall()

    with tempfile.TemporaryDirectory(prefix="kiln-hostile-") as scratch:
        out = os.path.join(scratch, "out")
        os.mkdir(out)
        destination = os.path.join(out, "result")
        with open(destination, "wb") as f:
            f.write(b"precious\n")
        agent = FakeAgent(scratch, exec_then(copy_then_stall))
        try:
            proc = subprocess.Popen([kiln_binary(), "agent-exec", "--uds", agent.path,
                                     "--copy-out", f"/guest/file:{destination}", "--", "true"],
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            began = started.wait(10)
            time.sleep(0.3)  # kiln writes the 1000 bytes it got
            proc.kill()
            proc.wait()
        finally:
            agent.close()
        problem = None if began else "the copy-out never began"
        check("SIGKILL mid copy-out: destination unchanged, no temporary file left beside it",
              problem is None and destination_unchanged(out) is None, problem or destination_unchanged(out) or "")


def copy_out_only(copy_script):
    def script(conn):
        standard_start(conn)
        copy_script(conn)
    return script


# --- running kiln ----------------------------------------------------------------------------

class Outcome:
    def __init__(self, code, stdout, stderr, elapsed, maxrss_kib):
        self.code, self.stdout, self.stderr = code, stdout, stderr
        self.elapsed, self.maxrss_kib = elapsed, maxrss_kib

    def describe(self):
        return f"exit {self.code} after {self.elapsed:.1f}s, stderr {self.stderr[-300:]!r}"


def run_kiln(args, env=None, limit=60, stdout_path=None):
    """Runs kiln to its end (killed after `limit` s: a hang is a failure, not a stuck suite);
    its own peak RSS comes from wait4."""
    with tempfile.TemporaryFile() as out_tmp, tempfile.TemporaryFile() as err:
        out = open(stdout_path, "wb") if stdout_path else out_tmp
        start = time.monotonic()
        proc = subprocess.Popen([kiln_binary()] + args, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env)
        timer = threading.Timer(limit, proc.kill)
        timer.start()
        _, status, usage = os.wait4(proc.pid, 0)
        timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        elapsed = time.monotonic() - start
        if stdout_path:
            out.close()
        out_tmp.seek(0)
        err.seek(0)
        return Outcome(proc.returncode, out_tmp.read(), err.read().decode(errors="replace"), elapsed,
                       usage.ru_maxrss)


def one_error_line(outcome):
    lines = [line for line in outcome.stderr.splitlines() if line.strip()]
    return len(lines) >= 1 and lines[-1].startswith("kiln: ")


def judge(name, outcome, want_code, max_seconds, want_text=None, files_problem=None):
    """One case's verdict: the exit status, in time, one clear error line on a failure, the
    expected words, then (only if all that holds) what `files_problem()` finds on the host."""
    ok = outcome.code == want_code and outcome.elapsed <= max_seconds
    if want_code != 0:
        ok = ok and one_error_line(outcome)
    if want_text is not None:
        ok = ok and want_text in outcome.stderr
    detail = outcome.describe()
    if ok and files_problem is not None:
        problem = files_problem()
        ok, detail = problem is None, problem or detail
    check(name, ok, detail)


def agent_case(name, script, args, want_code, max_seconds, extra=None, want_text=None):
    with tempfile.TemporaryDirectory(prefix="kiln-hostile-") as scratch:
        agent = FakeAgent(scratch, script)
        try:
            outcome = run_kiln(["agent-exec", "--uds", agent.path] + args, limit=max_seconds + 30)
        finally:
            agent.close()
        judge(name, outcome, want_code, max_seconds, want_text,
              None if extra is None else (lambda: extra(scratch, outcome)))


def files_in(directory):
    return sorted(os.listdir(directory))


def destination_unchanged(out):
    """The destination directory holds only `result`, still with its old contents."""
    names = files_in(out)
    if names != ["result"]:
        return f"files in the destination directory: {names}"
    with open(os.path.join(out, "result"), "rb") as f:
        contents = f.read()
    return None if contents == b"precious\n" else f"destination changed to {contents[:40]!r}"


def main():
    print(f"hostile agent suite: kiln = {kiln_binary()}")

    # Stalls at every step, bounded by --timeout (exit 124) or --wait (the boot wait).
    agent_case("stall before the handshake answer: --timeout 2 gives up", never_answers_connect,
               ["--timeout", "2", "--", "true"], 124, 6, want_text="timed out")
    agent_case("stall before hello: --timeout 2 gives up", never_says_hello,
               ["--timeout", "2", "--", "true"], 124, 6, want_text="timed out")
    agent_case("stall mid-stream: --timeout 2 gives up", stalls_mid_stream,
               ["--timeout", "2", "--", "true"], 124, 6, want_text="timed out")
    agent_case("boot wait (--wait 2) with a guest that never answers the handshake", never_answers_connect,
               ["--wait", "2", "--", "true"], 125, 6, want_text="timed out")
    agent_case("boot wait (--wait 2) with an agent that never says hello", never_says_hello,
               ["--wait", "2", "--", "true"], 125, 6, want_text="timed out")
    agent_case("stall before hello without --timeout: the 30 s setup limit", never_says_hello,
               ["--", "true"], 125, 40, want_text="timed out")

    # Malformed streams: a clear protocol error at once.
    malformed = [
        ("absurd frame length 0xFFFFFFFF", absurd_length, "bad frame length"),
        ("unknown message type", unknown_type, "unknown message type"),
        ("trailing bytes after exit", trailing_bytes, "trailing bytes"),
        ("exit with an invalid kind", bad_exit_kind, "invalid field"),
        ("hello of another version", wrong_version, "version 99"),
        ("hello with a bad magic", bad_magic, "bad hello"),
        ("stream closed before the exit status", closes_before_exit, "closed"),
        ("stream ends inside a frame", truncated_frame, "truncated frame"),
        ("an error message of 1 MiB", huge_error, None),
    ]
    for name, script, text in malformed:
        agent_case(name, script, ["--", "true"], 125, 5, want_text=text)

    # A host request larger than a frame is refused with an error, never a trap.
    big_argv = ["x" * 100_000 for _ in range(12)]
    agent_case("argv of 1.2 MB: refused, no trap", exec_then(setuid_copy),
               ["--", "echo"] + big_argv, 125, 5, want_text="frame limit")

    # Output flood: streamed with bounded memory.
    with tempfile.TemporaryDirectory(prefix="kiln-hostile-") as scratch:
        agent = FakeAgent(scratch, floods_output)
        try:
            outcome = run_kiln(["agent-exec", "--uds", agent.path, "--", "yes"],
                               limit=150, stdout_path=os.path.join(scratch, "flood.out"))
            size = os.path.getsize(os.path.join(scratch, "flood.out"))
        finally:
            agent.close()
        rss_mib = outcome.maxrss_kib / 1024
        check(f"output flood of {FLOOD_BYTES >> 20} MiB: all relayed, peak RSS {rss_mib:.1f} MiB (< 64)",
              outcome.code == 0 and size == FLOOD_BYTES and rss_mib < 64,
              f"{outcome.describe()}, {size} bytes relayed")

    copy_cases()
    cp_cases()

    sys.exit(checks.summary())


def copy_cases():
    """`--copy-out` after the command, as `kiln run` does (SandboxJob)."""

    def with_destination(name, copy_script, want_code, max_seconds, check_files, existing=b"precious\n",
                         plant=None, args=None, want_text=None):
        def extra(scratch, outcome):
            return check_files(os.path.join(scratch, "out"), outcome)

        def script(conn):
            exec_then(copy_script)(conn)

        with tempfile.TemporaryDirectory(prefix="kiln-hostile-") as scratch:
            out = os.path.join(scratch, "out")
            os.mkdir(out)
            destination = os.path.join(out, "result")
            if plant is not None:
                plant(scratch, destination)
            elif existing is not None:
                with open(destination, "wb") as f:
                    f.write(existing)
            agent = FakeAgent(scratch, script)
            try:
                outcome = run_kiln(["agent-exec", "--uds", agent.path] + (args or [])
                                   + ["--copy-out", f"/guest/file:{destination}", "--", "true"],
                                   limit=max_seconds + 30)
            finally:
                agent.close()
            judge(name, outcome, want_code, max_seconds, want_text, lambda: extra(scratch, outcome))

    def unchanged(out, _outcome):
        return destination_unchanged(out)

    def no_setuid(out, _outcome):
        names = files_in(out)
        if names != ["result"]:
            return f"files: {names}"
        info = os.lstat(os.path.join(out, "result"))
        if info.st_mode & (stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX):
            return f"mode {oct(info.st_mode)} keeps setuid/setgid/sticky"
        with open(os.path.join(out, "result"), "rb") as f:
            if f.read() != PAYLOAD:
                return "contents differ"
        return None

    with_destination("copy-out with mode 06755: no setuid/setgid on the host", setuid_copy, 0, 5, no_setuid,
                     existing=None)
    with_destination("copy-out with mode 06755 over an existing file: replaced, no setuid", setuid_copy, 0, 5,
                     no_setuid)
    with_destination("short copy-out (400 of 1000 bytes, then file-end): destination untouched", short_copy, 125, 5,
                     unchanged, want_text="ended after 400 of 1000")
    with_destination("short copy-out (connection closed): destination untouched", short_then_close, 125, 5,
                     unchanged)
    with_destination("copy-out data beyond the announced size: destination untouched", overlong_copy, 125, 5,
                     unchanged, want_text="exceeds the announced")
    with_destination("copy-out announcing 2^60 bytes: refused (no room), destination untouched", bigger_than_disk,
                     125, 5, unchanged, want_text="free")
    with_destination("copy-out that stalls: --timeout 3 gives up, destination untouched", stalls_mid_copy, 124, 8,
                     unchanged, want_text="timed out", args=["--timeout", "3"])

    killed_mid_copy()

    def plant_symlink(scratch, destination):
        victim = os.path.join(scratch, "victim")
        with open(victim, "wb") as f:
            f.write(b"victim\n")
        os.symlink(victim, destination)

    def symlink_not_followed(out, _outcome):
        victim = os.path.join(os.path.dirname(out), "victim")
        with open(victim, "rb") as f:
            if f.read() != b"victim\n":
                return "the symlink's target was written"
        info = os.lstat(os.path.join(out, "result"))
        if not stat.S_ISREG(info.st_mode):
            return "the destination is still a symlink"
        return None

    with_destination("copy-out onto a planted symlink: the link is replaced, its target untouched", setuid_copy, 0, 5,
                     symlink_not_followed, plant=plant_symlink)


def cp_cases():
    """`kiln cp NAME:/path DEST` against a sandbox recorded in a scratch store whose VMM is this
    process (alive) and whose vsock socket is the fake agent."""

    def identity():
        with open("/proc/self/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return f"{os.getpid()} {fields[19]}\n"

    def cp_case(name, copy_script, want_code, max_seconds, args, check_files, want_text=None, whole_script=None,
                existing=True, command=None):
        with tempfile.TemporaryDirectory(prefix="kiln-hostile-") as scratch:
            store = os.path.join(scratch, "store")
            sandbox = os.path.join(store, "hostile")
            os.makedirs(sandbox, mode=0o700)
            os.chmod(store, 0o700)
            with open(os.path.join(sandbox, "vmm"), "w") as f:
                f.write(identity())
            agent = FakeAgent(sandbox, whole_script or copy_out_only(copy_script))
            out = os.path.join(scratch, "out")
            os.mkdir(out)
            if existing:
                with open(os.path.join(out, "result"), "wb") as f:
                    f.write(b"precious\n")
            env = dict(os.environ, KILN_SANDBOX_DIR=store)
            try:
                argv = command or (["cp"] + args + ["hostile:/guest/file", os.path.join(out, "result")])
                outcome = run_kiln(argv, env=env, limit=max_seconds + 30)
            finally:
                agent.close()
            judge(name, outcome, want_code, max_seconds, want_text, lambda: check_files(out))

    unchanged = destination_unchanged

    def replaced_without_setuid(out):
        info = os.lstat(os.path.join(out, "result"))
        if info.st_mode & (stat.S_ISUID | stat.S_ISGID):
            return f"mode {oct(info.st_mode)}"
        return None if files_in(out) == ["result"] else f"files: {files_in(out)}"

    cp_case("kiln cp: setuid copy-out lands without setuid", setuid_copy, 0, 5, [], replaced_without_setuid,
            existing=False)
    cp_case("kiln cp: short copy-out leaves the existing file", short_copy, 125, 5, [], unchanged,
            want_text="ended after 400 of 1000")
    cp_case("kiln cp: a stalled copy gives up at --timeout 2", stalls_mid_copy, 124, 7, ["--timeout", "2"], unchanged,
            want_text="timed out")
    cp_case("kiln cp: an agent that never says hello: --timeout 2", None, 124, 7, ["--timeout", "2"],
            unchanged, want_text="timed out", whole_script=never_says_hello)
    cp_case("kiln cp: an agent that never answers the copy-out: --timeout 2", lambda conn: stall(), 124, 7,
            ["--timeout", "2"], unchanged, want_text="timed out")
    # `kiln exec --timeout` kills the command through the agent; one that ignores the kill (and
    # never sends the exit status) is given up on 5 s later.
    cp_case("kiln exec --timeout 2: an agent that ignores the kill is given up on", None, 124, 10, [], unchanged,
            want_text="timed out", whole_script=stalls_mid_stream, command=["exec", "hostile", "--timeout", "2", "--", "sleep", "60"])


if __name__ == "__main__":
    main()
