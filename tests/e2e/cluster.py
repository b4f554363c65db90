"""The replicated deployment as docs/deploy.md lays it out, for the tests and the soak: replicas
on one PostgreSQL and one object store behind HAProxy, and a client that retries as registry
clients do."""

from __future__ import annotations

import copy
import json
import os
import threading
import time
import uuid

import requests
from cryptography.fernet import Fernet

from ..conftest import require
from ..helpers import image_manifest, sha256
from .balancer import Balancer
from .conftest import Server


class Cluster:
    def __init__(self, balancer: Balancer, replicas: list[Server]) -> None:
        self.balancer, self.replicas = balancer, replicas
        # what clients talk to: a replica's settings, the balancer's address
        self.front = copy.copy(replicas[0])
        self.front.port, self.front.process, self.front.scheme = balancer.port, None, balancer.scheme

    def stop(self) -> None:
        self.balancer.stop()
        for replica in self.replicas:
            replica.stop()


def start_all(servers: list[Server]) -> None:
    threads = [threading.Thread(target=s.start) for s in servers]  # they migrate together
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(s.process and s.process.poll() is None for s in servers)


def start_cluster(
    postgres, object_store, root, endpoint: str | None = None, env: dict[str, str] | None = None, tls=None
) -> Cluster:
    """`tls`: a PEM (certificate and key) for the balancer, which then ends TLS for the replicas."""
    require(Balancer.available())
    root.mkdir(parents=True, exist_ok=True)
    database = postgres.create_database(f"balanced_{uuid.uuid4().hex[:12]}")
    balancer = Balancer(root / "lb", [], tls)
    settings = {
        "KIKOTO_MASTER_KEY": Fernet.generate_key().decode(),  # one key: tokens of any replica work on all
        "KIKOTO_BLOB_STORE": f"s3://kikoto-tests/{root.name}",
        "KIKOTO_S3_ENDPOINT_URL": endpoint or object_store.endpoint,
        "KIKOTO_PUBLIC_HOST": balancer.host,
        "KIKOTO_PUBLIC_SCHEME": "https" if tls else "http",
        "KIKOTO_CREATE_ON_PUSH": "false",  # as on ECR: repositories are created first
        **(env or {}),
    }
    replicas = [Server(root / name, workers=1, database_url=database, env=settings) for name in ("a", "b", "c")]
    start_all(replicas)
    balancer.backends = [r.host for r in replicas]
    return Cluster(balancer.start(), replicas)


class RetryingClient:
    """What a registry client does when a request fails mid-way: retry it, and resume a chunked
    upload from the offset the registry reports (GET on the upload: the OCI `Range`). Counts
    what it had to retry."""

    def __init__(self, front: Server, password: str) -> None:
        self.url, self.auth = front.url, ("AWS", password)
        self.session = requests.Session()
        self.retries = 0
        self.blobs = 0  # blobs pushed so far
        self.seen: list[str] = []  # what it had to retry, for the failure message

    def request(self, method: str, url: str, ok: tuple[int, ...], **kwargs) -> requests.Response:
        for attempt in range(20):
            try:
                response = self.session.request(method, url, auth=self.auth, timeout=30, **kwargs)
                if response.status_code in ok:
                    return response
                if response.status_code < 500:
                    raise AssertionError(f"{method} {url}: {response.status_code} {response.text}")
                self.seen.append(f"{method}: {response.status_code} {response.text[:200]}")
            except requests.ConnectionError:
                pass
            self.retries += 1
            time.sleep(0.1 * (attempt + 1))
        raise AssertionError(f"{method} {url} kept failing")

    def push_blob(self, repository: str, data: bytes, chunk: int) -> str:
        for _ in range(5):  # the whole blob again when the registry says the session is gone
            if self._upload(repository, data, chunk):
                self.blobs += 1
                return sha256(data)
            self.retries += 1
        raise AssertionError("the blob upload kept being lost")

    def _upload(self, repository: str, data: bytes, chunk: int) -> bool:
        location = self.request("POST", f"{self.url}/v2/{repository}/blobs/uploads/", (202,)).headers["Location"]
        offset = 0
        while offset < len(data):
            piece = data[offset : offset + chunk]
            headers = {
                "Content-Range": f"{offset}-{offset + len(piece) - 1}",
                "Content-Type": "application/octet-stream",
            }
            try:
                answer = self.session.patch(location, data=piece, headers=headers, auth=self.auth, timeout=30)
            except requests.ConnectionError:
                answer = None
            if answer is not None and answer.status_code == 202:
                location, offset = answer.headers["Location"], offset + len(piece)
                continue
            self.retries += 1  # where did it get to? ask (any replica answers for any upload)
            said = f"{answer.status_code} {answer.text[:200]}" if answer is not None else "cut off"
            self.seen.append(f"PATCH at {offset}: {said}")
            time.sleep(min(2.0, 0.1 * len(self.seen)))  # back off, as after any failure
            if len(self.seen) > 50:
                raise AssertionError("\n".join(self.seen))
            status = self.request("GET", location, (204, 404))
            if status.status_code == 404:
                return False
            end = int(status.headers.get("Range", "0-0").split("-")[1])
            offset = end + 1 if end else 0  # "0-0" is an empty upload (as Distribution says it); chunks are bigger
        return self.request("PUT", location, (201, 404), params={"digest": sha256(data)}).status_code == 201

    def push_image(
        self, repository: str, tag: str, seed: str, shared: bytes | None = None
    ) -> tuple[bytes, dict[str, bytes]]:
        """An image of two random layers (or one, and `shared`: a layer other images have too)."""
        config = json.dumps({"architecture": "amd64", "os": "linux", "seed": seed}).encode()
        layers = [os.urandom(600_000), shared or os.urandom(600_000)]
        for blob in [config, *layers]:
            self.push_blob(repository, blob, 150_000)
        body = image_manifest(config, layers)
        self.request(
            "PUT",
            f"{self.url}/v2/{repository}/manifests/{tag}",
            (201,),
            data=body,
            headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
        )
        return body, {sha256(b): b for b in [config, *layers]}
