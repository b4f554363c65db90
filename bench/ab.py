"""A/B of two commits on the same machine: the bench's hot workloads (manifest GET, 4 KiB blob GET,
small push), each side's server started from that commit's source, alternating, medians of the
rounds. The machine's speed moves between days by more than the changes measured here, so a
change is judged against the commit before it, not against an old run.

    .venv/bin/python bench/ab.py BEFORE AFTER [--rounds 3] [--seconds 6] [--pushes 1500]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from run import push_small_image, settle, small_push, start_kikoto, wrk  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def checkout(revision: str, into: Path) -> Path:
    """The revision's source tree (git archive: no worktree bookkeeping to clean up)."""
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", revision, "src"], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into / "src"


def one_round(source: Path, work: Path, seconds: int, pushes: int) -> dict[str, float]:
    os.environ["PYTHONPATH"] = str(source)  # the server imports this commit's kikoto
    target = start_kikoto(work, 2)
    try:
        manifest_accept = "application/vnd.oci.image.manifest.v1+json"
        _, layer = push_small_image(target)
        measured = {
            "manifest_get_req_s": wrk(target, "/v2/bench/web/manifests/v1", seconds, manifest_accept),
            "blob_4k_get_req_s": wrk(target, f"/v2/bench/web/blobs/{layer}", seconds),
        }
        settle()
        measured["small_push_ops_s"] = asyncio.run(small_push(target, pushes))
        return measured
    finally:
        target.stop()
        shutil.rmtree(work / "kikoto", ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=6)
    parser.add_argument("--pushes", type=int, default=1500)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kikoto-ab-"))
    try:
        sides = {name: checkout(rev, work / name) for name, rev in (("before", args.before), ("after", args.after))}
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in sides}
        for number in range(args.rounds):
            for name, source in sides.items():
                runs[name].append(one_round(source, work, args.seconds, args.pushes))
                print(f"round {number + 1} {name}: {runs[name][-1]}", flush=True)
        print(f"\n| workload | before ({args.before[:8]}) | after ({args.after[:8]}) | after/before |")
        print("|---|---:|---:|---:|")
        for key in runs["before"][0]:
            before = statistics.median(r[key] for r in runs["before"])
            after = statistics.median(r[key] for r in runs["after"])
            print(f"| {key} | {before:,.0f} | {after:,.0f} | {after / before:.3f} |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
