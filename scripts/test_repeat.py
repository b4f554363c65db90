"""Run test suites N times and report every test that did not pass every time.

    python scripts/test_repeat.py [--runs 5] [--copies 2] [pytest arguments ...]

`--copies 2` runs two copies of each round at once (a loaded machine: each copy gets about one
core of this machine's two). Each run writes a JUnit XML report; the tally reads them, so a test
that failed once among five runs is named with its failures, and the exit status is 1. Without
pytest arguments it runs the client-facing e2e suites (the Makefile's E2E_SHARED).
"""

from __future__ import annotations

import argparse
import collections
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def default_suites() -> list[str]:
    """The Makefile's E2E_SHARED list (one place says which suites are the client-facing ones)."""
    text = (ROOT / "Makefile").read_text()
    start = text.index("E2E_SHARED :=")
    block = text[start:].split("\n\n", 1)[0].replace("\\\n", " ")
    return block.split(":=", 1)[1].split()


def outcomes(report: Path) -> dict[str, str]:
    """test id -> passed | failed | error | skipped, from one JUnit XML report."""
    found: dict[str, str] = {}
    if not report.exists():
        return found
    for case in ET.parse(report).getroot().iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        if case.find("failure") is not None:
            found[name] = "failed"
        elif case.find("error") is not None:
            found[name] = "error"
        elif case.find("skipped") is not None:
            found[name] = "skipped"
        else:
            found[name] = "passed"
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=int(os.environ.get("N", "5")))
    parser.add_argument("--copies", type=int, default=1, help="copies of each run at once (load)")
    args, pytest_args = parser.parse_known_args()
    pytest_args = pytest_args or default_suites()
    work = Path(tempfile.mkdtemp(prefix="kikoto-repeat-"))
    tally: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    started = time.monotonic()
    for run in range(1, args.runs + 1):
        processes = []
        for copy in range(args.copies):
            report = work / f"run{run}-copy{copy}.xml"
            log = open(work / f"run{run}-copy{copy}.log", "w")
            command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}"]
            # each copy its own temporary directory: two pytest sessions must not share basetemp
            env = {**os.environ, "TMPDIR": str(work / f"tmp{run}-{copy}")}
            (work / f"tmp{run}-{copy}").mkdir()
            processes.append(
                (subprocess.Popen(command + pytest_args, cwd=ROOT, stdout=log, stderr=log, env=env), report)
            )
        for process, report in processes:
            process.wait()
            for name, outcome in outcomes(report).items():
                tally[name][outcome] += 1
        failing = sum(1 for counts in tally.values() if counts["failed"] + counts["error"])
        elapsed = time.monotonic() - started
        print(
            f"round {run}/{args.runs} ({args.copies} at once): {len(tally)} tests, {failing} failed at least once "
            f"[{elapsed:.0f} s]",
            flush=True,
        )
    expected = args.runs * args.copies
    flaky = {name: counts for name, counts in tally.items() if counts["passed"] + counts["skipped"] != expected}
    total = sum(sum(c.values()) for c in tally.values())
    print(f"\n{len(tally)} tests x {expected} runs = {total} results; logs and reports in {work}")
    if not flaky:
        print(f"every test passed every time ({expected} runs)")
        return 0
    print(f"{len(flaky)} tests did not pass every time:")
    for name, counts in sorted(flaky.items()):
        print(f"  {name}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return 1


if __name__ == "__main__":
    sys.exit(main())
