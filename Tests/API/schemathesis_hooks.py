"""Schemathesis hooks for Tests/API/schemathesis.sh (loaded through SCHEMATHESIS_HOOKS).

- check `fault_message_on_4xx`: every 4xx answer is a JSON object with a non-empty string
  `fault_message` (Firecracker's Error).
- before_call: fuzzed `log_path` / `metrics_path` are files kiln creates: they are made relative
  (no leading '/', no '..') so they land in kiln's working directory, the run's temporary
  directory, whatever the fuzzer draws. Everything else is sent as generated.
- each response's status is appended to $KILN_ST_STATUSES (one number a line) for the summary."""
import json
import os

import schemathesis


@schemathesis.check
def fault_message_on_4xx(ctx, response, case):
    if 400 <= response.status_code < 500:
        try:
            body = json.loads(response.content)
        except ValueError:
            raise AssertionError(f"{response.status_code} without a JSON body: {response.content[:200]!r}")
        message = body.get("fault_message") if isinstance(body, dict) else None
        if not isinstance(message, str) or not message:
            raise AssertionError(f"{response.status_code} without a fault_message: {response.content[:200]!r}")
    statuses = os.environ.get("KILN_ST_STATUSES")
    if statuses:
        with open(statuses, "a") as f:
            f.write(f"{response.status_code}\n")


def confine(value):
    if not isinstance(value, str) or value.startswith("fuzz-"):
        return value  # not a path, or already confined (a case can be sent more than once)
    parts = [p if p not in ("", ".", "..") else "_" for p in value.replace("\\", "/").split("/")]
    return "fuzz-" + "/".join(parts)


@schemathesis.hook
def before_call(context, case, kwargs):
    if isinstance(case.body, dict):
        for key in ("log_path", "metrics_path"):
            if key in case.body:
                case.body[key] = confine(case.body[key])
