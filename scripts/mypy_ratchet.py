"""The type-checking ratchet: mypy's error count on src/ may only fall.

`.ci/mypy-baseline` holds the count of the last accepted state. More errors fail; fewer fail
too, until the baseline is lowered to the new count (so the ratchet never slips back)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / ".ci" / "mypy-baseline"


def main() -> int:
    result = subprocess.run([sys.executable, "-m", "mypy", "src"], cwd=ROOT, capture_output=True, text=True)
    errors = len(re.findall(r": error:", result.stdout))
    baseline = int(BASELINE.read_text().strip())
    if errors > baseline:
        print(result.stdout)
        print(f"mypy: {errors} errors, more than the baseline of {baseline}: fix the new ones")
        return 1
    if errors < baseline:
        print(f"mypy: {errors} errors, fewer than the baseline of {baseline}: write {errors} into {BASELINE}")
        return 1
    print(f"mypy: {errors} errors (baseline {baseline})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
