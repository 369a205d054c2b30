#!/usr/bin/env python3
"""Sum meson's JUnit logs into the closing line 'N passed, N failed'.

Every TAP check counts as one test.  A skipped test counts as failed: a
test whose tool is missing must not pass silently.  --failed-floor 1 makes
sure a failing run never reports 0 failed (a crashed program may leave no
test case behind).
"""
import sys
import xml.etree.ElementTree as ET

args = sys.argv[1:]
floor = 0
if "--failed-floor" in args:
    i = args.index("--failed-floor")
    floor = int(args[i + 1])
    del args[i:i + 2]

passed = failed = 0
for path in args:
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as e:
        print(f"cannot read {path}: {e}")
        failed += 1
        continue
    for case in root.iter("testcase"):
        bad = [c for c in case if c.tag in ("failure", "error", "skipped")]
        if bad:
            failed += 1
            print(f"FAILED: {case.get('classname')}: {case.get('name')}")
        else:
            passed += 1
if floor and failed == 0:
    failed = 1
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
