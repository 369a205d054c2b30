#!/usr/bin/env python3
"""Sum meson's test logs into the closing line 'N passed, N failed'.

Reads each build's meson-logs/testlog.json (one JSON object per test
program, with its TAP output) and counts every TAP check:
  - "ok" passes; "not ok" fails, with or without "# TODO";
  - "ok ... # SKIP" fails: a test whose tool is missing must not pass;
  - checks a program planned ("1..N") but never printed fail, and a
    program with no plan at all (it crashed or hung) counts one failure;
  - a program whose result is not OK (FAIL, ERROR, TIMEOUT) counts at
    least one failure, whatever it printed.
A log that cannot be read counts one failure.  Failures are named.
"""
import json
import re
import sys

TAP = re.compile(r"^(not ok|ok)\b(.*)$")
PLAN = re.compile(r"^1\.\.(\d+)")


def count(name, result, stdout):
    passed = failed = seen = 0
    plan = None
    for line in (stdout or "").splitlines():
        m = PLAN.match(line)
        if m:
            plan = int(m.group(1))
            continue
        m = TAP.match(line)
        if not m:
            continue
        seen += 1
        directive = m.group(2).split("#", 1)[1].strip().upper() \
            if "#" in m.group(2) else ""
        if m.group(1) == "ok" and not directive.startswith("SKIP"):
            passed += 1
        else:
            failed += 1
            print(f"FAILED: {name}: {line.strip()}")
    if plan is None:
        failed += 1
        print(f"FAILED: {name}: no TAP plan (the program died or hung)")
    elif plan > seen:
        failed += plan - seen
        print(f"FAILED: {name}: {plan - seen} planned checks never ran")
    if result not in ("OK", "EXPECTEDFAIL") and failed == 0:
        failed += 1
        print(f"FAILED: {name}: {result}")
    return passed, failed


def main(paths):
    passed = failed = 0
    for path in paths:
        try:
            with open(path) as f:
                lines = [json.loads(l) for l in f if l.strip()]
        except (OSError, ValueError) as e:
            print(f"cannot read {path}: {e}")
            failed += 1
            continue
        for t in lines:
            p, f_ = count(t.get("name", "?"), t.get("result", "?"),
                          t.get("stdout", ""))
            passed += p
            failed += f_
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
