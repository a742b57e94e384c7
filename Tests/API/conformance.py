#!/usr/bin/env python3
"""Conformance of kiln's Firecracker-compatible API, driven over the Unix socket with a real
HTTP/1.1 client (http.client) and raw bytes: a whole lifecycle (configure, InstanceStart,
pause, resume, FlushMetrics, SendCtrlAltDel), per-thread names and seccomp, logger and metrics
files, and every class of bad input, each of which must get a 4xx with a fault_message naming the
problem, change nothing (GET /vm/config unchanged) and leave the VMM serving.

Guests (Tests/Guests/build): keyboard.elf polls the i8042 with interrupts off, so it is busy
(vCPU time and i8042 exits grow while it runs, which makes a pause observable) and answers
Ctrl-Alt-Del with a reset; idle.elf sleeps in `sti; hlt`, and takes the Ctrl-Alt-Del interrupt
without an IDT (a triple fault: the VM resets).

Usage: python3 Tests/API/conformance.py   (KILN=path/to/kiln to pick the binary)
Prints PASS/FAIL per check and "N passed, N failed"; exits 1 on any failure."""
import json
import traceback
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kilnapi import Kiln, guest  # noqa: E402
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import checks  # noqa: E402
from checks import check  # noqa: E402


def expect(kiln, name, method, path, body, status):
    r = kiln.request(method, path, body)
    check(name, r.status == status, f"expected {status}, got {r!r}")
    return r


def vm_config(kiln):
    r = kiln.request("GET", "/vm/config")
    return r.json if r.status == 200 else None


def rejected(kiln, name, send, keywords, statuses=(400,)):
    """`send()` returns a Response: it must be one of `statuses` with a fault_message containing
    every keyword (case-insensitive); GET /vm/config must be unchanged and GET / still answer."""
    before = vm_config(kiln)
    r = send()
    fault = r.fault or ""
    problems = []
    if r.status not in statuses:
        problems.append(f"status {r.status} (want {'/'.join(map(str, statuses))})")
    if not r.fault:
        problems.append("no fault_message")
    missing = [k for k in keywords if k.lower() not in fault.lower()]
    if missing:
        problems.append(f"fault_message does not name {missing}")
    if not kiln.alive():
        problems.append(f"kiln died (exit {kiln.proc.returncode})")
    else:
        after = vm_config(kiln)
        if after != before:
            problems.append(f"half-applied: /vm/config changed from {before} to {after}")
        if kiln.request("GET", "/").status != 200:
            problems.append("GET / no longer answers")
    check(f"rejected: {name}", not problems, "; ".join(problems) + f" [{r!r}]")
    return r


def bad_request(kiln, name, method, path, body, keywords, statuses=(400,)):
    return rejected(kiln, name, lambda: kiln.request(method, path, body), keywords, statuses)


def bad_raw(kiln, name, data, keywords, statuses=(400,)):
    return rejected(kiln, name, lambda: kiln.raw(data), keywords, statuses)


def malformed_http(kiln, phase):
    """Bad HTTP: each answered with a 4xx and a fault_message, the connection closed."""
    bad_raw(kiln, f"{phase}: garbage request line", b"THIS IS NOT HTTP\r\n\r\n", ["malformed"])
    bad_raw(kiln, f"{phase}: header line without a colon",
            b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n", ["header"])
    bad_raw(kiln, f"{phase}: 90 KiB of headers (> 80 KiB)",
            b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (90 * 1024) + b"\r\n\r\n", ["header"])
    big = json.dumps({"vcpu_count": 1, "mem_size_mib": 64, "pad": "x" * 60000}).encode()
    bad_raw(kiln, f"{phase}: 60 KB body (> 51200 bytes)",
            b"PUT /machine-config HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(big) + big,
            ["51200"], statuses=(413,))
    # The limit itself: 51200 bytes are read and judged (unknown field), 51201 are refused as such.
    at_limit = "pad" if phase == "before boot" else "InstanceStart"
    for size, keyword, status in ((51200, at_limit, 400), (51201, "51200", 413)):
        prefix = b'{"vcpu_count": 1, "mem_size_mib": 64, "pad": "'
        body = prefix + b"x" * (size - len(prefix) - 2) + b'"}'
        bad_raw(kiln, f"{phase}: body of exactly {size} bytes",
                b"PUT /machine-config HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body,
                [keyword], statuses=(status,))
    chunk = b"x" * 30000
    chunked = b"".join(b"%x\r\n" % len(chunk) + chunk + b"\r\n" for _ in range(2)) + b"0\r\n\r\n"
    bad_raw(kiln, f"{phase}: 60 KB chunked body (> 51200 bytes)",
            b"PUT /machine-config HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked,
            ["51200"], statuses=(413,))
    bad_raw(kiln, f"{phase}: non-numeric Content-Length",
            b"PUT /machine-config HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n{}", ["malformed"])
    bad_raw(kiln, f"{phase}: unknown HTTP version",
            b"GET / HTTP/7.5\r\nHost: x\r\n\r\n", ["malformed"])
    # A client that goes away mid-body must not wedge the server.
    before = vm_config(kiln)
    kiln.raw(b"PUT /machine-config HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"vcpu", timeout=0.3)
    r = kiln.request("GET", "/")
    check(f"{phase}: truncated request, connection dropped: still serving, nothing applied",
          r.status == 200 and vm_config(kiln) == before, repr(r))
    # Two pipelined requests on one keep-alive connection: both answered, in order.
    r = kiln.raw(b"GET /version HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    check(f"{phase}: pipelined requests answered in order", r.status == 200 and b"firecracker_version" in r.raw, repr(r))


def wait_for(predicate, timeout, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def flush_metrics(kiln, path):
    """FlushMetrics, returns the new last line parsed (or None)."""
    with open(path) as f:
        count = len(f.readlines())
    r = kiln.request("PUT", "/actions", {"action_type": "FlushMetrics"})
    if r.status != 204:
        return None
    with open(path) as f:
        lines = f.readlines()
    if len(lines) != count + 1:
        return None
    try:
        return json.loads(lines[-1])
    except ValueError:
        return None


def cpu(before, after):
    return f"{after - before:.1f} ms on CPU" if None not in (before, after) else f"{before} -> {after}"


def io_exits(line):
    return (line or {}).get("vcpu", {}).get("exit_io_in")


ALLOWED_KERNEL_WORKERS = {"kvm-nx-lpage-re"}  # KVM's NX huge-page recovery worker joins the VM's process


def check_threads(kiln, vcpus, phase, drives=0):
    """Names and Seccomp: 2 of every thread, strictly at the first look: InstanceStart answers
    only once every thread of the VM has its filter (Machine.start waits for them), and a failed
    build joins its helper thread before it answers."""
    threads = kiln.threads()
    names = sorted(name for name, _ in threads.values())
    expected = ({"kiln", "kiln_api", "kiln_devices"} | {f"kiln_vcpu{i}" for i in range(vcpus)}
                | {f"kiln_drive{i}" for i in range(drives)})
    # kiln_console: the blocking reader of a standard input epoll cannot watch (it ends at EOF).
    unnamed = [n for n in names if n not in expected and n not in ALLOWED_KERNEL_WORKERS and n != "kiln_console"]
    drive_threads = f", kiln_drive0..{drives - 1}" if drives else ""
    check(f"{phase}: threads named kiln, kiln_api, kiln_devices, kiln_vcpu0..{vcpus - 1}{drive_threads} (kiln_console) and nothing else",
          expected <= set(names) and not unnamed and len(names) == len(set(names)), f"threads: {names}")
    unconfined = [f"{name}({tid}): Seccomp {mode}" for tid, (name, mode) in threads.items() if mode != "2"]
    check(f"{phase}: every thread ({len(threads)}) shows Seccomp: 2", not unconfined, ", ".join(unconfined))


def lifecycle():
    kiln = Kiln(instance_id="conformance_vm")
    work = kiln.dir
    log_path = os.path.join(work, "kiln.log")
    metrics_path = os.path.join(work, "metrics.json")
    drive_path = os.path.join(work, "scratch.img")
    with open(drive_path, "wb") as f:
        f.truncate(1 << 20)
    try:
        # --- before boot
        r = expect(kiln, "GET / answers 200", "GET", "/", None, 200)
        check("GET / names the instance and says Not started",
              (r.json or {}).get("id") == "conformance_vm" and r.json.get("state") == "Not started"
              and "vmm_version" in r.json, repr(r))
        r = expect(kiln, "GET /version answers 200", "GET", "/version", None, 200)
        check("GET /version has firecracker_version", "firecracker_version" in (r.json or {}), repr(r))
        api = [mode for name, mode in kiln.threads().values() if name == "kiln_api"]
        check("before boot: kiln_api thread exists with Seccomp: 2", api == ["2"], f"{kiln.threads()}")

        expect(kiln, "PUT /machine-config", "PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 32}, 204)
        expect(kiln, "PATCH /machine-config", "PATCH", "/machine-config", {"vcpu_count": 2}, 204)
        r = expect(kiln, "GET /machine-config", "GET", "/machine-config", None, 200)
        check("machine-config is the PUT with the PATCH on top",
              (r.json or {}).get("vcpu_count") == 2 and r.json.get("mem_size_mib") == 32, repr(r))
        expect(kiln, "PUT /boot-source (keyboard.elf)", "PUT", "/boot-source",
               {"kernel_image_path": guest("keyboard.elf"), "boot_args": "console=ttyS0"}, 204)
        expect(kiln, "PUT /drives/scratch", "PUT", "/drives/scratch",
               {"drive_id": "scratch", "path_on_host": drive_path, "is_root_device": False, "is_read_only": False}, 204)
        expect(kiln, "PUT /drives/scratch again (replaces)", "PUT", "/drives/scratch",
               {"drive_id": "scratch", "path_on_host": drive_path, "is_root_device": True, "is_read_only": True}, 204)
        expect(kiln, "PUT /entropy", "PUT", "/entropy", {}, 204)
        bad_request(kiln, "FlushMetrics before PUT /metrics", "PUT", "/actions", {"action_type": "FlushMetrics"},
                    ["metrics"])
        expect(kiln, "PUT /logger (file, Info, show_level)", "PUT", "/logger",
               {"log_path": log_path, "level": "Info", "show_level": True, "show_log_origin": False}, 204)
        expect(kiln, "PUT /metrics (file)", "PUT", "/metrics", {"metrics_path": metrics_path}, 204)
        config = vm_config(kiln)
        check("GET /vm/config holds everything configured",
              config is not None
              and config.get("boot-source", {}).get("kernel_image_path") == guest("keyboard.elf")
              and config.get("machine-config", {}).get("vcpu_count") == 2
              and [d.get("drive_id") for d in config.get("drives", [])] == ["scratch"]
              and config["drives"][0].get("is_root_device") is True
              and "entropy" in config
              and config.get("logger", {}).get("log_path") == log_path
              and config.get("metrics", {}).get("metrics_path") == metrics_path, json.dumps(config))

        # --- bad input before boot
        malformed_http(kiln, "before boot")
        mc = "/machine-config"
        bad_request(kiln, "invalid JSON", "PUT", mc, '{"vcpu_count": 2,', ["json"])
        bad_request(kiln, "not JSON at all", "PUT", mc, "vcpu_count=2", ["json"])
        bad_request(kiln, "empty body", "PUT", mc, None, ["body"])
        bad_request(kiln, "JSON array instead of an object", "PUT", mc, [1, 2], ["object"])
        bad_request(kiln, "wrong type: vcpu_count a string", "PUT", mc, {"vcpu_count": "two", "mem_size_mib": 64},
                    ["vcpu_count"])
        bad_request(kiln, "wrong type: vcpu_count a float", "PUT", mc, '{"vcpu_count": 1.5, "mem_size_mib": 64}',
                    ["vcpu_count"])
        bad_request(kiln, "wrong type: smt a string", "PATCH", mc, {"smt": "no"}, ["smt"])
        bad_request(kiln, "wrong type: is_root_device a string", "PUT", "/drives/d2",
                    {"drive_id": "d2", "path_on_host": drive_path, "is_root_device": "yes"}, ["is_root_device"])
        bad_request(kiln, "wrong type: kernel_image_path a number", "PUT", "/boot-source", {"kernel_image_path": 7},
                    ["kernel_image_path"])
        bad_request(kiln, "wrong type: action_type null", "PUT", "/actions", {"action_type": None}, ["action_type"])
        bad_request(kiln, "unknown field in machine-config", "PUT", mc,
                    {"vcpu_count": 1, "mem_size_mib": 64, "turbo": True}, ["turbo"])
        bad_request(kiln, "unknown field in boot-source", "PUT", "/boot-source",
                    {"kernel_image_path": guest("idle.elf"), "kernel": "x"}, ["kernel"])
        bad_request(kiln, "unknown field in actions", "PUT", "/actions",
                    {"action_type": "InstanceStart", "force": True}, ["force"])
        bad_request(kiln, "missing required field mem_size_mib", "PUT", mc, {"vcpu_count": 1}, ["mem_size_mib"])
        bad_request(kiln, "out of range: vcpu_count 0", "PUT", mc, {"vcpu_count": 0, "mem_size_mib": 64},
                    ["vcpu_count"])
        bad_request(kiln, "out of range: vcpu_count 33", "PATCH", mc, {"vcpu_count": 33}, ["vcpu_count"])
        bad_request(kiln, "out of range: vcpu_count -1", "PATCH", mc, {"vcpu_count": -1}, ["vcpu_count"])
        bad_request(kiln, "out of range: vcpu_count 2^70", "PATCH", mc, '{"vcpu_count": 1180591620717411303424}',
                    ["vcpu_count"])
        bad_request(kiln, "out of range: mem_size_mib 1", "PATCH", mc, {"mem_size_mib": 1}, ["mem_size_mib"])
        bad_request(kiln, "out of range: mem_size_mib beyond host RAM", "PATCH", mc, {"mem_size_mib": 1 << 40},
                    ["mem_size_mib"])
        bad_request(kiln, "PATCH with one good and one bad field applies neither", "PATCH", mc,
                    {"vcpu_count": 1, "mem_size_mib": 2}, ["mem_size_mib"])
        bad_request(kiln, "out of range: vsock guest_cid 2", "PUT", "/vsock",
                    {"guest_cid": 2, "uds_path": os.path.join(work, "v.sock")}, ["guest_cid"])
        bad_request(kiln, "bad value: guest_mac", "PUT", "/network-interfaces/eth0",
                    {"iface_id": "eth0", "host_dev_name": "tap0", "guest_mac": "zz:00:00:00:00:01"}, ["guest_mac"])
        bad_request(kiln, "bad value: logger level", "PUT", "/logger", {"level": "Loud"}, ["level"])
        bad_request(kiln, "bad value: logger log_path in a missing directory", "PUT", "/logger",
                    {"log_path": os.path.join(work, "no/such/dir/log")}, ["no/such/dir"])
        bad_request(kiln, "bad value: action_type Reboot", "PUT", "/actions", {"action_type": "Reboot"}, ["Reboot"])
        bad_request(kiln, "bad value: vm state Frozen", "PATCH", "/vm", {"state": "Frozen"}, ["Frozen"])
        bad_request(kiln, "drive_id in body differs from the path", "PUT", "/drives/d2",
                    {"drive_id": "d3", "path_on_host": drive_path, "is_root_device": False}, ["drive_id"])
        bad_request(kiln, "invalid drive id in the path", "PUT", "/drives/bad-id!",
                    {"drive_id": "bad-id!", "path_on_host": drive_path, "is_root_device": False}, ["drive_id"])
        bad_request(kiln, "a second root device", "PUT", "/drives/root2",
                    {"drive_id": "root2", "path_on_host": drive_path, "is_root_device": True}, ["root"])
        bad_request(kiln, "unknown id: PATCH /drives/nope", "PATCH", "/drives/nope",
                    {"drive_id": "nope", "path_on_host": drive_path}, ["nope"])
        bad_request(kiln, "unknown id: PATCH /network-interfaces/nope", "PATCH", "/network-interfaces/nope",
                    {"iface_id": "nope"}, ["nope"])
        bad_request(kiln, "post-boot only before boot: PATCH /drives/scratch", "PATCH", "/drives/scratch",
                    {"drive_id": "scratch", "path_on_host": drive_path}, ["InstanceStart"])
        bad_request(kiln, "post-boot only before boot: PATCH /vm Paused", "PATCH", "/vm", {"state": "Paused"},
                    ["InstanceStart"])
        bad_request(kiln, "post-boot only before boot: SendCtrlAltDel", "PUT", "/actions",
                    {"action_type": "SendCtrlAltDel"}, ["InstanceStart"])
        bad_request(kiln, "a second PUT /metrics", "PUT", "/metrics", {"metrics_path": metrics_path}, ["already"])
        bad_request(kiln, "unknown path GET /nope", "GET", "/nope", None, ["/nope"], statuses=(400, 404))
        bad_request(kiln, "unknown path PUT /drives (no id)", "PUT", "/drives", {}, ["/drives"], statuses=(400, 404))
        bad_request(kiln, "unknown path GET /vm/nope", "GET", "/vm/nope", None, ["/vm/nope"], statuses=(400, 404))
        bad_request(kiln, "wrong method DELETE /machine-config", "DELETE", mc, None, ["DELETE"],
                    statuses=(400, 405))
        bad_request(kiln, "wrong method POST /actions", "POST", "/actions", {"action_type": "InstanceStart"},
                    ["POST"], statuses=(400, 405))
        bad_request(kiln, "wrong method GET /boot-source", "GET", "/boot-source", None, ["GET"],
                    statuses=(400, 405))

        bad_request(kiln, "PUT /boot-source with a missing kernel file", "PUT", "/boot-source",
                    {"kernel_image_path": os.path.join(work, "no-such-kernel")}, ["no-such-kernel"])
        before_boot = vm_config(kiln)

        # --- boot
        expect(kiln, "InstanceStart", "PUT", "/actions", {"action_type": "InstanceStart"}, 204)
        r = kiln.request("GET", "/")
        check("GET / says Running", r.status == 200 and (r.json or {}).get("state") == "Running", repr(r))
        check("the guest runs (serial: KEYBOARD)", wait_for(lambda: "KEYBOARD" in kiln.stdout(), 5),
              kiln.stdout()[-200:])
        check_threads(kiln, 2, "running VM", drives=1)

        first = flush_metrics(kiln, metrics_path)
        check("FlushMetrics writes one JSON line", first is not None)
        first = first or {}
        check("metrics line has API, vCPU, block (per drive_id), entropy and per-device virtio counters",
              first.get("api_server", {}).get("put_requests", 0) > 0
              and first.get("api_server", {}).get("client_errors", 0) > 0
              and "exit_io_in" in first.get("vcpu", {})
              and "requests" in first.get("block", {}).get("scratch", {})
              and "bytes" in first.get("entropy", {})
              and all("queue_events" in counters for counters in first.get("virtio", {}).values())
              and len(first.get("virtio", {})) == 2, json.dumps(first))

        # Running: exits and vCPU time grow.
        cpu0, line0 = kiln.thread_cpu_ms("kiln_vcpu0"), flush_metrics(kiln, metrics_path)
        time.sleep(0.5)
        cpu1, line1 = kiln.thread_cpu_ms("kiln_vcpu0"), flush_metrics(kiln, metrics_path)
        check(f"running: vCPU exits grow (guest polls the i8042; {io_exits(line0)} -> {io_exits(line1)})",
              None not in (io_exits(line0), io_exits(line1)) and io_exits(line1) > io_exits(line0),
              f"{io_exits(line0)} -> {io_exits(line1)}")
        check(f"running: kiln_vcpu0 runs >= 10 ms in 0.5 s ({cpu(cpu0, cpu1)})",
              None not in (cpu0, cpu1) and cpu1 - cpu0 >= 10, f"{cpu(cpu0, cpu1)} in 0.5 s")

        # Paused: the guest really stops.
        expect(kiln, "PATCH /vm Paused", "PATCH", "/vm", {"state": "Paused"}, 204)
        r = kiln.request("GET", "/")
        check("GET / says Paused", (r.json or {}).get("state") == "Paused", repr(r))
        time.sleep(0.1)
        cpu0, line0 = kiln.thread_cpu_ms("kiln_vcpu0"), flush_metrics(kiln, metrics_path)
        time.sleep(0.5)
        cpu1, line1 = kiln.thread_cpu_ms("kiln_vcpu0"), flush_metrics(kiln, metrics_path)
        check(f"paused: vCPU exits do not grow ({io_exits(line0)} -> {io_exits(line1)})",
              io_exits(line0) is not None and io_exits(line0) == io_exits(line1),
              f"{io_exits(line0)} -> {io_exits(line1)}")
        check(f"paused: kiln_vcpu0 runs < 2 ms in 0.5 s ({cpu(cpu0, cpu1)})",
              None not in (cpu0, cpu1) and cpu1 - cpu0 < 2, f"{cpu(cpu0, cpu1)} in 0.5 s")
        r = kiln.request("PATCH", "/vm", {"state": "Paused"})
        check("PATCH /vm Paused while paused: 204, or 4xx with a fault_message",
              r.status == 204 or (400 <= r.status < 500 and r.fault), repr(r))
        r = kiln.request("GET", "/vm/config")
        check("paused: the API still serves", r.status == 200 and r.json == before_boot, repr(r))

        expect(kiln, "PATCH /vm Resumed", "PATCH", "/vm", {"state": "Resumed"}, 204)
        r = kiln.request("GET", "/")
        check("GET / says Running after resume", (r.json or {}).get("state") == "Running", repr(r))
        cpu0, line0 = kiln.thread_cpu_ms("kiln_vcpu0"), flush_metrics(kiln, metrics_path)
        time.sleep(0.5)
        cpu1, line1 = kiln.thread_cpu_ms("kiln_vcpu0"), flush_metrics(kiln, metrics_path)
        check(f"resumed: vCPU exits grow again ({io_exits(line0)} -> {io_exits(line1)})",
              None not in (io_exits(line0), io_exits(line1)) and io_exits(line1) > io_exits(line0),
              f"{io_exits(line0)} -> {io_exits(line1)}")
        check(f"resumed: kiln_vcpu0 runs >= 10 ms in 0.5 s again ({cpu(cpu0, cpu1)})",
              None not in (cpu0, cpu1) and cpu1 - cpu0 >= 10, f"{cpu(cpu0, cpu1)} in 0.5 s")

        # --- bad input after boot
        for method, path, body in [
            ("PUT", mc, {"vcpu_count": 1, "mem_size_mib": 64}),
            ("PATCH", mc, {"vcpu_count": 1}),
            ("PUT", "/boot-source", {"kernel_image_path": guest("idle.elf")}),
            ("PUT", "/drives/d2", {"drive_id": "d2", "path_on_host": drive_path, "is_root_device": False}),
            ("PUT", "/network-interfaces/eth0", {"iface_id": "eth0", "host_dev_name": "tap0"}),
            ("PUT", "/vsock", {"guest_cid": 3, "uds_path": os.path.join(work, "v.sock")}),
            ("PUT", "/entropy", {}),
            ("PUT", "/logger", {"level": "Debug"}),
            ("PUT", "/metrics", {"metrics_path": metrics_path}),
        ]:
            bad_request(kiln, f"pre-boot only after boot: {method} {path}", method, path, body, ["InstanceStart"])
        bad_request(kiln, "a second InstanceStart", "PUT", "/actions", {"action_type": "InstanceStart"}, ["already"])
        bad_request(kiln, "after boot: unknown id PATCH /drives/nope", "PATCH", "/drives/nope",
                    {"drive_id": "nope", "path_on_host": drive_path}, ["nope"])
        bad_request(kiln, "after boot: bad value vm state Frozen", "PATCH", "/vm", {"state": "Frozen"}, ["Frozen"])
        bad_request(kiln, "after boot: wrong type in PATCH /vm", "PATCH", "/vm", {"state": 1}, ["state"])
        bad_request(kiln, "after boot: unknown field in actions", "PUT", "/actions",
                    {"action_type": "FlushMetrics", "now": True}, ["now"])
        bad_request(kiln, "after boot: invalid JSON in actions", "PUT", "/actions", "{", ["json"])
        malformed_http(kiln, "after boot")
        check("after boot: GET /vm/config unchanged since InstanceStart", vm_config(kiln) == before_boot)
        r = kiln.request("GET", "/")
        check("after all bad input: still Running", (r.json or {}).get("state") == "Running", repr(r))

        # --- PATCH on the running VM: a new backing file (opened by the confined VMM thread) and
        # rate limiters; a refused PATCH changes nothing.
        second_drive = os.path.join(work, "scratch2.img")
        with open(second_drive, "wb") as f:
            f.write(b"\0" * (2 << 20))
        expect(kiln, "PATCH /drives/scratch path_on_host (new file, running VM)", "PATCH", "/drives/scratch",
               {"drive_id": "scratch", "path_on_host": second_drive}, 204)
        expect(kiln, "PATCH /drives/scratch rate_limiter", "PATCH", "/drives/scratch",
               {"drive_id": "scratch", "rate_limiter": {"bandwidth": {"size": 1048576, "refill_time": 100},
                                                        "ops": {"size": 100, "one_time_burst": 10, "refill_time": 1000}}}, 204)
        patched = vm_config(kiln) or {}
        drive = (patched.get("drives") or [{}])[0]
        check("GET /vm/config shows the new path and rate limiter",
              drive.get("path_on_host") == second_drive
              and drive.get("rate_limiter", {}).get("ops", {}).get("size") == 100
              and drive.get("rate_limiter", {}).get("bandwidth", {}).get("refill_time") == 100, json.dumps(drive))
        bad_request(kiln, "after boot: PATCH /drives with a missing file", "PATCH", "/drives/scratch",
                    {"drive_id": "scratch", "path_on_host": os.path.join(work, "missing.img")}, ["missing.img"])
        bad_request(kiln, "after boot: PATCH /drives with a directory", "PATCH", "/drives/scratch",
                    {"drive_id": "scratch", "path_on_host": work}, ["not a regular file"])
        bad_request(kiln, "after boot: PATCH /drives with a negative bucket size", "PATCH", "/drives/scratch",
                    {"drive_id": "scratch", "rate_limiter": {"ops": {"size": -5, "refill_time": 10}}}, ["size"])
        bad_request(kiln, "after boot: PATCH /drives with an unknown field", "PATCH", "/drives/scratch",
                    {"drive_id": "scratch", "is_read_only": False}, ["is_read_only"])
        check("after refused PATCHes: GET /vm/config unchanged", vm_config(kiln) == patched)
        line = flush_metrics(kiln, metrics_path) or {}
        check("metrics: the drive reports rate_limiter_throttled_events",
              "rate_limiter_throttled_events" in line.get("block", {}).get("scratch", {}), json.dumps(line.get("block")))
        r = kiln.request("GET", "/")
        check("after the PATCHes: still Running", (r.json or {}).get("state") == "Running", repr(r))

        # --- logger and metrics files
        with open(log_path) as f:
            log = f.read()
        check("logger file has the start and pause/resume lines",
              "VM started" in log and "VM paused" in log and "VM resumed" in log, log[-500:])
        check("logger file shows levels (show_level) and names refused requests",
              ":WARN" in log and "PATCH /drives/nope" in log, log[-500:])
        stamps = [line.split(" ", 1)[0] for line in log.splitlines()]
        check("logger lines start with a seconds.microseconds timestamp (6 digits)",
              stamps and all(re.fullmatch(r"[0-9]+\.[0-9]{6}", stamp) for stamp in stamps),
              str([s for s in stamps if not re.fullmatch(r"[0-9]+\.[0-9]{6}", s)][:5]))
        with open(metrics_path) as f:
            lines = f.readlines()
        check("metrics file: one JSON line per FlushMetrics", len(lines) >= 7
              and all(isinstance(json.loads(line), dict) for line in lines), f"{len(lines)} lines")

        # --- Ctrl-Alt-Del: keyboard.elf resets on it; kiln ends cleanly.
        expect(kiln, "SendCtrlAltDel accepted", "PUT", "/actions", {"action_type": "SendCtrlAltDel"}, 204)
        code = kiln.wait_exit(10)
        check("SendCtrlAltDel: the guest sees Ctrl-Alt-Del", "CTRL-ALT-DEL" in kiln.stdout(), kiln.stdout()[-200:])
        check("SendCtrlAltDel: guest resets, kiln exits 0", code == 0,
              f"exit {code}; stderr: {kiln.stderr()[-300:]}")
        check("kiln's last words name the reset", "VM ended" in kiln.stderr(), kiln.stderr()[-300:])
    finally:
        kiln.stop()


def idle_ctrl_alt_del():
    """idle.elf (the brief's guest): boots, confined; Ctrl-Alt-Del without a keyboard driver."""
    kiln = Kiln(instance_id="idle")
    try:
        expect(kiln, "idle: PUT /boot-source (idle.elf)", "PUT", "/boot-source",
               {"kernel_image_path": guest("idle.elf")}, 204)
        expect(kiln, "idle: InstanceStart", "PUT", "/actions", {"action_type": "InstanceStart"}, 204)
        check("idle: the guest runs (serial: IDLE)", wait_for(lambda: "IDLE" in kiln.stdout(), 5), kiln.stdout())
        check_threads(kiln, 1, "idle VM")
        r = kiln.request("GET", "/")
        check("idle: GET / says Running", (r.json or {}).get("state") == "Running", repr(r))
        expect(kiln, "idle: SendCtrlAltDel accepted", "PUT", "/actions", {"action_type": "SendCtrlAltDel"}, 204)
        # IRQ 1 reaches a guest that has no IDT: a triple fault, i.e. a reset, or (if it never
        # takes it) the VMM keeps serving. Either way no crash, no signal.
        code = kiln.wait_exit(3)
        if code is None:
            r = kiln.request("GET", "/")
            check("idle: after Ctrl-Alt-Del the VMM still serves", r.status == 200, repr(r))
        else:
            check("idle: after Ctrl-Alt-Del the guest resets and kiln exits 0 (no crash)",
                  code == 0 and "VM ended" in kiln.stderr(), f"exit {code}; {kiln.stderr()[-300:]}")
    finally:
        kiln.stop()


def failed_start():
    """An InstanceStart that fails (a file that is no kernel) leaves the instance configurable,
    and a later one boots a VM whose threads are all confined."""
    kiln = Kiln(instance_id="failed_start")
    try:
        not_a_kernel = os.path.join(kiln.dir, "not-a-kernel")
        with open(not_a_kernel, "w") as f:
            f.write("this is not an ELF or bzImage kernel\n" * 100)
        expect(kiln, "failed start: PUT /boot-source (a file that is no kernel)", "PUT", "/boot-source",
               {"kernel_image_path": not_a_kernel}, 204)
        before = vm_config(kiln)
        r = kiln.request("PUT", "/actions", {"action_type": "InstanceStart"})
        check("failed start: InstanceStart with a file that is no kernel: 400 naming the file",
              r.status == 400 and "not-a-kernel" in (r.fault or ""), repr(r))
        r = kiln.request("GET", "/")
        check("failed start: still Not started, serving, configuration unchanged",
              r.status == 200 and (r.json or {}).get("state") == "Not started" and vm_config(kiln) == before,
              repr(r))
        expect(kiln, "failed start: PUT /boot-source (idle.elf)", "PUT", "/boot-source",
               {"kernel_image_path": guest("idle.elf")}, 204)
        expect(kiln, "failed start: then InstanceStart boots", "PUT", "/actions", {"action_type": "InstanceStart"}, 204)
        check("failed start: the guest runs (serial: IDLE)", wait_for(lambda: "IDLE" in kiln.stdout(), 5),
              kiln.stdout())
        check_threads(kiln, 1, "failed start, then a VM")
    finally:
        kiln.stop()


def early_clients(starts=50):
    """Clients that connect the moment the socket appears (as orchestrators poll for it) must be
    answered: kiln once served such a request before its API thread was set up, and deadlocked."""
    import socket
    hung = []
    for _ in range(starts):
        kiln = Kiln(instance_id="early", wait=False)
        answered = False
        deadline = time.monotonic() + 5
        while not answered and time.monotonic() < deadline and kiln.alive():
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                s.connect(kiln.sock)
                s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                answered = s.recv(64).startswith(b"HTTP/1.1 200")
            except OSError:
                pass
            finally:
                s.close()
        if not answered:
            hung.append(kiln.pid)
        kiln.stop()
    check(f"{starts} starts, a client connecting as soon as the socket exists: always answered",
          not hung, f"{len(hung)} of {starts} never answered")


def descriptor_exhaustion():
    """A kiln out of file descriptors neither spins nor locks clients out: with room for a few
    connections, idle clients past that are made room for by closing the quietest; with none,
    the API thread stops watching its listener for a while instead of waking for the same client
    again and again, and answers it once descriptors are back."""
    import resource
    import socket
    kiln = Kiln(instance_id="nofile")
    idle = []
    try:
        base = len(os.listdir(f"/proc/{kiln.pid}/fd"))
        soft, hard = resource.prlimit(kiln.pid, resource.RLIMIT_NOFILE)

        def get_root(timeout):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(timeout)
            try:
                s.connect(kiln.sock)
                s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                return s.recv(64).startswith(b"HTTP/1.1 200")
            except OSError:
                return False
            finally:
                s.close()

        resource.prlimit(kiln.pid, resource.RLIMIT_NOFILE, (base + 3, hard))
        for _ in range(8):
            c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            c.connect(kiln.sock)
            idle.append(c)
        time.sleep(0.2)
        before = kiln.thread_cpu_ms("kiln_api")
        time.sleep(1.0)
        spent = kiln.thread_cpu_ms("kiln_api") - before
        check("out of descriptors with idle clients: kiln_api does not spin", spent < 100, f"{spent:.0f} ms of CPU in 1 s")
        check("out of descriptors with idle clients: a new client is answered (the quietest is closed)",
              get_root(3), kiln.stderr()[-300:])
        for c in idle:
            c.close()
        idle.clear()
        time.sleep(0.2)
        # No room at all: every descriptor the process may have is in use by kiln itself.
        resource.prlimit(kiln.pid, resource.RLIMIT_NOFILE, (len(os.listdir(f"/proc/{kiln.pid}/fd")), hard))
        waiting = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        waiting.settimeout(5)
        waiting.connect(kiln.sock)
        waiting.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        idle.append(waiting)
        time.sleep(0.2)
        before = kiln.thread_cpu_ms("kiln_api")
        time.sleep(1.0)
        spent = kiln.thread_cpu_ms("kiln_api") - before
        check("no descriptor to spare: kiln_api does not spin on the waiting client", spent < 100,
              f"{spent:.0f} ms of CPU in 1 s")
        resource.prlimit(kiln.pid, resource.RLIMIT_NOFILE, (soft, hard))
        try:
            answered = waiting.recv(64).startswith(b"HTTP/1.1 200")
        except OSError:
            answered = False
        check("no descriptor to spare: the waiting client is answered once descriptors are back", answered)
        check("kiln still runs", kiln.alive(), kiln.stderr()[-300:])
    finally:
        for c in idle:
            c.close()
        kiln.stop()


def main():
    for scenario in (lifecycle, idle_ctrl_alt_del, failed_start, early_clients, descriptor_exhaustion):
        try:
            scenario()
        except Exception as error:  # a broken scenario is a failure, not a skip
            traceback.print_exc()
            check(f"{scenario.__name__} ran to the end", False, f"{type(error).__name__}: {error}")
    return checks.summary()


if __name__ == "__main__":
    sys.exit(main())
