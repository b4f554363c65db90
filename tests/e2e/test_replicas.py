"""Two `kikoto serve` replicas on one PostgreSQL: they migrate together safely, accept each
other's login tokens, and see each other's changes at once (NOTIFY), not after a cache age."""

from __future__ import annotations

import threading
import time

import pytest
import requests
from cryptography.fernet import Fernet

from .conftest import Server
from .ecr_helpers import push

pytestmark = pytest.mark.e2e


@pytest.fixture
def replicas(postgres, tmp_path):
    url = postgres.create_database(f"replicas_{int(time.time() * 1000)}")
    env = {"KIKOTO_MASTER_KEY": Fernet.generate_key().decode()}  # replicas share the master key
    servers = [Server(tmp_path / name, workers=1, database_url=url, env=env) for name in ("a", "b")]
    threads = [threading.Thread(target=s.start) for s in servers]  # both start (and migrate) at once
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(s.process and s.process.poll() is None for s in servers)
    yield servers
    for server in servers:
        server.stop()


def manifest_digest(server: Server, password: str, reference: str) -> str:
    response = requests.get(f"{server.url}/v2/shared/manifests/{reference}", auth=("AWS", password))
    assert response.status_code == 200, response.text
    return response.headers["Docker-Content-Digest"]


def test_replicas_see_each_others_changes_at_once(replicas):
    a, b = replicas
    password = a.password()  # issued by A, accepted by B: the same master key signs both
    _, first = push(a, "shared", "latest", "one", password=password)
    assert manifest_digest(b, password, "latest") == first  # B now has latest cached
    _, second = push(a, "shared", "latest", "two", password=password)
    started = time.monotonic()
    while manifest_digest(b, password, "latest") != second:
        assert time.monotonic() - started < 0.5, "B still served the old tag: no change notification"
        time.sleep(0.02)

    b.ecr().put_image_tag_mutability(repositoryName="shared", imageTagMutability="IMMUTABLE")
    body, _ = push(a, "shared", None, "three", password=password)
    response = requests.put(f"{a.url}/v2/shared/manifests/latest", data=body, auth=("AWS", password),
                            headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    assert response.status_code == 400  # the setting made on B holds on A
    assert response.json()["errors"][0]["code"] == "TAG_INVALID"
