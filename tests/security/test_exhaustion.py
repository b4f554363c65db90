"""Resource exhaustion: what an unauthenticated or slow client can make a worker spend
(memory, connections, locks, time), and the limits that answer 429/408/507 instead."""

from __future__ import annotations

import errno
import logging
import socket
import sqlite3
import threading
import time

import psutil
import pytest
import requests

from kikoto.domain.errors import Throttled
from kikoto.http.limits import BUDGET, BodyBudget, RateLimits
from kikoto.storage.blobs import filesystem

from ..e2e.conftest import Server
from ..helpers import sha256

MIB = 1 << 20


@pytest.fixture
def one_worker(tmp_path):
    servers = []

    def start(**env) -> Server:
        server = Server(
            tmp_path / f"data{len(servers)}", workers=1, env={f"KIKOTO_{k.upper()}": str(v) for k, v in env.items()}
        ).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def test_anonymous_bodies_cost_no_memory(one_worker):
    """H1: 24 anonymous clients each sending 32 MiB to POST / grew RSS by 767 MiB."""
    server = one_worker()
    process = psutil.Process(server.process.pid)
    requests.get(server.url + "/healthz", timeout=5)
    before = process.memory_info().rss
    payload = b"x" * (32 * MIB)
    statuses = []

    def attack(key: str):
        headers = {
            "X-Amz-Target": "AmazonEC2ContainerRegistry_V20150921.UploadLayerPart",
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Date": time.strftime("%Y%m%dT%H%M%SZ"),
            "Authorization": f"AWS4-HMAC-SHA256 Credential={key}/20260101/us-east-1/ecr/aws4_request, "
            f"SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature={'0' * 64}",
        }
        try:
            statuses.append(requests.post(server.url + "/", data=payload, headers=headers, timeout=60).status_code)
        except requests.ConnectionError:
            statuses.append("closed")  # answered and closed before the client finished sending

    threads = [threading.Thread(target=attack, args=(key,)) for key in ["AKIANOSUCHKEY0000000"] * 16 + [""] * 8]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    grown = (process.memory_info().rss - before) / MIB
    assert set(statuses) <= {403, "closed"}, statuses
    print(f"anonymous bodies: RSS grew by {grown:.1f} MiB")
    assert grown < 12, f"RSS grew by {grown:.0f} MiB"


async def test_bodies_beyond_the_worker_budget_are_throttled(registry_with):
    registry = await registry_with(request_memory_limit=64 * 1024)
    manifest = b'{"schemaVersion": 2, "padding": "' + b"x" * 100_000 + b'"}'
    response = await registry.client.put(
        "/v2/app/manifests/v1",
        data=manifest,
        headers={**await registry.basic(), "Content-Type": "application/vnd.oci.image.manifest.v1+json"},
    )
    assert response.status == 429 and (await response.json())["errors"][0]["code"] == "TOOMANYREQUESTS"
    assert int(response.headers["Retry-After"]) >= 1
    status, body = await registry.ecr("PutImage", {"repositoryName": "app", "imageManifest": "x" * 100_000})
    assert status == 400 and body["__type"] == "ThrottlingException"
    assert registry.app[BUDGET].used == 0  # every reservation was given back


def test_the_budget_is_shared_and_released():
    budget = BodyBudget(100)
    with budget.reserve(60):
        with pytest.raises(Throttled):
            with budget.reserve(50):
                pass
    with budget.reserve(100):
        assert budget.used == 100
    assert budget.used == 0


def _half_sent(server: Server) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.sendall(b"GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    return sock


def test_slow_headers_time_out_and_cannot_lock_others_out(one_worker):
    """M3: 300 half-sent requests locked out a server with 256 file descriptors."""
    server = one_worker(header_timeout=2, max_connections=40)
    attackers = [_half_sent(server) for _ in range(120)]
    try:
        for _ in range(10):  # everyone else is still served, promptly
            started = time.monotonic()
            assert requests.get(server.url + "/healthz", timeout=5).status_code == 200
            assert time.monotonic() - started < 1.0
        late = _half_sent(server)
        late.settimeout(6)
        answer = late.recv(200)
        assert answer.startswith(b"HTTP/1.1 408"), answer
        late.close()
    finally:
        for sock in attackers:
            sock.close()


def test_endless_headers_are_cut_off(one_worker):
    server = one_worker()
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.settimeout(5)
    sock.sendall(b"GET /v2/ HTTP/1.1\r\nHost: x\r\n")
    answer = b""
    try:
        for i in range(100):  # 100 headers of 1 KiB: aiohttp alone would buffer them all
            sock.sendall(f"X-Pad-{i}: ".encode() + b"p" * 1000 + b"\r\n")
        answer = sock.recv(200)
    except (BrokenPipeError, ConnectionResetError):
        pass
    finally:
        sock.close()
    assert answer.startswith(b"HTTP/1.1 431") or answer == b"", answer
    big = requests.get(server.url + "/healthz", headers={f"X-Pad-{i}": "p" * 6000 for i in range(3)}, timeout=5)
    assert big.status_code == 200  # a large but sane request still passes
    line = requests.get(server.url + "/healthz", headers={"X-Pad": "p" * 20_000}, timeout=5)
    assert line.status_code == 400
    log = server.log.read_text()
    assert "Traceback" not in log and "refused a malformed request" in log


def test_a_client_that_stops_reading_is_dropped(one_worker):
    """The write side of slow clients: a download nobody reads must not hold a worker's
    connection (and file) for ever."""
    server = one_worker(body_idle_timeout=2)
    session = requests.Session()
    session.headers.update(server.auth_headers())
    blob = b"z" * (96 * MIB)
    digest = sha256(blob)
    assert session.post(f"{server.url}/v2/app/blobs/uploads/?digest={digest}", data=blob, timeout=60).status_code == 201
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    auth = server.auth_headers()["Authorization"]
    sock.sendall(f"GET /v2/app/blobs/{digest} HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\n\r\n".encode())
    time.sleep(8)  # read nothing: the server's writes stall, then it must give up
    sock.settimeout(10)
    received, closed = 0, False
    try:
        while chunk := sock.recv(1 << 20):
            received += len(chunk)
        closed = True
    except (ConnectionResetError, TimeoutError):
        closed = True
    finally:
        sock.close()
    assert closed and received < len(blob), received
    assert requests.get(server.url + "/healthz", timeout=5).status_code == 200


def _stalled_body(upload: str, auth: dict, url: str, stop: threading.Event):
    def body():
        yield b"a" * 1000
        stop.wait(10)  # then nothing: the client stalls with its request open

    try:
        return requests.patch(
            url + upload, data=body(), headers={**auth, "Content-Type": "application/octet-stream"}, timeout=15
        ).status_code
    except requests.RequestException:
        return "closed"


def test_a_stalled_body_gives_up_its_upload_lock(one_worker):
    """L9 (and M3's idle bodies): other PATCHes to the upload got 416 for ever."""
    server = one_worker(body_idle_timeout=1)
    auth = server.auth_headers()
    started = requests.post(server.url + "/v2/app/blobs/uploads/", headers=auth, timeout=5)
    upload = started.headers["Location"]
    stop, result = threading.Event(), []
    thread = threading.Thread(target=lambda: result.append(_stalled_body(upload, auth, server.url, stop)))
    thread.start()
    time.sleep(2.5)  # past the idle timeout
    status = requests.get(server.url + upload, headers=auth, timeout=5)
    offset = int(status.headers["Range"].split("-")[1]) + 1 if status.headers["Range"] != "0-0" else 0
    data = b"b" * 10
    resumed = requests.patch(
        server.url + upload,
        data=data,
        headers={
            **auth,
            "Content-Range": f"{offset}-{offset + len(data) - 1}",
            "Content-Type": "application/octet-stream",
        },
        timeout=5,
    )
    stop.set()
    thread.join()
    assert resumed.status_code == 202, resumed.text
    assert result and result[0] in (408, "closed")


def test_a_write_waiting_for_the_database_lock_does_not_stall_the_worker(one_worker):
    """L8: a write waiting on another process's SQLite lock froze its whole worker."""
    server = one_worker()
    auth = server.auth_headers()
    holder = sqlite3.connect(server.data_dir / "kikoto.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    pushed = []
    push = threading.Thread(
        target=lambda: pushed.append(
            requests.post(
                server.url + f"/v2/app/blobs/uploads/?digest={sha256(b'hello')}",
                data=b"hello",
                headers={**auth, "Content-Type": "application/octet-stream"},
                timeout=30,
            ).status_code
        )
    )
    push.start()
    time.sleep(0.3)
    slowest = 0.0
    for _ in range(10):
        started = time.monotonic()
        requests.get(server.url + "/healthz", timeout=5)
        slowest = max(slowest, time.monotonic() - started)
        time.sleep(0.2)
    assert push.is_alive()  # still waiting for the lock
    holder.execute("COMMIT")
    push.join()
    assert pushed == [201]
    assert slowest < 0.3, f"/healthz took {slowest:.2f} s while a write waited"


async def test_rate_limits_answer_in_each_face_format(registry_with):
    registry = await registry_with(rate_limit_per_address=1, rate_limit_burst=2)
    statuses = [(await registry.client.get("/v2/", headers=await registry.basic())).status for _ in range(3)]
    assert statuses[:2] == [200, 200] and statuses[2] == 429
    response = await registry.client.get("/v2/", headers=await registry.basic())
    assert response.headers["Retry-After"] and (await response.json())["errors"][0]["code"] == "TOOMANYREQUESTS"
    status, body = await registry.ecr("DescribeRepositories", {})
    assert status == 400 and body["__type"] == "ThrottlingException"


async def test_rate_limits_per_principal(registry_with):
    registry = await registry_with(rate_limit_per_principal=1, rate_limit_burst=1)
    assert (await registry.ecr("DescribeRepositories", {}))[0] == 200
    status, body = await registry.ecr("DescribeRepositories", {})
    assert status == 400 and body["__type"] == "ThrottlingException"
    assert (await registry.client.get("/healthz")).status == 200  # anonymous probes are not throttled


def test_token_buckets_refill():
    now = [0.0]
    limits = RateLimits(per_principal=2, per_address=0, burst=2, clock=lambda: now[0])
    assert [limits.check("principal", "k") for _ in range(3)][:2] == [0.0, 0.0]
    assert limits.check("principal", "k") > 0
    now[0] += 1.0
    assert limits.check("principal", "k") == 0.0
    assert limits.check("address", "1.2.3.4") == 0.0  # off


async def test_a_full_disk_is_a_clear_error_and_stores_nothing(registry_with, monkeypatch, caplog):
    registry = await registry_with()
    auth = await registry.basic()

    async def no_space(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(filesystem._FileWriter, "write", no_space)
    data = b"layer" * 100
    with caplog.at_level(logging.ERROR):
        response = await registry.client.post(
            f"/v2/app/blobs/uploads/?digest={sha256(data)}",
            data=data,
            headers={**auth, "Content-Type": "application/octet-stream"},
        )
    assert response.status == 507
    assert "out of storage space" in (await response.json())["errors"][0]["message"]
    assert any(r.levelno == logging.ERROR and "out of storage space" in r.getMessage() for r in caplog.records)
    monkeypatch.undo()
    head = await registry.client.head(f"/v2/app/blobs/{sha256(data)}", headers=auth)
    assert head.status == 404


async def test_uploads_are_refused_below_the_free_space_floor(registry_with):
    registry = await registry_with(min_free_space=1 << 62)
    response = await registry.client.post("/v2/app/blobs/uploads/", headers=await registry.basic())
    assert response.status == 507 and "min_free_space" in (await response.json())["errors"][0]["message"]
    await registry.ecr("CreateRepository", {"repositoryName": "layers"})
    status, body = await registry.ecr("InitiateLayerUpload", {"repositoryName": "layers"})
    assert status == 500 and body["__type"] == "ServerException" and "out of storage space" in body["message"]
