"""Kikötő against CNCF Distribution, side by side on this machine, with the same clients.

    make bench            # or: .venv/bin/python bench/run.py [--quick]

Starts Distribution (Debian's docker-registry, no auth) and Kikötő (auth on: Basic with an
ECR-style login token, as users run it), each on loopback with filesystem storage in a fresh
temporary directory; runs every workload against both; prints a table of both results and
their ratio; writes bench/results/<date>.json and .md.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime
import hashlib
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import aiohttp
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.e2e.images import Layout  # noqa: E402  (the same OCI layout writer the e2e tests use)

ADMIN_KEY, ADMIN_SECRET = "AKIABENCHADMIN000001", "bench-admin-secret-0123456789"
MiB = 1 << 20


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not start")


class Target:
    def __init__(self, name: str, process: subprocess.Popen, url: str, headers: dict[str, str], workers: int):
        self.name, self.process, self.url, self.headers, self.workers = name, process, url, headers, workers
        self.host = url.split("//", 1)[1]
        self.peak_total = self.peak_worker = 0
        self._sampling = True
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        parent = psutil.Process(self.process.pid)
        while self._sampling:
            try:
                processes = [parent, *parent.children(recursive=True)]
                rss = [p.memory_info().rss for p in processes]
                self.peak_total = max(self.peak_total, sum(rss))
                self.peak_worker = max(self.peak_worker, max(rss))
            except psutil.Error:
                pass
            time.sleep(0.2)

    def stop(self) -> None:
        self._sampling = False
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()

    @property
    def curl_auth(self) -> list[str]:
        return [arg for k, v in self.headers.items() for arg in ("-H", f"{k}: {v}")]

    @property
    def skopeo_creds(self) -> list[str]:
        if "Authorization" not in self.headers:
            return []
        user_pass = base64.b64decode(self.headers["Authorization"].split()[1]).decode()
        return [f"--creds={user_pass}"]


def start_distribution(root: Path) -> Target:
    port = free_port()
    config = root / "distribution.yml"
    config.write_text(f"""version: 0.1
log: {{level: error, accesslog: {{disabled: true}}}}
storage:
  filesystem: {{rootdirectory: {root / "distribution"}}}
  cache: {{blobdescriptor: inmemory}}
  delete: {{enabled: true}}
http: {{addr: "127.0.0.1:{port}"}}
""")
    process = subprocess.Popen(
        ["docker-registry", "serve", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=open(root / "distribution.log", "wb"),
    )
    url = f"http://127.0.0.1:{port}"
    wait_ready(url)
    return Target("distribution", process, url, {}, 1)


def start_kikoto(root: Path, workers: int) -> Target:
    port = free_port()
    env = {
        **os.environ,
        "KIKOTO_ADMIN_ACCESS_KEY_ID": ADMIN_KEY,
        "KIKOTO_ADMIN_SECRET_ACCESS_KEY": ADMIN_SECRET,
        "KIKOTO_CREATE_ON_PUSH": "true",
        "KIKOTO_LOG_LEVEL": "warning",
        "KIKOTO_PULL_THROUGH_INSECURE_UPSTREAMS": "true",  # the bench's Distribution speaks plain http
    }
    kikoto = Path(sys.executable).parent / "kikoto"
    process = subprocess.Popen(
        [
            str(kikoto),
            "serve",
            "--listen",
            f"127.0.0.1:{port}",
            "--data-dir",
            str(root / "kikoto"),
            "--workers",
            str(workers),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(root / "kikoto.log", "wb"),
    )
    url = f"http://127.0.0.1:{port}"
    wait_ready(url)
    import boto3

    ecr = boto3.client(
        "ecr",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=ADMIN_KEY,
        aws_secret_access_key=ADMIN_SECRET,
    )
    token = ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]  # base64 of AWS:<password>
    return Target("kikoto", process, url, {"Authorization": f"Basic {token}"}, workers)


# -- workloads ------------------------------------------------------------------------------------


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(8 * MiB):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


def upload_location(target: Target, repo: str) -> str:
    import requests

    response = requests.post(f"{target.url}/v2/{repo}/blobs/uploads/", headers=target.headers)
    response.raise_for_status()
    location = response.headers["Location"]
    return location if location.startswith("http") else target.url + location


def settle() -> None:
    """Write back dirty pages before a disk-heavy measurement, so one target's writes are not
    billed to the next."""
    os.sync()
    time.sleep(1)


def large_push(target: Target, blob: Path, digest: str, repo: str = "bench/large") -> float:
    settle()
    location = upload_location(target, repo)
    separator = "&" if "?" in location else "?"
    started = time.perf_counter()
    subprocess.run(
        [
            "curl",
            "-sS",
            "-f",
            "-T",
            str(blob),
            "-H",
            "Content-Type: application/octet-stream",
            *target.curl_auth,
            f"{location}{separator}digest={digest}",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return blob.stat().st_size / MiB / (time.perf_counter() - started)


def large_pull(target: Target, size: int, digest: str, parallel: int = 8) -> float:
    settle()
    url = f"{target.url}/v2/bench/large/blobs/{digest}"
    started = time.perf_counter()
    processes = [
        subprocess.Popen(["curl", "-sS", "-f", "-L", "-o", "/dev/null", *target.curl_auth, url])
        for _ in range(parallel)
    ]
    if any(p.wait() != 0 for p in processes):
        raise RuntimeError("a download failed")
    return parallel * size / MiB / (time.perf_counter() - started)


async def small_push(target: Target, count: int, concurrency: int = 4) -> float:
    blobs = [os.urandom(16 * 1024) for _ in range(count)]
    queue = list(range(count))

    async def worker(session: aiohttp.ClientSession):
        while queue:
            blob = blobs[queue.pop()]
            async with session.post(f"{target.url}/v2/bench/small/blobs/uploads/") as response:
                assert response.status == 202, await response.text()
                location = response.headers["Location"]
            location = location if location.startswith("http") else target.url + location
            separator = "&" if "?" in location else "?"
            digest = "sha256:" + hashlib.sha256(blob).hexdigest()
            async with session.put(
                f"{location}{separator}digest={digest}", data=blob, headers={"Content-Type": "application/octet-stream"}
            ) as response:
                assert response.status == 201, await response.text()

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(headers=target.headers, connector=connector) as session:
        started = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        return count / (time.perf_counter() - started)


def push_small_image(target: Target) -> tuple[str, str]:
    """An image with a 4 KiB layer, tagged v1: what the wrk workloads fetch."""
    import requests

    layer, config = os.urandom(4096), json.dumps({"architecture": "amd64", "os": "linux"}).encode()
    for blob in (layer, config):
        digest = "sha256:" + hashlib.sha256(blob).hexdigest()
        location = upload_location(target, "bench/web")
        separator = "&" if "?" in location else "?"
        requests.put(f"{location}{separator}digest={digest}", data=blob, headers=target.headers).raise_for_status()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": "sha256:" + hashlib.sha256(config).hexdigest(),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": "sha256:" + hashlib.sha256(layer).hexdigest(),
                    "size": 4096,
                }
            ],
        }
    )
    requests.put(
        f"{target.url}/v2/bench/web/manifests/v1",
        data=manifest,
        headers={**target.headers, "Content-Type": "application/vnd.oci.image.manifest.v1+json"},
    ).raise_for_status()
    return manifest, "sha256:" + hashlib.sha256(layer).hexdigest()


def wrk(target: Target, path: str, seconds: int, accept: str | None = None) -> float:
    args = ["wrk", "-t2", "-c64", f"-d{seconds}s", "--latency"]
    for key, value in target.headers.items():
        args += ["-H", f"{key}: {value}"]
    if accept:
        args += ["-H", f"Accept: {accept}"]
    out = subprocess.run([*args, target.url + path], capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in out:
        raise RuntimeError(f"wrk saw errors against {target.name}:\n{out}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def tag_list(target: Target, manifest: str, tags: int, rounds: int = 20) -> float:
    import requests

    session = requests.Session()
    session.headers.update(target.headers)
    for i in range(tags):
        session.put(
            f"{target.url}/v2/bench/web/manifests/t{i:05d}",
            data=manifest,
            headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
        ).raise_for_status()
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        response = session.get(f"{target.url}/v2/bench/web/tags/list")
        response.raise_for_status()
        assert len(response.json()["tags"]) == tags + 1  # and v1
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def skopeo_round_trip(target: Target, layout: Layout, work: Path) -> tuple[float, float]:
    started = time.perf_counter()
    skopeo_push(target, layout, "bench/app:1")
    push = time.perf_counter() - started
    return push, skopeo_pull(target, "bench/app:1", work / f"pulled-{target.name}")


def skopeo_pull(target: Target, reference: str, out: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        [
            "skopeo",
            "copy",
            "--quiet",
            "--src-tls-verify=false",
            *[c.replace("--creds", "--src-creds") for c in target.skopeo_creds],
            f"docker://{target.host}/{reference}",
            f"oci:{out}:x",
        ],
        check=True,
    )
    return time.perf_counter() - started


def skopeo_push(target: Target, layout: Layout, reference: str) -> None:
    subprocess.run(
        [
            "skopeo",
            "copy",
            "--quiet",
            "--dest-tls-verify=false",
            *[c.replace("--creds", "--dest-creds") for c in target.skopeo_creds],
            f"oci:{layout.root}:app",
            f"docker://{target.host}/{reference}",
        ],
        check=True,
    )


def pull_through(distribution: Target, kikoto: Target, layout: Layout, work: Path) -> dict:
    """skopeo pulls of the 10-layer image: from Distribution directly, through Kikötő's cache the
    first time (fetched from Distribution) and again (cached), and from a Kikötő repository it
    was pushed to. Each the median of three, each into a fresh directory."""
    import boto3

    for n in range(3):
        skopeo_push(distribution, layout, f"bench/app{n}:1")
    skopeo_push(kikoto, layout, "bench/local:1")
    ecr = boto3.client(
        "ecr",
        endpoint_url=kikoto.url,
        region_name="us-east-1",
        aws_access_key_id=ADMIN_KEY,
        aws_secret_access_key=ADMIN_SECRET,
    )
    ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="cache", upstreamRegistryUrl=distribution.url)
    counter = iter(range(1000))

    def pull(target: Target, reference: str) -> float:
        return skopeo_pull(target, reference, work / f"ptc-{next(counter)}")

    return {
        "direct_from_upstream_s": statistics.median(pull(distribution, f"bench/app{n}:1") for n in range(3)),
        "first_through_cache_s": statistics.median(pull(kikoto, f"cache/bench/app{n}:1") for n in range(3)),
        "cached_s": statistics.median(pull(kikoto, "cache/bench/app0:1") for _ in range(3)),
        "local_s": statistics.median(pull(kikoto, "bench/local:1") for _ in range(3)),
    }


def pull_through_table(measured: dict) -> str:
    rows = [
        (
            "first pull through the cache vs directly from the upstream",
            "first_through_cache_s",
            "direct_from_upstream_s",
            "<= 1.2x",
        ),
        ("cached pull vs a pull of a pushed (local) image", "cached_s", "local_s", "~1.0x"),
    ]
    lines = [
        "| pull-through cache (skopeo, 10 layers) | Kikötő (s) | reference (s) | ratio | target |",
        "|---|---:|---:|---:|---|",
    ]
    lines += [
        f"| {label} | {measured[ours]:.2f} | {measured[ref]:.2f} | {measured[ours] / measured[ref]:.2f}x | {target} |"
        for label, ours, ref, target in rows
    ]
    return "\n".join(lines)


# -- the run ----------------------------------------------------------------------------------------


def measure(target: Target, work: Path, blob: Path, digest: str, layout: Layout, quick: bool) -> dict:
    results = {}
    rounds = 1 if quick else 3  # disk-bound: the median of three
    results["large_push_mib_s"] = statistics.median(
        large_push(target, blob, digest, "bench/large" if i == 0 else f"bench/large{i}") for i in range(rounds)
    )
    results["large_pull_mib_s"] = statistics.median(
        large_pull(target, blob.stat().st_size, digest) for _ in range(rounds)
    )
    settle()
    results["small_push_ops_s"] = asyncio.run(small_push(target, 500 if quick else 3000))
    settle()
    manifest, layer = push_small_image(target)
    seconds = 5 if quick else 10
    results["manifest_get_req_s"] = wrk(
        target, "/v2/bench/web/manifests/v1", seconds, "application/vnd.oci.image.manifest.v1+json"
    )
    results["blob_4k_get_req_s"] = wrk(target, f"/v2/bench/web/blobs/{layer}", seconds)
    results["tag_list_2000_ms"] = tag_list(target, manifest, 200 if quick else 2000)
    results["skopeo_push_s"], results["skopeo_pull_s"] = skopeo_round_trip(target, layout, work)
    results["peak_rss_total_mib"] = target.peak_total / MiB
    results["peak_rss_per_worker_mib"] = target.peak_worker / MiB
    return results


def disk_durable_write(root: Path, size: int = 512 * MiB) -> float:
    """The disk's durable write rate (MiB/s): what a push that fsyncs can reach at best (the
    median of three, each after the page cache's write-back has settled: this disk varies)."""
    rates = []
    for _ in range(3):
        settle()
        rates.append(_durable_write_once(root, size))
    return statistics.median(rates)


def _durable_write_once(root: Path, size: int) -> float:
    path, chunk = root / "disk-probe.bin", os.urandom(8 * MiB)
    started = time.perf_counter()
    with open(path, "wb") as fh:
        for _ in range(size // len(chunk)):
            fh.write(chunk)
        fh.flush()
        os.fsync(fh.fileno())
    elapsed = time.perf_counter() - started
    path.unlink()
    return size / MiB / elapsed


def bare_handler_ceiling(workers: int, seconds: int) -> float:
    """Requests/s of a bare aiohttp + uvloop handler with the same workers and the same wrk."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "ceiling.py"), str(port), str(workers)], start_new_session=True
    )
    try:
        wait_ready(f"http://127.0.0.1:{port}")
        target = Target("ceiling", process, f"http://127.0.0.1:{port}", {}, workers)
        rate = wrk(target, "/v2/anything", seconds)
        target._sampling = False
        return rate
    finally:
        os.killpg(process.pid, 15)
        process.wait(10)


def limits_table(kikoto: dict, limits: dict) -> str:
    """Kikötő's rates as a share of what this machine allows at all."""
    disk, bare = limits["disk_durable_write_mib_s"], limits["bare_aiohttp_req_s"]
    rows = [
        ("disk's durable write (512 MiB + fsync, MiB/s) vs large push", disk, kikoto["large_push_mib_s"]),
        ("bare aiohttp + uvloop handler (req/s) vs manifest GET", bare, kikoto["manifest_get_req_s"]),
        ("bare aiohttp + uvloop handler (req/s) vs 4 KiB blob GET", bare, kikoto["blob_4k_get_req_s"]),
    ]
    lines = ["| against the machine's own limits | limit | Kikötő | share |", "|---|---:|---:|---:|"]
    lines += [f"| {label} | {limit:,.0f} | {ours:,.0f} | {ours / limit:.0%} |" for label, limit, ours in rows]
    return "\n".join(lines)


ROWS = [  # key, label, higher is better
    ("large_push_mib_s", "large blob push, 512 MiB monolithic (MiB/s)", True),
    ("large_pull_mib_s", "large blob pull, 8 parallel (aggregate MiB/s)", True),
    ("small_push_ops_s", "small blob push, 16 KiB POST+PUT, 4 connections (ops/s)", True),
    ("manifest_get_req_s", "manifest GET by tag, 64 connections (req/s)", True),
    ("blob_4k_get_req_s", "4 KiB blob GET, 64 connections (req/s)", True),
    ("tag_list_2000_ms", "tag list of 2,000 tags (ms, median)", False),
    ("skopeo_push_s", "skopeo copy 10-layer image, push (s)", False),
    ("skopeo_pull_s", "skopeo copy 10-layer image, pull (s)", False),
    ("peak_rss_total_mib", "peak RSS, all processes (MiB)", False),
    ("peak_rss_per_worker_mib", "peak RSS, largest process (MiB)", False),
]


def table(results: dict) -> str:
    lines = ["| workload | Kikötő | Distribution | Kikötő advantage |", "|---|---:|---:|---:|"]
    for key, label, higher in ROWS:
        k, d = results["kikoto"][key], results["distribution"][key]
        ratio = (k / d) if higher else (d / k)
        lines.append(f"| {label} | {k:,.1f} | {d:,.1f} | {ratio:.2f}x |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, shorter runs (a smoke test)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="Kikötő worker processes")
    args = parser.parse_args()
    for tool in ("docker-registry", "wrk", "curl", "skopeo"):
        if not shutil.which(tool):
            sys.exit(f"bench: {tool} is missing (make bench installs it)")
    work = Path(tempfile.mkdtemp(prefix="kikoto-bench-"))
    try:
        blob = work / "large.bin"
        size = (64 if args.quick else 512) * MiB
        with open(blob, "wb") as fh:
            for _ in range(size // (8 * MiB)):
                fh.write(os.urandom(8 * MiB))
        digest = sha256_file(blob)
        layout = Layout(work / "layout")
        layout.tag(layout.image("bench", layers=10, layer_bytes=(1 if args.quick else 5) * MiB), "app")
        results = {}
        for start in (start_distribution, lambda root: start_kikoto(root, args.workers)):
            target = start(work)
            try:
                results[target.name] = measure(target, work, blob, digest, layout, args.quick)
            finally:
                target.stop()
            shutil.rmtree(work / target.name, ignore_errors=True)
        distribution, kikoto = start_distribution(work), start_kikoto(work, args.workers)
        try:
            results["pull_through"] = pull_through(distribution, kikoto, layout, work)
        finally:
            distribution.stop()
            kikoto.stop()
        report = {
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "machine": {
                "cpus": os.cpu_count(),
                "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
                "platform": platform.platform(),
                "python": platform.python_version(),
            },
            "kikoto_workers": args.workers,
            "quick": args.quick,
            "results": results,
        }
        settle()
        limits = {
            "disk_durable_write_mib_s": disk_durable_write(work, (64 if args.quick else 512) * MiB),
            "bare_aiohttp_req_s": bare_handler_ceiling(args.workers, 5 if args.quick else 10),
        }
        report["limits"] = limits
        markdown = (
            table(results)
            + "\n\n"
            + limits_table(results["kikoto"], limits)
            + "\n\n"
            + pull_through_table(results["pull_through"])
        )
        print(markdown)
        stamp = datetime.date.today().isoformat() + ("-quick" if args.quick else "")
        (ROOT / "bench" / "results" / f"{stamp}.json").write_text(json.dumps(report, indent=2))
        (ROOT / "bench" / "results" / f"{stamp}.md").write_text(
            f"{report['date']} — {report['machine']}\n\n{markdown}\n"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
