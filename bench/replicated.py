"""The replicated deployment measured beside the single node, in one run on this machine:
1, 2 and 3 replicas on PostgreSQL + SeaweedFS behind HAProxy (as docs/deploy.md lays it out)
against the embedded default (SQLite + disk), with the same clients and workloads.

    .venv/bin/python bench/replicated.py [--quick]     # make bench runs it after bench/run.py

The single node runs two worker processes, one replica two, two or three replicas one each:
they all share the same two cores with PostgreSQL (fsync on), SeaweedFS, HAProxy and the load
generators, so more replicas add no CPU here: the figures show what the replicated path costs,
not what more machines would add. Manifest GET is measured through HAProxy and, to tell the
balancer's share from the replicas', straight at the replicas (one wrk per replica at once).
Writes bench/results/<date>-replicated.json and .md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from cryptography.fernet import Fernet
from run import (
    MiB,
    Target,
    large_push,
    push_small_image,
    settle,
    sha256_file,
    small_push,
    start_distribution,
    start_kikoto,
    wrk,
)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.balancer import Balancer  # noqa: E402
from tests.e2e.cluster import start_all  # noqa: E402
from tests.e2e.conftest import Server  # noqa: E402
from tests.pg import PostgresServer  # noqa: E402
from tests.weed import ACCESS_KEY, SECRET_KEY, SeaweedServer  # noqa: E402

MANIFEST = "application/vnd.oci.image.manifest.v1+json"


class Replicas:
    """N replicas behind HAProxy, as a Target the workloads of bench/run.py can use."""

    def __init__(self, count: int, postgres: PostgresServer, weed: SeaweedServer, root: Path) -> None:
        database = postgres.create_database(f"replicated{count}")
        self.balancer = Balancer(root / f"lb{count}", [])
        settings = {
            "KIKOTO_MASTER_KEY": Fernet.generate_key().decode(),
            "KIKOTO_BLOB_STORE": f"s3://bench/replicated{count}",
            "KIKOTO_S3_ENDPOINT_URL": weed.endpoint,
            "KIKOTO_PUBLIC_HOST": self.balancer.host,
            "KIKOTO_LIFECYCLE_INTERVAL": "0",
            "KIKOTO_GC_INTERVAL": "0",
        }
        self.replicas = [
            Server(root / f"r{count}-{n}", workers=2 if count == 1 else 1, database_url=database, env=settings)
            for n in range(count)
        ]
        start_all(self.replicas)
        self.balancer.backends = [r.host for r in self.replicas]
        self.balancer.start()
        headers = self.replicas[0].auth_headers()  # `podman login`'s Basic AWS:<password>, valid on every replica
        self.target = Target(f"{count} replicas", self.balancer.process, self.balancer.url, headers, 2)

    def stop(self) -> None:
        self.target._sampling = False
        self.balancer.stop()
        for replica in self.replicas:
            replica.stop()


def direct_manifest_gets(replicas: Replicas, seconds: int) -> float:
    """Manifest GETs a second straight at the replicas, 64 connections split between them."""
    share = 64 // len(replicas.replicas)
    runs = []
    for replica in replicas.replicas:
        args = ["wrk", "-t1", f"-c{share}", f"-d{seconds}s", "-H", f"Accept: {MANIFEST}"]
        for key, value in replicas.target.headers.items():
            args += ["-H", f"{key}: {value}"]
        url = f"{replica.url}/v2/bench/web/manifests/v1"
        runs.append(subprocess.Popen([*args, url], stdout=subprocess.PIPE, text=True))
    outputs = [run.communicate()[0] for run in runs]
    if any("Non-2xx" in out for out in outputs):
        raise RuntimeError("wrk saw errors:\n" + "\n".join(outputs))
    return sum(float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)) for out in outputs)


def manifest_p99_ms(target: Target, seconds: int, connections: int = 256) -> float:
    """wrk's 99th percentile latency of manifest GET at 256 connections."""
    args = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-H", f"Accept: {MANIFEST}"]
    for key, value in target.headers.items():
        args += ["-H", f"{key}: {value}"]
    out = subprocess.run([*args, f"{target.url}/v2/bench/web/manifests/v1"], capture_output=True, text=True).stdout
    value, unit = re.search(r"99%\s+([\d.]+)(us|ms|s)", out).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


async def blob_gets(target: Target, digest: str, seconds: int, connections: int = 64) -> float:
    """Whole 4 KiB blob fetches a second, following the 307 to the object store as clients do
    (aiohttp, the same client for every setup: wrk cannot follow a redirect)."""
    url = f"{target.url}/v2/bench/web/blobs/{digest}"
    done = 0
    stop = time.monotonic() + seconds

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal done
        while time.monotonic() < stop:
            async with session.get(url, headers=target.headers) as response:
                assert response.status == 200, response.status
                assert len(await response.read()) == 4096
            done += 1

    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.monotonic()
        await asyncio.gather(*(client(session) for _ in range(connections)))
        return done / (time.monotonic() - started)


def measure(target: Target, blob: Path, digest: str, quick: bool, replicas: Replicas | None = None) -> dict:
    seconds = 5 if quick else 10
    results = {"push_256mib_mib_s": large_push(target, blob, digest)}
    settle()
    results["small_push_ops_s"] = asyncio.run(small_push(target, 300 if quick else 1000))
    _manifest, layer = push_small_image(target)
    results["manifest_get_req_s"] = wrk(target, "/v2/bench/web/manifests/v1", seconds, MANIFEST)
    if replicas:
        results["manifest_get_direct_req_s"] = direct_manifest_gets(replicas, seconds)
    results["manifest_get_p99_ms_256c"] = manifest_p99_ms(target, seconds)
    results["blob_4k_get_req_s"] = asyncio.run(blob_gets(target, layer, seconds))
    return results


ROWS = [
    ("manifest_get_req_s", "manifest GET (req/s, wrk 64 connections)"),
    ("manifest_get_direct_req_s", "manifest GET straight at the replicas, no balancer (req/s)"),
    ("manifest_get_p99_ms_256c", "manifest GET p99 at 256 connections (ms)"),
    ("blob_4k_get_req_s", "4 KiB blob GET, 307 followed (req/s, 64 connections)"),
    ("small_push_ops_s", "small push (16 KiB blobs/s, 4 clients)"),
    ("push_256mib_mib_s", "256 MiB push (MiB/s)"),
]


def table(results: dict) -> str:
    names = list(results)
    lines = ["| workload | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for key, label in ROWS:
        cells = [f"{results[name][key]:,.1f}" if key in results[name] else "—" for name in names]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    single = results["single node"]
    lines.append("| **ratio to the single node** |" + " |" * len(names))
    for key, label in [ROWS[0], ROWS[1], ROWS[3], ROWS[4], ROWS[5]]:
        base = single.get(key, single["manifest_get_req_s"])  # straight at the one node, for the direct row
        cells = [f"{results[name][key] / base:.0%}" if key in results[name] else "—" for name in names]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, shorter runs (a smoke test)")
    args = parser.parse_args()
    for tool in ("docker-registry", "wrk", "curl", "haproxy", "psql"):
        if not shutil.which(tool):
            sys.exit(f"bench: {tool} is missing (make bench installs it)")
    os.environ.update(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY, AWS_REGION="us-east-1")
    work = Path(tempfile.mkdtemp(prefix="kikoto-replicated-"))
    blob = work / "push.bin"
    with open(blob, "wb") as fh:
        for _ in range((32 if args.quick else 256) // 8):
            fh.write(os.urandom(8 * MiB))
    digest = sha256_file(blob)
    results: dict[str, dict] = {}
    postgres, weed = PostgresServer(durable=True).start(), SeaweedServer().start("bench")
    try:
        single = start_kikoto(work, 2)
        try:
            results["single node"] = measure(single, blob, digest, args.quick)
        finally:
            single.stop()
        for count in (1, 2, 3):
            replicas = Replicas(count, postgres, weed, work)
            try:
                name = f"{count} replica{'s' if count > 1 else ''}"
                results[name] = measure(replicas.target, blob, digest, args.quick, replicas)
            finally:
                replicas.stop()
        distribution = start_distribution(work)
        try:
            push_small_image(distribution)
            p99 = manifest_p99_ms(distribution, 5 if args.quick else 10)
            results["Distribution"] = {"manifest_get_p99_ms_256c": p99}
        finally:
            distribution.stop()
    finally:
        weed.stop()
        postgres.stop()
        shutil.rmtree(work, ignore_errors=True)
    markdown = table(results)
    print(markdown)
    stamp = datetime.date.today().isoformat() + ("-quick" if args.quick else "")
    report = {"date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"), "results": results}
    (ROOT / "bench" / "results" / f"{stamp}-replicated.json").write_text(json.dumps(report, indent=2))
    (ROOT / "bench" / "results" / f"{stamp}-replicated.md").write_text(f"{report['date']}\n\n{markdown}\n")


if __name__ == "__main__":
    main()
