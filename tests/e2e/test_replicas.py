"""Two `kikoto serve` replicas on one PostgreSQL: they migrate together safely, accept each
other's login tokens, and see each other's changes at once (NOTIFY), not after a cache age."""

from __future__ import annotations

import json
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


@pytest.fixture
def s3_replicas(postgres, s3_url, tmp_path):
    url = postgres.create_database(f"s3replicas_{int(time.time() * 1000)}")
    bucket, endpoint = s3_url
    env = {"KIKOTO_MASTER_KEY": Fernet.generate_key().decode(), "KIKOTO_BLOB_STORE": f"{bucket}/{tmp_path.name}",
           "KIKOTO_S3_ENDPOINT_URL": endpoint}
    servers = [Server(tmp_path / name, workers=1, database_url=url, env=env).start() for name in ("a", "b")]
    yield servers
    for server in servers:
        server.stop()


def test_push_through_one_replica_pull_through_the_other_on_s3(s3_replicas, skopeo, tmp_path):
    from .images import Layout

    a, b = s3_replicas
    creds = a.creds
    source = Layout(tmp_path / "src")
    image = source.image("s3-app", layers=3, layer_bytes=300_000)
    source.tag(image, "v1")
    skopeo("copy", "--dest-tls-verify=false", "--dest-creds", creds, f"oci:{source.root}:v1",
           f"docker://{a.host}/team/s3-app:v1")
    out = tmp_path / "out"
    skopeo("copy", "--src-tls-verify=false", "--src-creds", creds, f"docker://{b.host}/team/s3-app:v1", f"oci:{out}:v1")
    manifest = json.loads(source.read(image["digest"]))
    for descriptor in [manifest["config"], *manifest["layers"]]:
        assert (out / "blobs" / "sha256" / descriptor["digest"][7:]).read_bytes() == source.read(descriptor["digest"])
    layer = manifest["layers"][0]["digest"]
    redirect = requests.get(f"{b.url}/v2/team/s3-app/blobs/{layer}", auth=("AWS", a.password()), allow_redirects=False)
    assert redirect.status_code == 307  # as ECR does: the bytes come from the object store
    assert requests.get(f"{b.url}/readyz").json()["status"] == "ready"


def test_a_chunked_upload_alternating_between_replicas(s3_replicas):
    import hashlib
    import os

    a, b = s3_replicas
    auth = ("AWS", a.password())
    data = os.urandom(3 * 1024 * 1024 + 123)
    chunks = [data[i:i + 1024 * 1024] for i in range(0, len(data), 1024 * 1024)]
    location = requests.post(f"{a.url}/v2/alternating/blobs/uploads/", auth=auth).headers["Location"]
    offset = 0
    for n, chunk in enumerate(chunks):
        replica = (a, b)[n % 2]  # every PATCH lands on the other replica than the one before
        response = requests.patch(f"{replica.url}{location}", data=chunk, auth=auth,
                                  headers={"Content-Range": f"{offset}-{offset + len(chunk) - 1}"})
        assert response.status_code == 202, response.text
        offset += len(chunk)
    status = requests.get(f"{b.url}{location}", auth=auth)
    assert status.headers["Range"] == f"0-{len(data) - 1}"
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    done = requests.put(f"{a.url}{location}?digest={digest}", auth=auth)
    assert done.status_code == 201, done.text
    assert requests.get(f"{b.url}/v2/alternating/blobs/{digest}", auth=auth).content == data
