#!/usr/bin/env python3
"""Host side of the virtio-net scenarios: runs inside the test's network namespace, follows the
guest's console and, for each round the guest announces (KILN-NET-LISTEN N), sends data to the
guest's `nc -l` and then receives what the guest sends back to our listener.

Prints one line per step, `NETPEER <what> key=value...`, for the scenario to check.
"""
import argparse, hashlib, socket, subprocess, sys, time


def say(*parts):
    print("NETPEER", *parts, flush=True)


def wait_for(console, marker, deadline):
    while time.monotonic() < deadline:
        try:
            with open(console, errors="replace") as f:
                if any(line.split()[1:] == marker.split() for line in f):
                    return True
        except FileNotFoundError:
            pass
        time.sleep(0.1)
    return False


def connect(host, port, deadline):
    """The guest prints its marker just before nc binds: retry refused connections briefly."""
    while True:
        try:
            return socket.create_connection((host, port), timeout=10)
        except (ConnectionRefusedError, socket.timeout, OSError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def send(args, payload, round_, deadline):
    s = connect(args.guest, args.in_port, deadline)
    s.settimeout(max(1, deadline - time.monotonic()))
    start = time.monotonic()
    view, total = memoryview(payload), 0
    while total < args.bytes:
        chunk = view[: min(len(view), args.bytes - total)]
        s.sendall(chunk)
        total += len(chunk)
    s.shutdown(socket.SHUT_WR)
    while s.recv(65536):   # the guest's nc closes once it has read everything
        pass
    seconds = time.monotonic() - start
    s.close()
    say("send", f"round={round_}", f"bytes={total}", f"seconds={seconds:.4f}",
        f"mbps={total / seconds / 1e6:.2f}")


def receive(args, listener, round_, deadline):
    listener.settimeout(max(1, deadline - time.monotonic()))
    conn, _ = listener.accept()
    conn.settimeout(max(1, deadline - time.monotonic()))
    start = time.monotonic()
    digest, total = hashlib.sha256(), 0
    while True:
        data = conn.recv(1 << 20)
        if not data:
            break
        digest.update(data)
        total += len(data)
    seconds = time.monotonic() - start
    conn.close()
    say("recv", f"round={round_}", f"bytes={total}", f"seconds={seconds:.4f}",
        f"mbps={total / max(seconds, 1e-9) / 1e6:.2f}", f"sha256={digest.hexdigest()}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--console", required=True)
    p.add_argument("--guest", required=True)
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--bytes", type=int, required=True, help="sent to the guest per round")
    p.add_argument("--random", action="store_true", help="random payload (else zeros)")
    p.add_argument("--ping", action="store_true", help="ping the guest before the first round")
    p.add_argument("--in-port", type=int, default=5001)
    p.add_argument("--out-port", type=int, default=5002)
    p.add_argument("--timeout", type=float, default=90)
    args = p.parse_args()
    deadline = time.monotonic() + args.timeout

    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    while True:   # a peer killed a moment ago may still hold the port
        try:
            listener.bind(("0.0.0.0", args.out_port))
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    listener.listen(1)
    if args.random:
        payload = open("/dev/urandom", "rb").read(args.bytes)
        say("payload", f"sha256={hashlib.sha256(payload).hexdigest()}")
    else:
        payload = bytes(min(args.bytes, 1 << 20))
    try:
        for round_ in range(1, args.rounds + 1):
            if not wait_for(args.console, f"KILN-NET-LISTEN {round_}", deadline):
                say("error", f"round={round_}", "reason=the-guest-never-listened")
                return 1
            if args.ping and round_ == 1:
                r = subprocess.run(["busybox", "ping", "-c", "3", "-W", "3", args.guest],
                                   capture_output=True, text=True)
                say("ping", f"rc={r.returncode}", (r.stdout.strip().splitlines() or ["?"])[-1].replace(" ", "_"))
            send(args, payload, round_, deadline)
            receive(args, listener, round_, deadline)
    except (OSError, socket.timeout) as e:
        say("error", f"reason={type(e).__name__}:{str(e).replace(' ', '_')}")
        return 1
    say("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
