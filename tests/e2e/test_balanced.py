"""The replicated deployment as docs/deploy.md lays it out: three `kikoto serve` replicas on one
PostgreSQL and one SeaweedFS bucket, behind HAProxy health-checking /readyz; every real client
goes through the balancer."""

from __future__ import annotations

import json
import threading
import time

import pytest
import requests

from ..certificates import self_signed
from ..conftest import require
from ..helpers import image_manifest, sha256
from ..pg import PostgresServer
from .cluster import Cluster, RetryingClient, start_cluster
from .faults import FaultProxy
from .images import Layout

pytestmark = pytest.mark.e2e
OCI = "application/vnd.oci.image.manifest.v1+json"


@pytest.fixture
def cluster(postgres, object_store, tmp_path):
    instance = start_cluster(postgres, object_store, tmp_path)
    yield instance
    instance.stop()


@pytest.fixture
def own_postgres():
    """A PostgreSQL of the test's own, for the tests that take it down."""
    require(PostgresServer.available())
    server = PostgresServer().start()
    yield server
    server.stop()


def served_by(cluster: Cluster) -> list[int]:
    """How many requests the balancer has sent each replica so far."""
    return cluster.balancer.requests_per_replica()


def test_every_client_through_the_balancer(cluster, skopeo, podman, containerd, tmp_path):
    front = cluster.front
    created = json.loads(front.aws("ecr", "create-repository", "--repository-name", "team/app"))
    assert created["repository"]["repositoryUri"] == f"{front.host}/team/app"
    password = front.aws("ecr", "get-login-password").strip()
    creds = f"AWS:{password}"

    source = Layout(tmp_path / "src")
    image = source.image("app", layers=4)
    source.tag(image, "1.0.0")
    skopeo(
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        creds,
        f"oci:{source.root}:1.0.0",
        f"docker://{front.host}/team/app:1.0.0",
    )
    raw = skopeo("inspect", "--raw", "--tls-verify=false", "--creds", creds, f"docker://{front.host}/team/app:1.0.0")
    assert raw.stdout.encode() == source.read(image["digest"])

    login = podman("login", "--tls-verify=false", "--username", "AWS", "--password-stdin", front.host, stdin=password)
    assert "Login Succeeded" in login.stdout
    podman("pull", "--tls-verify=false", f"{front.host}/team/app:1.0.0")
    podman("tag", f"{front.host}/team/app:1.0.0", f"{front.host}/team/app:1.0.1")
    podman("push", "--tls-verify=false", f"{front.host}/team/app:1.0.1")

    containerd("images", "pull", "--plain-http", "--user", creds, f"{front.host}/team/app:1.0.1")
    listed = containerd("images", "ls", "-q").stdout.split()
    assert f"{front.host}/team/app:1.0.1" in listed

    out = tmp_path / "back"
    skopeo(
        "copy", "--src-tls-verify=false", "--src-creds", creds, f"docker://{front.host}/team/app:1.0.0", f"oci:{out}:x"
    )
    manifest = json.loads(source.read(image["digest"]))
    for descriptor in [manifest["config"], *manifest["layers"]]:
        blob = (out / "blobs" / "sha256" / descriptor["digest"].split(":")[1]).read_bytes()
        assert blob == source.read(descriptor["digest"])

    tags = json.loads(front.aws("ecr", "list-images", "--repository-name", "team/app"))["imageIds"]
    assert {i.get("imageTag") for i in tags} == {"1.0.0", "1.0.1"}
    assert all(count > 0 for count in served_by(cluster)), "the balancer spread the clients over every replica"


def test_the_balancer_takes_a_stopped_replica_out_and_back(cluster):
    front = cluster.front
    front.ecr().create_repository(repositoryName="app")
    password = front.password()
    down = cluster.replicas[1]
    down.kill()
    # /readyz stops answering: after the health checks fail (2 × 500 ms) no request reaches it
    time.sleep(1.5)
    for _ in range(12):
        assert requests.get(f"{front.url}/v2/", auth=("AWS", password), timeout=10).status_code == 200
    down.start()
    time.sleep(1.5)
    before = served_by(cluster)[1]
    for _ in range(12):
        assert requests.get(f"{front.url}/v2/app/tags/list", auth=("AWS", password), timeout=10).status_code == 200
    assert served_by(cluster)[1] > before, "the restarted replica is back in rotation"


def test_a_replica_killed_in_the_middle_of_twenty_pushes_loses_nothing_acknowledged(cluster):
    front = cluster.front
    front.ecr().create_repository(repositoryName="busy")
    password = front.password()
    pushed: dict[str, tuple[bytes, dict[str, bytes]]] = {}
    clients = [RetryingClient(front, password) for _ in range(20)]
    errors: list[BaseException] = []

    def push(n: int) -> None:
        try:
            pushed[f"v{n}"] = clients[n].push_image("busy", f"v{n}", f"seed-{n}")
        except BaseException as exc:  # reported below, with the others
            errors.append(exc)

    threads = [threading.Thread(target=push, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 60  # mid-way: some blobs are in, most pushes are under way
    while sum(c.blobs for c in clients) < 10 and time.monotonic() < deadline:
        time.sleep(0.02)
    cluster.replicas[1].kill()  # SIGKILL: no goodbye
    for thread in threads:
        thread.join(120)
    stuck = [f"v{n}: {clients[n].seen[-5:]}" for n, t in enumerate(threads) if t.is_alive()]
    assert errors == [] and stuck == []
    assert sorted(pushed) == sorted(f"v{n}" for n in range(20)), sorted(pushed)
    retried = sum(c.retries for c in clients)
    assert retried > 0, "the kill landed after every push had finished: nothing was tested"
    reader = RetryingClient(front, password)
    for tag, (manifest, blobs) in pushed.items():  # every acknowledged push reads back byte for byte
        assert reader.request("GET", f"{front.url}/v2/busy/manifests/{tag}", (200,)).content == manifest
        for digest, data in blobs.items():
            assert reader.request("GET", f"{front.url}/v2/busy/blobs/{digest}", (200,)).content == data
    print(f"twenty pushes through a replica killed mid-way: {retried} requests retried, none lost")


def test_postgresql_restarted_under_steady_pushes_and_pulls(own_postgres, object_store, tmp_path):
    """During the outage every answer is a success or a 503 with Retry-After in the protocol's
    own error format; the replicas reconnect by themselves; nothing acknowledged is lost."""
    cluster = start_cluster(own_postgres, object_store, tmp_path)
    try:
        front = cluster.front
        ecr = front.ecr()
        ecr.create_repository(repositoryName="steady")
        password = front.password()
        auth = ("AWS", password)
        acknowledged: dict[str, bytes] = {}
        answers: list[tuple[float, str, int, dict, str]] = []  # (when, what, status, headers, body)
        stop = threading.Event()

        def traffic(worker: int) -> None:
            session, n = requests.Session(), 0
            while not stop.is_set():
                n += 1
                config = json.dumps({"architecture": "amd64", "os": "linux", "w": worker, "n": n}).encode()
                body = image_manifest(config, [])
                steps = [
                    ("push blob", "POST", f"/v2/steady/blobs/uploads/?digest={sha256(config)}", config, {}),
                    ("push manifest", "PUT", f"/v2/steady/manifests/w{worker}-{n}", body, {"Content-Type": OCI}),
                    ("pull manifest", "GET", f"/v2/steady/manifests/w{worker}-{n}", None, {"Accept": OCI}),
                ]
                for what, method, path, data, headers in steps:
                    try:
                        r = session.request(method, front.url + path, data=data, headers=headers, auth=auth, timeout=30)
                    except requests.ConnectionError as exc:
                        answers.append((time.monotonic(), what, 0, {}, str(exc)))
                        break
                    answers.append((time.monotonic(), what, r.status_code, r.headers, r.text))
                    if r.status_code >= 300:
                        break
                    if what == "push manifest":
                        acknowledged[f"w{worker}-{n}"] = body
                time.sleep(0.02)

        def api() -> None:  # the ECR API beside /v2
            while not stop.is_set():
                try:
                    ecr.describe_repositories(repositoryNames=["steady"])
                    answers.append((time.monotonic(), "ecr", 200, {}, ""))
                except Exception as exc:  # botocore gave up after its retries: record what it saw
                    error = getattr(exc, "response", {}) or {}
                    status = error.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
                    answers.append((time.monotonic(), "ecr", status, {}, json.dumps(error.get("Error", {}))))
                time.sleep(0.05)

        workers = [threading.Thread(target=traffic, args=(w,)) for w in range(4)] + [threading.Thread(target=api)]
        for worker in workers:
            worker.start()
        time.sleep(2)
        down_at = time.monotonic()
        own_postgres.outage(3.0)
        back_at = time.monotonic()
        time.sleep(6)
        stop.set()
        for worker in workers:
            worker.join(60)

        during = [a for a in answers if down_at <= a[0] <= back_at]
        refused = [a for a in during if a[2] == 503]
        assert refused, "no request met the outage"
        for _when, what, status, headers, body in answers:
            assert status != 500 and status != 0, (what, status, body)  # never a traceback, never a dropped line
            if status == 503 and what != "ecr":
                assert "Retry-After" in headers, (what, headers, body)
                assert int(headers["Retry-After"]) >= 1 and json.loads(body)["errors"][0]["code"] == "UNAVAILABLE"
        recovered = [a for a in answers if a[0] > back_at and a[2] in (200, 201)]
        assert recovered and min(a[0] for a in recovered) - back_at < 5.0, "replicas reconnect within 5 s"
        late = [a for a in answers if a[0] > back_at + 5.0]
        assert late and all(a[2] in (200, 201) for a in late), [a[1:3] for a in late if a[2] not in (200, 201)]
        for tag, body in acknowledged.items():  # every acknowledged push is there, byte for byte
            r = requests.get(f"{front.url}/v2/steady/manifests/{tag}", auth=auth, headers={"Accept": OCI}, timeout=30)
            assert r.status_code == 200 and r.content == body, tag
        print(
            f"PostgreSQL down {back_at - down_at:.1f} s: {len(answers)} requests, {len(refused)} answered 503 "
            f"during the outage, first success {min(a[0] for a in recovered) - back_at:.2f} s after its return, "
            f"{len(acknowledged)} pushes acknowledged, all read back"
        )
    finally:
        cluster.stop()


def test_the_object_store_stopped_then_throttling(postgres, object_store, tmp_path):
    """Pushes fail cleanly (503 with Retry-After, nothing half-written visible), what lives in the
    database keeps serving, and everything works again when the store comes back."""
    proxy = FaultProxy(int(object_store.endpoint.rsplit(":", 1)[1]))
    cluster = start_cluster(postgres, object_store, tmp_path, endpoint=proxy.endpoint)
    try:
        front = cluster.front
        front.ecr().create_repository(repositoryName="app")
        password = front.password()
        auth = ("AWS", password)
        client = RetryingClient(front, password)
        manifest, blobs = client.push_image("app", "before", "before")

        def push_attempt(seed: str) -> list[requests.Response]:
            config = json.dumps({"seed": seed}).encode()
            answers = [
                requests.post(
                    f"{front.url}/v2/app/blobs/uploads/?digest={sha256(config)}", data=config, auth=auth, timeout=60
                )
            ]
            body = image_manifest(config, [])
            answers.append(
                requests.put(
                    f"{front.url}/v2/app/manifests/{seed}",
                    data=body,
                    auth=auth,
                    timeout=60,
                    headers={"Content-Type": OCI},
                )
            )
            return answers

        for mode in ("stopped", "slowdown"):
            if mode == "stopped":
                proxy.stop()
            else:
                proxy.start()
                proxy.mode = "slowdown"
            time.sleep(1.5)  # the health checks see it (and keep the replicas: degraded, not down)
            started = time.monotonic()
            blob, put = push_attempt(mode)
            assert blob.status_code == 503 and int(blob.headers["Retry-After"]) >= 1, (mode, blob.text)
            assert blob.json()["errors"][0]["code"] == "UNAVAILABLE"
            assert time.monotonic() - started < 30, "bounded retries inside the registry"
            assert put.json()["errors"][0]["code"] in ("UNAVAILABLE", "MANIFEST_BLOB_UNKNOWN"), put.text
            ready = requests.get(f"{cluster.replicas[0].url}/readyz", timeout=30).json()
            assert ready == {"status": "degraded", "blob_store": "unavailable"}
            # what the database holds keeps serving: manifests, tags, the API, logins
            got = requests.get(f"{front.url}/v2/app/manifests/before", auth=auth, headers={"Accept": OCI}, timeout=30)
            assert got.status_code == 200 and got.content == manifest
            assert requests.get(f"{front.url}/v2/app/tags/list", auth=auth, timeout=30).json()["tags"] == ["before"]
            assert front.ecr().describe_images(repositoryName="app")["imageDetails"]
            assert requests.get(f"{front.url}/v2/app/manifests/{mode}", auth=auth, timeout=30).status_code == 404

        proxy.mode = "slow"  # back, but slow: everything works, only later
        proxy.delay = 0.3
        after, after_blobs = client.push_image("app", "after", "after")
        proxy.mode = "pass"
        for tag, (body, stored) in {"before": (manifest, blobs), "after": (after, after_blobs)}.items():
            assert (
                requests.get(
                    f"{front.url}/v2/app/manifests/{tag}", auth=auth, headers={"Accept": OCI}, timeout=30
                ).content
                == body
            )
            for digest, data in stored.items():
                assert requests.get(f"{front.url}/v2/app/blobs/{digest}", auth=auth, timeout=30).content == data
    finally:
        cluster.stop()
        proxy.stop()


def test_tls_ends_at_the_balancer(postgres, object_store, skopeo, tmp_path):
    """deploy.md's TLS layout: HAProxy ends TLS (`bind ... ssl crt`), the replicas serve plain
    HTTP with public_scheme = https. Clients verify the certificate; every URL they are given
    (Location, repositoryUri's host, the token realm) sends them back through TLS."""
    tls = self_signed(tmp_path / "tls")
    ca, certs = str(tls.cert), tls.cert_dir
    cluster = start_cluster(postgres, object_store, tmp_path / "cluster", tls=tls.pem)
    try:
        front = cluster.front
        assert front.url.startswith("https://")
        created = json.loads(front.aws("ecr", "create-repository", "--repository-name", "app", "--ca-bundle", ca))
        assert created["repository"]["repositoryUri"] == f"{front.host}/app"
        password = front.aws("ecr", "get-login-password", "--ca-bundle", ca).strip()
        creds = f"AWS:{password}"
        started = requests.post(f"{front.url}/v2/app/blobs/uploads/", auth=("AWS", password), verify=ca, timeout=10)
        assert started.status_code == 202 and started.headers["Location"].startswith(f"https://{front.host}/")
        challenge = requests.get(f"{front.url}/v2/", verify=ca, timeout=10).headers["WWW-Authenticate"]
        assert f'realm="https://{front.host}' in challenge

        source = Layout(tmp_path / "src")
        image = source.image("tls", layers=3)
        source.tag(image, "1.0.0")
        skopeo(
            "copy",
            "--dest-cert-dir",
            certs,
            "--dest-creds",
            creds,
            f"oci:{source.root}:1.0.0",
            f"docker://{front.host}/app:1.0.0",
        )
        out = tmp_path / "back"
        pulled = f"docker://{front.host}/app:1.0.0"
        skopeo("copy", "--src-cert-dir", certs, "--src-creds", creds, pulled, f"oci:{out}:x")
        raw = skopeo("inspect", "--raw", "--cert-dir", certs, "--creds", creds, f"docker://{front.host}/app:1.0.0")
        assert raw.stdout.encode() == source.read(image["digest"])
        with pytest.raises(requests.exceptions.SSLError):  # and an unverified certificate is refused
            requests.get(f"{front.url}/v2/", timeout=10)
    finally:
        cluster.stop()
