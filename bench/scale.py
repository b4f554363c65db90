"""How every cost grows with the registry: one repository grown to 1,000 / 10,000 / 100,000
images and a registry grown to 100 / 1,000 / 10,000 repositories, measured at each size against
a real `kikoto serve` (SQLite + disk, then PostgreSQL + disk when its binaries are here).

    make bench-scale        # or: .venv/bin/python bench/scale.py [--sizes 1000,10000] [--no-postgres]

Every image is pushed over /v2 as a client pushes it (a config blob of its own, then the
manifest), so the registry holds as many live blobs as images. At each size: the first page
and the whole listing (pages of 100 and of 1,000) of ListImages, DescribeImages and the tag
list; a manifest GET by tag; one more push; a lifecycle preview and run (a policy that expires
the 100 oldest); a GC of 1,000 dead blobs among all the live ones; restart time; worker memory.
Writes bench/results/scale-<date>.json and draws docs/scale-*.png (log-log; flat is the goal).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import boto3
import psutil
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.conftest import ADMIN_KEY, ADMIN_SECRET, REGION, Server  # noqa: E402
from tests.pg import PostgresServer  # noqa: E402

OCI = "application/vnd.oci.image.manifest.v1+json"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
REPO = "big"
DEAD_BLOBS = 1000
EXPIRE = 100


def policy(keep: int) -> str:
    rule = {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": keep}
    return json.dumps({"rules": [{"rulePriority": 1, "selection": rule, "action": {"type": "expire"}}]})


def config_blob(n: int) -> bytes:
    return json.dumps({"architecture": "amd64", "os": "linux", "n": n}).encode()


def manifest(config: bytes, n: int) -> bytes:
    digest = "sha256:" + hashlib.sha256(config).hexdigest()
    descriptor = {"mediaType": CONFIG_TYPE, "digest": digest, "size": len(config)}
    return json.dumps({"schemaVersion": 2, "mediaType": OCI, "config": descriptor, "layers": []}).encode()


class Bench:
    def __init__(self, server: Server):
        self.server = server
        self.headers = server.auth_headers()
        self.ecr = boto3.client(
            "ecr",
            endpoint_url=server.url,
            region_name=REGION,
            aws_access_key_id=ADMIN_KEY,
            aws_secret_access_key=ADMIN_SECRET,
        )
        self.http = requests.Session()
        self.http.headers.update(self.headers)

    # building ----------------------------------------------------------------------------------
    async def push(self, repo: str, numbers: range, concurrency: int = 32) -> None:
        """Pushes image n (config blob, then manifest tagged v<n>) for every n, `concurrency` at once."""
        queue = iter(numbers)
        async with aiohttp.ClientSession(self.server.url, headers=self.headers) as session:

            async def one_at_a_time() -> None:
                for n in queue:
                    await self.push_one(session, repo, n)

            await asyncio.gather(*(one_at_a_time() for _ in range(concurrency)))

    @staticmethod
    async def push_one(session: aiohttp.ClientSession, repo: str, n: int) -> None:
        config = config_blob(n)
        digest = "sha256:" + hashlib.sha256(config).hexdigest()
        async with session.post(f"/v2/{repo}/blobs/uploads/?digest={digest}", data=config) as response:
            assert response.status == 201, await response.text()
        body = manifest(config, n)
        async with session.put(f"/v2/{repo}/manifests/v{n}", data=body, headers={"Content-Type": OCI}) as response:
            assert response.status == 201, await response.text()

    def create_repositories(self, names: list[str]) -> None:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda name: self.ecr.create_repository(repositoryName=name), names))

    # measuring ---------------------------------------------------------------------------------
    @staticmethod
    def ms(call) -> float:
        started = time.perf_counter()
        call()
        return (time.perf_counter() - started) * 1000

    def ecr_listing(self, operation: str, size: int, **args) -> float:
        call, started, token = getattr(self.ecr, operation), time.perf_counter(), None
        while True:
            page = call(maxResults=size, **args, **({"nextToken": token} if token else {}))
            token = page.get("nextToken")
            if not token:
                return time.perf_counter() - started

    def v2_listing(self, path: str, size: int) -> float:
        started, url = time.perf_counter(), f"{self.server.url}{path}?n={size}"
        while url:
            response = self.http.get(url)
            response.raise_for_status()
            link = response.headers.get("Link")
            url = f"{self.server.url}{link.split(';')[0].strip('<>')}" if link else None
        return time.perf_counter() - started

    def listings(self, into: dict, operations: dict[str, tuple]) -> None:
        for label, (face, what, args) in operations.items():
            self.listing(into, label, face, what, args)

    def listing(self, into: dict, label: str, face: str, what: str, args: dict) -> None:
        """The first page of 100 (median of 5) and the whole listing in pages of 100 and of 1,000."""
        if face == "ecr":
            call = getattr(self.ecr, what)
            first, whole = (lambda: call(maxResults=100, **args)), (lambda n: self.ecr_listing(what, n, **args))
        else:
            url = f"{self.server.url}{what}?n=100"
            first, whole = (lambda: self.http.get(url).raise_for_status()), (lambda n: self.v2_listing(what, n))
        into[f"{label} first page (ms)"] = round(statistics.median(self.ms(first) for _ in range(5)), 1)
        for size in (100, 1000):
            into[f"{label} all, pages of {size} (s)"] = round(whole(size), 3)

    def manifest_get(self, tag: str) -> float:
        url = f"{self.server.url}/v2/{REPO}/manifests/{tag}"
        headers = {"Accept": OCI}
        samples = [self.ms(lambda: self.http.get(url, headers=headers).raise_for_status()) for _ in range(200)]
        return round(statistics.median(samples), 2)

    def one_more_push(self, first: int) -> float:
        """The median of 20 single pushes (blob, then manifest), one after another."""

        async def timed() -> list[float]:
            samples = []
            async with aiohttp.ClientSession(self.server.url, headers=self.headers) as session:
                for n in range(first, first + 20):
                    started = time.perf_counter()
                    await self.push_one(session, REPO, n)
                    samples.append((time.perf_counter() - started) * 1000)
            return samples

        return round(statistics.median(asyncio.run(timed())), 2)

    def lifecycle(self, into: dict, count: int) -> None:
        self.ecr.put_lifecycle_policy(repositoryName=REPO, lifecyclePolicyText=policy(count - EXPIRE))
        started = time.perf_counter()
        self.ecr.start_lifecycle_policy_preview(repositoryName=REPO)
        while self.ecr.get_lifecycle_policy_preview(repositoryName=REPO, maxResults=1)["status"] == "IN_PROGRESS":
            time.sleep(0.05)
        into["lifecycle preview (s)"] = round(time.perf_counter() - started, 3)
        started = time.perf_counter()
        self.server.kikoto("lifecycle", "run")
        into["lifecycle run, expiring 100 (s)"] = round(time.perf_counter() - started, 3)
        left = sum(
            len(page["imageIds"]) for page in self.ecr.get_paginator("list_images").paginate(repositoryName=REPO)
        )
        assert left == count - EXPIRE, (left, count)
        self.ecr.delete_lifecycle_policy(repositoryName=REPO)

    def gc(self, into: dict, first: int) -> None:
        async def dead_blobs() -> None:
            async with aiohttp.ClientSession(self.server.url, headers=self.headers) as session:
                for n in range(first, first + DEAD_BLOBS):
                    body = f"dead {n}".encode() * 20
                    digest = "sha256:" + hashlib.sha256(body).hexdigest()
                    async with session.post(f"/v2/junk/blobs/uploads/?digest={digest}", data=body) as response:
                        assert response.status == 201

        asyncio.run(dead_blobs())
        started = time.perf_counter()
        result = self.server.kikoto("gc", "--grace-period", "0")
        into["gc of 1,000 dead blobs, command (s)"] = round(time.perf_counter() - started, 3)
        freed = int(result.stdout.split(" blobs")[0].rsplit(" ", 1)[1])
        assert freed >= DEAD_BLOBS, result.stdout  # and the config blobs of images expired before

    def restart(self, into: dict) -> None:
        self.server.stop()
        self.server.log.write_text("")  # start() waits for a new "ready" line
        started = time.perf_counter()
        self.server.start()
        into["restart to ready (s)"] = round(time.perf_counter() - started, 3)
        self.headers = self.server.auth_headers()
        self.http.headers.update(self.headers)

    def memory(self, into: dict) -> None:
        workers = psutil.Process(self.server.process.pid).children(recursive=True) or [
            psutil.Process(self.server.process.pid)
        ]
        into["worker RSS (MiB)"] = round(max(p.memory_info().rss for p in workers) / 2**20, 1)


def images_curve(bench: Bench, sizes: list[int]) -> list[dict]:
    points, alive, number = [], 0, 0  # images in the repository; the next image's number
    bench.ecr.create_repository(repositoryName=REPO)
    for size in sizes:
        started = time.perf_counter()
        asyncio.run(bench.push(REPO, range(number, number + size - alive)))
        point = {"images": size, "build pushes/s": round((size - alive) / (time.perf_counter() - started))}
        number, alive = number + size - alive, size
        bench.listings(
            point,
            {
                "ListImages": ("ecr", "list_images", {"repositoryName": REPO}),
                "DescribeImages": ("ecr", "describe_images", {"repositoryName": REPO}),
                "tag list": ("v2", f"/v2/{REPO}/tags/list", {}),
            },
        )
        point["manifest GET by tag (ms)"] = bench.manifest_get(f"v{size // 2}")
        point["push one more image (ms)"] = bench.one_more_push(number)
        number, alive = number + 20, alive + 20
        bench.gc(point, 20_000_000 + size)
        bench.lifecycle(point, alive)
        alive -= EXPIRE
        bench.restart(point)
        bench.memory(point)
        print(json.dumps(point), flush=True)
        points.append(point)
    return points


def repositories_curve(bench: Bench, sizes: list[int]) -> list[dict]:
    points, made = [], 0
    for size in sizes:
        bench.create_repositories([f"team/app-{n:05d}" for n in range(made, size)])
        made = size
        point = {"repositories": size}
        bench.listings(
            point,
            {
                "DescribeRepositories": ("ecr", "describe_repositories", {}),
                "catalog": ("v2", "/v2/_catalog", {}),
            },
        )
        print(json.dumps(point), flush=True)
        points.append(point)
    return points


def run_backend(name: str, sizes: list[int], repo_sizes: list[int], database_url: str | None) -> dict:
    data = Path(tempfile.mkdtemp(prefix=f"kikoto-scale-{name}-")) / "data"
    server = Server(data, workers=2, database_url=database_url).start()
    try:
        bench = Bench(server)
        print(f"== {name}: images", flush=True)
        images = images_curve(bench, sizes)
        print(f"== {name}: repositories", flush=True)
        repositories = repositories_curve(bench, repo_sizes)
        return {"images": images, "repositories": repositories}
    finally:
        server.stop()


def charts(results: dict, stem: str) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    groups = {
        "listings": (
            "images",
            "images in the repository",
            lambda k: k.endswith("(s)") and " all, " in k,
            "microseconds per image listed (whole listing / images)",
        ),
        "single": (
            "images",
            "images in the repository",
            lambda k: k.endswith("(ms)"),
            "milliseconds",
        ),
        "maintenance": (
            "images",
            "images in the repository",
            lambda k: k.startswith(("lifecycle", "gc", "restart")),
            "seconds",
        ),
        "repositories": ("repositories", "repositories in the registry", lambda k: k.endswith(("(s)", "(ms)")), None),
    }
    for chart, (curve, xlabel, wanted, unit) in groups.items():
        figure, axis = plt.subplots(figsize=(8, 5))
        colours = iter(plt.get_cmap("tab20").colors * 2)
        for backend, result in results["backends"].items():
            points = result["images" if curve == "images" else "repositories"]
            if not points:
                continue
            xs = [p[curve] for p in points]
            for key in [k for k in points[0] if wanted(k)]:
                style = "-" if backend == "sqlite" else "--"
                # a whole listing grows with what it lists: per image listed, flat is the goal
                ys = [p[key] / p[curve] * 1e6 for p in points] if chart == "listings" else [p[key] for p in points]
                axis.plot(xs, ys, style, marker="o", label=f"{key} [{backend}]", color=next(colours))
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xlabel(xlabel)
        axis.set_ylabel(unit or "seconds (s) or milliseconds (ms), as labelled")
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=6, loc="upper left")
        axis.set_title(f"Kikötő at scale: {chart} (log-log; a flat line does not grow with the registry)")
        path = ROOT / "docs" / f"{stem}-{chart}.png"
        figure.tight_layout()
        figure.savefig(path, dpi=110)
        plt.close(figure)
        written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--repositories", default="100,1000,10000")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--charts-from", type=Path, help="Only draw the charts of an earlier run's JSON.")
    args = parser.parse_args()
    if args.charts_from:
        for path in charts(json.loads(args.charts_from.read_text()), "scale"):
            print(f"wrote {path}")
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    repo_sizes = [int(s) for s in args.repositories.split(",")]
    results: dict = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "backends": {},
    }
    results["backends"]["sqlite"] = run_backend("sqlite", sizes, repo_sizes, None)
    if not args.no_postgres and PostgresServer.available() is None:
        postgres = PostgresServer(durable=True).start()
        try:
            url = postgres.create_database("scale")
            results["backends"]["postgresql"] = run_backend("postgresql", sizes, repo_sizes, url)
        finally:
            postgres.stop()
    out = ROOT / "bench" / "results" / f"scale-{datetime.date.today()}.json"
    out.write_text(json.dumps(results, indent=1))
    print(f"wrote {out}")
    for path in charts(results, "scale"):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
