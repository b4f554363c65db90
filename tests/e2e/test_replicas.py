"""Two `kikoto serve` replicas on one PostgreSQL: they migrate together safely, accept each
other's login tokens, and see each other's changes at once (NOTIFY), not after a cache age."""

from __future__ import annotations

import json
import threading
import time
import uuid

import pytest
import requests
from cryptography.fernet import Fernet

from .conftest import Server
from .ecr_helpers import push

pytestmark = pytest.mark.e2e


@pytest.fixture
def replicas(postgres, tmp_path):
    url = postgres.create_database(f"replicas_{uuid.uuid4().hex[:12]}")
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
    response = requests.put(
        f"{a.url}/v2/shared/manifests/latest",
        data=body,
        auth=("AWS", password),
        headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
    )
    assert response.status_code == 400  # the setting made on B holds on A
    assert response.json()["errors"][0]["code"] == "TAG_INVALID"


@pytest.fixture
def s3_replicas(postgres, s3_url, tmp_path):
    url = postgres.create_database(f"s3replicas_{uuid.uuid4().hex[:12]}")
    bucket, endpoint = s3_url
    env = {
        "KIKOTO_MASTER_KEY": Fernet.generate_key().decode(),
        "KIKOTO_BLOB_STORE": f"{bucket}/{tmp_path.name}",
        "KIKOTO_S3_ENDPOINT_URL": endpoint,
    }
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
    skopeo(
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        creds,
        f"oci:{source.root}:v1",
        f"docker://{a.host}/team/s3-app:v1",
    )
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
    chunks = [data[i : i + 1024 * 1024] for i in range(0, len(data), 1024 * 1024)]
    location = requests.post(f"{a.url}/v2/alternating/blobs/uploads/", auth=auth).headers["Location"]
    offset = 0
    for n, chunk in enumerate(chunks):
        replica = (a, b)[n % 2]  # every PATCH lands on the other replica than the one before
        response = requests.patch(
            f"{replica.url}{location}",
            data=chunk,
            auth=auth,
            headers={"Content-Range": f"{offset}-{offset + len(chunk) - 1}"},
        )
        assert response.status_code == 202, response.text
        offset += len(chunk)
    status = requests.get(f"{b.url}{location}", auth=auth)
    assert status.headers["Range"] == f"0-{len(data) - 1}"
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    done = requests.put(f"{a.url}{location}?digest={digest}", auth=auth)
    assert done.status_code == 201, done.text
    assert requests.get(f"{b.url}/v2/alternating/blobs/{digest}", auth=auth).content == data


def test_a_replica_killed_mid_push_the_client_retries_on_the_other(s3_replicas, skopeo, tmp_path):
    import hashlib
    import os
    import signal

    a, b = s3_replicas
    auth = ("AWS", a.password())
    data = os.urandom(4 * 1024 * 1024)
    location = requests.post(f"{a.url}/v2/crashing/blobs/uploads/", auth=auth).headers["Location"]
    first = data[: 1024 * 1024]
    assert (
        requests.patch(
            f"{a.url}{location}", data=first, auth=auth, headers={"Content-Range": f"0-{len(first) - 1}"}
        ).status_code
        == 202
    )
    a.kill(signal.SIGKILL)  # replica A dies; the client carries on with B
    status = requests.get(f"{b.url}{location}", auth=auth)
    offset = int(status.headers["Range"].split("-")[1]) + 1
    assert offset == len(first)
    rest = data[offset:]
    assert (
        requests.patch(
            f"{b.url}{location}", data=rest, auth=auth, headers={"Content-Range": f"{offset}-{len(data) - 1}"}
        ).status_code
        == 202
    )
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    assert requests.put(f"{b.url}{location}?digest={digest}", auth=auth).status_code == 201
    assert requests.get(f"{b.url}/v2/crashing/blobs/{digest}", auth=auth).content == data


def test_lifecycle_and_gc_on_one_replica_while_pushes_go_to_the_other(s3_replicas):
    import subprocess
    import threading as _threading

    from .conftest import VENV_BIN

    a, b = s3_replicas
    password = a.password()
    ecr = a.ecr()
    ecr.create_repository(repositoryName="busy")
    policy = json.dumps(
        {
            "rules": [
                {
                    "rulePriority": 1,
                    "description": "keep 5",
                    "selection": {
                        "tagStatus": "tagged",
                        "tagPrefixList": ["old-"],
                        "countType": "imageCountMoreThan",
                        "countNumber": 5,
                    },
                    "action": {"type": "expire"},
                }
            ]
        }
    )
    ecr.put_lifecycle_policy(repositoryName="busy", lifecyclePolicyText=policy)
    for n in range(12):
        push(b, "busy", f"old-{n}", f"old{n}", password=password)
    pushed: dict[str, bytes] = {}
    failures: list[str] = []

    def pusher():
        try:
            for n in range(30):
                body, _ = push(b, "busy", f"new-{n}", f"new{n}", password=password)
                pushed[f"new-{n}"] = body
        except Exception as exc:  # noqa: BLE001 - reported below
            failures.append(repr(exc))

    time.sleep(1.5)  # the old images' blobs are now older than the grace period used below
    thread = _threading.Thread(target=pusher)
    thread.start()
    env = {**a.process_env, "KIKOTO_DATABASE_URL": a.database_url}
    for _ in range(3):  # lifecycle and GC through replica A's storage while B takes pushes
        # a one-second grace: in-flight pushes (milliseconds between blob and manifest) are safe
        for args in (["lifecycle", "run", "--yes"], ["gc", "--grace-period", "1"]):
            subprocess.run(
                [str(VENV_BIN / "kikoto"), *args, "--data-dir", str(a.data_dir)],
                env=env,
                check=True,
                capture_output=True,
                timeout=120,
            )
    thread.join()
    assert not failures, failures
    freed = subprocess.run(
        [str(VENV_BIN / "kikoto"), "lifecycle", "log", "--data-dir", str(a.data_dir)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "EXPIRE" in freed and "GC" in freed
    tags = requests.get(f"{a.url}/v2/busy/tags/list", auth=("AWS", password)).json()["tags"]
    assert sorted(t for t in tags if t.startswith("old-")) == sorted(f"old-{n}" for n in range(7, 12))
    for tag, body in pushed.items():
        manifest = json.loads(body)
        assert requests.get(f"{a.url}/v2/busy/manifests/{tag}", auth=("AWS", password)).content == body
        for descriptor in [manifest["config"], *manifest["layers"]]:
            blob = requests.get(f"{a.url}/v2/busy/blobs/{descriptor['digest']}", auth=("AWS", password))
            assert blob.status_code == 200, (tag, descriptor)


def test_a_big_layer_through_s3_with_bounded_memory(s3_replicas):
    """Streams a layer through a replica into S3 and back (a 307 to the object store)."""
    import hashlib
    import os

    import psutil

    from .test_robustness import BIG_LAYER_MIB

    a, _ = s3_replicas
    process = psutil.Process(a.process.pid)
    baseline, peak, chunk = process.memory_info().rss, [0], os.urandom(1 << 20)
    digest = hashlib.sha256()
    for _ in range(BIG_LAYER_MIB):
        digest.update(chunk)
    wanted = "sha256:" + digest.hexdigest()

    def body():
        for _ in range(BIG_LAYER_MIB):
            peak[0] = max(peak[0], process.memory_info().rss)
            yield chunk

    auth = ("AWS", a.password())
    response = requests.post(f"{a.url}/v2/big/blobs/uploads/?digest={wanted}", data=body(), auth=auth)  # chunked
    assert response.status_code == 201, response.text
    peak[0] = max(peak[0], process.memory_info().rss)
    pulled = hashlib.sha256()
    with requests.get(f"{a.url}/v2/big/blobs/{wanted}", auth=auth, stream=True) as download:
        for piece in download.iter_content(1 << 20):
            pulled.update(piece)
    assert "sha256:" + pulled.hexdigest() == wanted
    growth = (peak[0] - baseline) / (1 << 20)
    print(f"\n{BIG_LAYER_MIB} MiB through S3: server RSS growth {growth:.1f} MiB")
    assert growth < 64


def test_s3_downloads_proxied_when_configured(postgres, s3_url, tmp_path):
    bucket, endpoint = s3_url
    server = Server(
        tmp_path / "p",
        workers=1,
        database_url=postgres.create_database(f"proxy_{uuid.uuid4().hex[:12]}"),
        env={
            "KIKOTO_BLOB_STORE": f"{bucket}/{tmp_path.name}",
            "KIKOTO_S3_ENDPOINT_URL": endpoint,
            "KIKOTO_S3_PROXY_DOWNLOADS": "true",
        },
    ).start()
    try:
        body, _ = push(server, "proxied", "v1", "p")
        layer = json.loads(body)["layers"][0]
        auth = ("AWS", server.password())
        response = requests.get(f"{server.url}/v2/proxied/blobs/{layer['digest']}", auth=auth, allow_redirects=False)
        assert response.status_code == 200
        assert len(response.content) == layer["size"]
        assert response.headers["Docker-Content-Digest"] == layer["digest"]
    finally:
        server.stop()
