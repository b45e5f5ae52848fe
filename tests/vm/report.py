"""Reads the JUnit files the cgroup v2 VM wrote (one per phase) and prints one line per test,
then the totals; exits 1 when any test failed or errored, or a phase did not run."""
import os
import sys
import xml.etree.ElementTree as ElementTree

results = sys.argv[1]
failed = passed = skipped = 0
problems = []
with open(os.path.join(results, "done")) as f:
    phases = [line.split() for line in f if line.strip()]
for phase, status in phases:
    path = os.path.join(results, f"{phase}.xml")
    if not os.path.exists(path):
        problems.append(f"phase {phase}: no results (exit {status})")
        continue
    count = 0
    for case in ElementTree.parse(path).getroot().iter("testcase"):
        count += 1
        name = f"{case.get('classname')}::{case.get('name')}"
        seconds = float(case.get("time") or 0)
        if case.find("failure") is not None or case.find("error") is not None:
            word = "FAILED"
            failed += 1
        elif case.find("skipped") is not None:
            word = "SKIPPED"
            skipped += 1
            name += " (" + (case.find("skipped").get("message") or "") + ")"
        else:
            word = "PASSED"
            passed += 1
        print(f"[{phase}] {word:7} {name} ({seconds:.1f}s)")
    if count == 0:
        problems.append(f"phase {phase}: ran no test")
    if status not in ("0",) and failed == 0:
        problems.append(f"phase {phase}: pytest exited {status}")
for problem in problems:
    print("test-cgroup2:", problem)
print(f"test-cgroup2: {passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed or problems else 0)
