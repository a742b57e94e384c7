"""PASS/FAIL bookkeeping shared by the Python test drivers (API conformance, the hostile agent,
the load driver): one line per check, a closing "N passed, N failed" and exit status 1 on any
failure."""
import sys

passed = 0
failed = 0


def check(name, ok, detail=""):
    """Prints PASS or FAIL (with `detail`) for `name` and counts it; returns `ok`."""
    global passed, failed
    if ok:
        passed += 1
        print(f"PASS {name}", flush=True)
    else:
        failed += 1
        print(f"FAIL {name}{': ' + detail if detail else ''}", flush=True)
    return ok


def summary():
    """Prints the closing line and returns the exit status: 1 if anything failed."""
    print(f"{passed} passed, {failed} failed", flush=True)
    return 1 if failed else 0
