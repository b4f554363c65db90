"""The type-checking ratchets: mypy's error counts on src/ may only fall.

Two counts, each with its baseline in .ci/: the project's configuration (`mypy-baseline`, with
check_untyped_defs) and `--strict` (`mypy-strict-baseline`: annotations everywhere, generics
with their parameters). More errors fail; fewer fail too, until the baseline is lowered to the
new count (so the ratchet never slips back)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RATCHETS = {"mypy-baseline": [], "mypy-strict-baseline": ["--strict"]}


def check(baseline_file: Path, flags: list[str]) -> int:
    result = subprocess.run([sys.executable, "-m", "mypy", *flags, "src"], cwd=ROOT, capture_output=True, text=True)
    errors = len(re.findall(r": error:", result.stdout))
    baseline = int(baseline_file.read_text().strip())
    name = " ".join(["mypy", *flags])
    if errors > baseline:
        print(result.stdout)
        print(f"{name}: {errors} errors, more than the baseline of {baseline}: fix the new ones")
        return 1
    if errors < baseline:
        print(f"{name}: {errors} errors, fewer than the baseline of {baseline}: write {errors} into {baseline_file}")
        return 1
    print(f"{name}: {errors} errors (baseline {baseline})")
    return 0


def main() -> int:
    failed = [check(ROOT / ".ci" / name, flags) for name, flags in RATCHETS.items()]
    return 1 if any(failed) else 0


if __name__ == "__main__":
    sys.exit(main())
