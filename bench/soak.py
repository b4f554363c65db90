"""The soak (`make soak`, SOAK_MINUTES, default 15): three replicas on PostgreSQL + SeaweedFS behind
HAProxy, clients pushing, pulling, tagging and deleting at once, garbage collection every 20 s
with a 10 s grace and lifecycle every 30 s on whichever replica holds the lease, a replica killed
(-9) and restarted every minute, PostgreSQL stopped twice. At the end `kikoto fsck` must report
nothing missing, nothing dangling and no orphan older than the grace, and every image a client
was told exists must pull back byte for byte. Prints a table of operations, errors and latencies;
exits 1 on any loss."""

from __future__ import annotations

import os
import random
import re
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.cluster import RetryingClient, start_cluster  # noqa: E402
from tests.pg import PostgresServer  # noqa: E402
from tests.weed import ACCESS_KEY, SECRET_KEY, SeaweedServer  # noqa: E402

OCI = "application/vnd.oci.image.manifest.v1+json"
REPOSITORIES = [f"soak/r{n}" for n in range(4)]
# Lifecycle expires only what no client counts on: untagged images (of deleted tags), all but the
# newest; their blobs then go to GC while clients push images that share layers with them (the
# race that lost Quay blobs uploaded milliseconds before a collection, quay#6318).
POLICY = (
    '{"rules":[{"rulePriority":1,"selection":{"tagStatus":"untagged","countType":"imageCountMoreThan",'
    '"countNumber":1},"action":{"type":"expire"}}]}'
)
SHARED_LAYERS = [bytes([n]) * 300_000 for n in range(8)]


class Ledger:
    """What clients were told exists (repository, tag) -> (manifest, blobs), and what it cost."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.images: dict[tuple[str, str], tuple[bytes, dict[str, bytes]]] = {}
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.errors: Counter[str] = Counter()
        self.count: Counter[str] = Counter()

    def timed(self, operation: str, started: float) -> None:
        with self.lock:
            self.count[operation] += 1
            self.latency[operation].append(time.monotonic() - started)


def client_loop(front, password: str, ledger: Ledger, stop: threading.Event, seed: int) -> RetryingClient:
    client, rng, n = RetryingClient(front, password), random.Random(seed), 0
    while not stop.is_set():
        n += 1
        repository = rng.choice(REPOSITORIES)
        roll, started = rng.random(), time.monotonic()
        try:
            with ledger.lock:  # a key and its image, read together: another client may delete it next
                known = [(key, image) for key, image in ledger.images.items() if key[0] == repository]
            if roll < 0.45 or not known:
                tag = f"c{seed}-{n}"
                image = client.push_image(
                    repository, tag, f"{seed}-{n}-{rng.random()}", shared=rng.choice(SHARED_LAYERS)
                )
                with ledger.lock:
                    ledger.images[(repository, tag)] = image
                ledger.timed("push", started)
            elif roll < 0.8:
                key, (manifest, blobs) = rng.choice(known)
                got = client.request(
                    "GET", f"{client.url}/v2/{key[0]}/manifests/{key[1]}", (200, 404), headers={"Accept": OCI}
                )
                if got.status_code == 404:
                    with ledger.lock:  # deleted by another client in between: fine only if it is gone from the ledger
                        if key in ledger.images:
                            ledger.errors["LOST (manifest 404)"] += 1
                    continue
                if got.content != manifest:
                    ledger.errors["WRONG BYTES (manifest)"] += 1
                digest, data = rng.choice(list(blobs.items()))
                blob = client.request("GET", f"{client.url}/v2/{key[0]}/blobs/{digest}", (200,))
                if blob.content != data:
                    ledger.errors["WRONG BYTES (blob)"] += 1
                ledger.timed("pull", started)
            elif roll < 0.9:
                key, (manifest, blobs) = rng.choice(known)
                tag = f"t{seed}-{n}"
                client.request(
                    "PUT",
                    f"{client.url}/v2/{key[0]}/manifests/{tag}",
                    (201,),
                    data=manifest,
                    headers={"Content-Type": OCI},
                )
                with ledger.lock:
                    ledger.images[(key[0], tag)] = (manifest, blobs)
                ledger.timed("tag", started)
            else:
                key, _ = rng.choice(known)
                with ledger.lock:  # out of the ledger first: a reader meanwhile may see it gone
                    ledger.images.pop(key, None)
                client.request("DELETE", f"{client.url}/v2/{key[0]}/manifests/{key[1]}", (202, 404))
                ledger.timed("delete tag", started)
        except AssertionError as exc:  # the client's retries ran out: what it said, without the URL
            with ledger.lock:
                ledger.errors[re.sub(r"https?://\S+|\{.*", "", str(exc).splitlines()[-1]).strip()[:60]] += 1
    return client


def main() -> int:
    minutes = float(os.environ.get("SOAK_MINUTES", "15"))
    root = Path(tempfile.mkdtemp(prefix="kikoto-soak-"))
    postgres, store = PostgresServer(durable=True).start(), SeaweedServer().start("kikoto-tests")
    os.environ.update(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY, AWS_REGION="us-east-1")
    env = {"KIKOTO_GC_INTERVAL": "20", "KIKOTO_GC_GRACE_PERIOD": "10", "KIKOTO_LIFECYCLE_INTERVAL": "30"}
    ledger, stop, clients, cluster = Ledger(), threading.Event(), [], None
    try:
        cluster = start_cluster(postgres, store, root / "cluster", env=env)
        front = cluster.front
        ecr = front.ecr()
        for repository in REPOSITORIES:
            ecr.create_repository(repositoryName=repository)
        for repository in REPOSITORIES:
            ecr.put_lifecycle_policy(repositoryName=repository, lifecyclePolicyText=POLICY)
        password = front.password()
        results: list[RetryingClient] = []
        threads = [
            threading.Thread(target=lambda s=s: results.append(client_loop(front, password, ledger, stop, s)))
            for s in range(6)
        ]
        for thread in threads:
            thread.start()
        started, kills, outages = time.monotonic(), 0, 0
        end = started + minutes * 60
        outage_at = [started + minutes * 60 / 3, started + minutes * 60 * 2 / 3]
        next_kill = started + 60
        while time.monotonic() < end:
            now = time.monotonic()
            if outage_at and now >= outage_at[0]:
                outage_at.pop(0)
                postgres.outage(3.0)
                outages += 1
            if now >= next_kill:
                victim = random.choice(cluster.replicas)
                victim.kill()
                time.sleep(5)
                victim.start()
                kills += 1
                next_kill = now + 60
            time.sleep(1)
        stop.set()
        for thread in threads:
            thread.join(300)
        clients = results
        time.sleep(15)  # the last GC's grace passes for what the last pushes left behind
        fsck = cluster.replicas[0].kikoto("fsck", check=False)
        lost = verify(front, password, ledger)
        report(ledger, clients, kills, outages, minutes, fsck.stdout + fsck.stderr, lost)
        return 1 if (fsck.returncode or lost or any(k.startswith(("LOST", "WRONG")) for k in ledger.errors)) else 0
    finally:
        stop.set()
        if cluster is not None:
            cluster.stop()
        store.stop()
        postgres.stop()


def verify(front, password: str, ledger: Ledger) -> list[str]:
    """Every image the ledger holds, pulled through the balancer, byte for byte."""
    lost, auth = [], ("AWS", password)
    for (repository, tag), (manifest, blobs) in sorted(ledger.images.items()):
        got = requests.get(
            f"{front.url}/v2/{repository}/manifests/{tag}", auth=auth, headers={"Accept": OCI}, timeout=60
        )
        if got.status_code != 200 or got.content != manifest:
            lost.append(f"{repository}:{tag} manifest {got.status_code}")
            continue
        for digest, data in blobs.items():
            blob = requests.get(f"{front.url}/v2/{repository}/blobs/{digest}", auth=auth, timeout=60)
            if blob.status_code != 200 or blob.content != data:
                lost.append(f"{repository}:{tag} blob {digest} {blob.status_code}")
    return lost


def report(ledger: Ledger, clients, kills: int, outages: int, minutes: float, fsck: str, lost: list[str]) -> None:
    print(f"\nsoak: {minutes:g} min, 3 replicas, 6 clients, {kills} replicas killed, {outages} PostgreSQL outages")
    print("| operation | done | p50 (ms) | p99 (ms) |\n|---|---:|---:|---:|")
    for operation, samples in sorted(ledger.latency.items()):
        ordered = sorted(samples)
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        print(f"| {operation} | {len(samples):,} | {statistics.median(ordered) * 1000:.0f} | {p99 * 1000:.0f} |")
    print(f"\nrequests retried by clients: {sum(c.retries for c in clients):,}")
    print("errors by kind: " + (", ".join(f"{k}: {v}" for k, v in ledger.errors.most_common()) or "none"))
    print(f"images checked at the end: {len(ledger.images):,}; lost or wrong: {len(lost)}")
    for line in lost[:20]:
        print(f"  {line}")
    print(fsck.strip().splitlines()[-1] if fsck.strip() else "fsck: no output")


if __name__ == "__main__":
    sys.exit(main())
