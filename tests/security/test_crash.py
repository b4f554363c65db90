"""Crashes: kill -9 during garbage collection, fsck finding and repairing what a crash or a
disk left behind, and workers that must not outlive their supervisor."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import requests

from ..e2e.conftest import Server
from ..garbage import digests, leave_garbage
from ..helpers import image_manifest, sha256

KIKOTO = str(Path(sys.executable).parent / "kikoto")
OCI = "application/vnd.oci.image.manifest.v1+json"


def _kikoto(server: Server, *args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [KIKOTO, *args, "--data-dir", str(server.data_dir)],
        capture_output=True,
        text=True,
        timeout=300,
        env=server.process_env,
        **kwargs,
    )


def _push_blob(session: requests.Session, server: Server, repo: str, data: bytes) -> str:
    digest = sha256(data)
    response = session.post(
        f"{server.url}/v2/{repo}/blobs/uploads/?digest={digest}",
        data=data,
        headers={"Content-Type": "application/octet-stream"},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return digest


def _push_image(session, server, repo: str, tag: str) -> tuple[str, list[bytes]]:
    config = f'{{"architecture":"amd64","os":"linux","tag":"{tag}"}}'.encode()
    layers = [os.urandom(2000) for _ in range(2)]
    for blob in (config, *layers):
        _push_blob(session, server, repo, blob)
    body = image_manifest(config, layers)
    response = session.put(
        f"{server.url}/v2/{repo}/manifests/{tag}", data=body, headers={"Content-Type": OCI}, timeout=10
    )
    assert response.status_code == 201, response.text
    return sha256(body), [config, *layers]


def _pull_ok(session, server, repo: str, tag: str, blobs: list[bytes]) -> None:
    manifest = session.get(f"{server.url}/v2/{repo}/manifests/{tag}", headers={"Accept": OCI}, timeout=10)
    assert manifest.status_code == 200
    for blob in blobs:
        got = session.get(f"{server.url}/v2/{repo}/blobs/{sha256(blob)}", timeout=10)
        assert got.status_code == 200 and got.content == blob


def test_a_gc_killed_9_goes_on_where_it_stopped(tmp_path):
    """harbor#19991: GC of a large store must not start over after every crash. Killed -9 once
    it has noted its progress, the next run goes on from that digest; nothing live is lost."""
    import json
    import sqlite3

    from kikoto.domain.digests import key_position

    server = Server(tmp_path / "data", workers=1).start()
    try:
        session = requests.Session()
        session.headers.update(server.auth_headers())
        images = [("keep", f"v{i}", *_push_image(session, server, "keep", f"v{i}")) for i in range(3)]
        dead = digests("stopped", 40_000)
        leave_garbage(server.data_dir, dead)

        def checkpoint() -> str | None:
            with sqlite3.connect(server.data_dir / "kikoto.db", timeout=60) as db:
                row = db.execute("SELECT body FROM registry_documents WHERE name = 'gc-checkpoint'").fetchone()
            return row[0] if row else None

        gc = subprocess.Popen(
            [KIKOTO, "gc", "--grace-period", "0", "--data-dir", str(server.data_dir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=server.process_env,
        )
        while (noted := checkpoint()) is None:
            assert gc.poll() is None, "gc finished before it noted its progress"
            time.sleep(0.02)
        gc.kill()
        gc.wait()
        reached = json.loads(noted)["after"]
        assert reached.removeprefix("sha256:") < max(dead)  # it was stopped part way

        finished = _kikoto(server, "gc", "--grace-period", "0")
        assert finished.returncode == 0, finished.stderr
        went_on = f"left off ({key_position(reached):.0%} of the digests)"
        assert went_on in finished.stdout, finished.stdout
        assert checkpoint() is None
        assert not any((server.data_dir / "blobs" / "sha256" / d[:2] / d).exists() for d in dead)
        fsck = _kikoto(server, "fsck")
        assert fsck.returncode == 0 and "0 faults" in fsck.stdout, fsck.stdout + fsck.stderr
        for repo, tag, _digest, blobs in images:
            _pull_ok(session, server, repo, tag, blobs)
    finally:
        server.stop()


def test_kill_9_during_gc_twenty_times_leaves_the_registry_consistent(tmp_path):
    """M4: HEAD 200 / ECR AVAILABLE / GET 404 after 5 of ~20 kills; now the metadata never
    claims bytes that are gone."""
    server = Server(tmp_path / "data", workers=1).start()
    try:
        session = requests.Session()
        session.headers.update(server.auth_headers())
        images = [("keep", f"v{i}", *_push_image(session, server, "keep", f"v{i}")) for i in range(5)]
        dead = [_push_blob(session, server, "junk", f"dead blob {i} ".encode() * 40) for i in range(3000)]
        rng = random.Random(7)
        killed_mid_run = 0
        for round_ in range(20):  # more garbage every round, so each GC has work when it is killed
            dead += [_push_blob(session, server, "junk", f"dead blob {round_}/{i} ".encode() * 40) for i in range(50)]
            leave_garbage(server.data_dir, digests(f"garbage {round_}", 8_000))  # enough to be killed mid-run
            gc = subprocess.Popen(
                [KIKOTO, "gc", "--grace-period", "0", "--data-dir", str(server.data_dir)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=server.process_env,
            )
            time.sleep(rng.uniform(0.45, 0.9))
            if gc.poll() is None:
                killed_mid_run += 1
            gc.kill()
            gc.wait()
            # at every instant: a blob the registry admits to has its bytes
            for digest in rng.sample(dead, 40):
                head = session.head(f"{server.url}/v2/junk/blobs/{digest}", timeout=10)
                if head.status_code == 200:
                    assert session.get(f"{server.url}/v2/junk/blobs/{digest}", timeout=10).status_code == 200
                else:
                    assert head.status_code == 404
        assert killed_mid_run >= 10, killed_mid_run
        fsck = _kikoto(server, "fsck", "--verify-digests")
        assert fsck.returncode == 0 and "0 faults" in fsck.stdout, fsck.stdout + fsck.stderr
        for repo, tag, _digest, blobs in images:
            _pull_ok(session, server, repo, tag, blobs)
        finished = _kikoto(server, "gc", "--grace-period", "0")
        assert finished.returncode == 0
        assert not any((server.data_dir / "blobs" / "sha256" / d[7:9] / d[7:]).exists() for d in dead)
        for repo, tag, _digest, blobs in images:
            _pull_ok(session, server, repo, tag, blobs)
    finally:
        server.stop()


def test_fsck_finds_and_repairs_what_a_disk_lost(tmp_path):
    server = Server(tmp_path / "data", workers=1).start()
    try:
        session = requests.Session()
        session.headers.update(server.auth_headers())
        _digest, image_blobs = _push_image(session, server, "app", "v1")
        lost, short, corrupt = (
            _push_blob(session, server, "app", f"{name} bytes".encode() * 100) for name in ("lost", "short", "corrupt")
        )
        path = lambda d: server.data_dir / "blobs" / "sha256" / d[7:9] / d[7:]  # noqa: E731
        path(lost).unlink()
        path(short).write_bytes(b"truncated")
        original = path(corrupt).read_bytes()
        path(corrupt).write_bytes(bytes([original[0] ^ 1]) + original[1:])
        orphan_bytes = b"nobody knows me"
        orphan = path(sha256(orphan_bytes))
        orphan.parent.mkdir(parents=True, exist_ok=True)
        orphan.write_bytes(orphan_bytes)
        os.utime(orphan, (time.time() - 86400, time.time() - 86400))
        young = path(sha256(b"an upload finishing right now"))
        young.parent.mkdir(parents=True, exist_ok=True)
        young.write_bytes(b"an upload finishing right now")

        report = _kikoto(server, "fsck", "--verify-digests")
        assert report.returncode == 1
        assert f"missing bytes: {lost}" in report.stdout
        assert f"wrong size: {short}" in report.stdout
        assert f"wrong digest: {corrupt}" in report.stdout
        assert f"orphan file: {sha256(orphan_bytes)}" in report.stdout
        assert sha256(b"an upload finishing right now") not in report.stdout  # within the grace period
        assert session.head(f"{server.url}/v2/app/blobs/{lost}", timeout=5).status_code == 200  # the lie

        repaired = _kikoto(server, "fsck", "--repair", "--verify-digests")
        assert repaired.returncode == 0 and "repaired 4" in repaired.stdout, repaired.stdout
        for digest in (lost, short, corrupt):
            assert session.head(f"{server.url}/v2/app/blobs/{digest}", timeout=5).status_code == 404
        assert not orphan.exists() and young.exists()
        again = _kikoto(server, "fsck", "--verify-digests")
        assert again.returncode == 0 and "0 faults" in again.stdout
        _pull_ok(session, server, "app", "v1", image_blobs)
        data = b"lost bytes" * 100  # a client pushing it again repairs the registry for good
        assert _push_blob(session, server, "app", data) == lost
        assert hashlib.sha256(path(lost).read_bytes()).hexdigest() == lost[7:]
    finally:
        server.stop()


def test_fsck_reports_images_whose_blobs_are_gone(tmp_path):
    server = Server(tmp_path / "data", workers=1).start()
    try:
        session = requests.Session()
        session.headers.update(server.auth_headers())
        digest, blobs = _push_image(session, server, "app", "v1")
        layer = sha256(blobs[1])
        (server.data_dir / "blobs" / "sha256" / layer[7:9] / layer[7:]).unlink()
        result = _kikoto(server, "fsck", "--repair")
        assert result.returncode == 1
        assert f"broken image: app@{digest} references missing blob {layer}" in result.stdout
    finally:
        server.stop()


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def test_workers_die_with_a_killed_supervisor(tmp_path):
    """L5: workers outlived a SIGKILLed supervisor and kept the port."""
    server = Server(tmp_path / "data", workers=2).start()
    supervisor = psutil.Process(server.process.pid)
    workers = supervisor.children()
    assert len(workers) == 2
    os.kill(server.process.pid, signal.SIGKILL)
    server.process.wait(10)
    gone, alive = psutil.wait_procs(workers, timeout=15)
    assert not alive, [p.pid for p in alive]
    deadline = time.monotonic() + 10
    while not _port_free(server.port) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _port_free(server.port)
    restarted = Server(tmp_path / "data", workers=2)
    restarted.port = server.port
    restarted.start()
    try:
        assert requests.get(restarted.url + "/healthz", timeout=5).status_code == 200
    finally:
        restarted.stop()


async def test_fsck_on_postgresql_and_s3(aiohttp_client, postgres, s3_url, tmp_path):
    """The same checks and repairs through the S3 store (SeaweedFS) and PostgreSQL."""
    import asyncio
    import uuid

    import obstore

    from kikoto.app import SERVICES, build_app, prepare
    from kikoto.config import Settings

    from ..conftest import ADMIN_KEY, ADMIN_SECRET, basic_auth_for
    from ..helpers import push_blob, push_image

    bucket, endpoint = s3_url
    settings = Settings(
        data_dir=tmp_path / "data",
        workers=1,
        create_on_push=True,
        database_url=postgres.create_database(f"fsck_{uuid.uuid4().hex[:10]}"),
        blob_store=f"{bucket}/fsck-{uuid.uuid4().hex[:8]}",
        s3_endpoint_url=endpoint,
        admin_access_key_id=ADMIN_KEY,
        admin_secret_access_key=ADMIN_SECRET,
    )
    await asyncio.to_thread(prepare, settings)
    app = build_app(settings, background_jobs=False)
    client = await aiohttp_client(app, headers={"Authorization": await basic_auth_for(app, ADMIN_KEY)})
    registry = app[SERVICES]
    await push_image(client, "app", "v1")
    lost = await push_blob(client, "app", b"bytes an operator deleted by hand" * 10)
    await obstore.delete_async(registry.blob_store.store, f"blobs/sha256/{lost[7:]}")
    report = await registry.fsck.run(verify_digests=True)
    assert report.missing == [lost] and not report.broken and report.blobs >= 4
    repaired = await registry.fsck.run(repair=True)
    assert repaired.repaired == 1
    assert (await client.head(f"/v2/app/blobs/{lost}")).status == 404
    assert (await registry.fsck.run(verify_digests=True)).clean


def test_fsck_puts_back_bytes_an_interrupted_archive_move_left_in_the_other_tier(tmp_path):
    """A crash between an archive move's bytes and its row must not make fsck --repair delete
    the only copy (it would look like a missing blob plus an orphan)."""
    server = Server(tmp_path / "data", workers=1).start()
    try:
        session = requests.Session()
        session.headers.update(server.auth_headers())
        digest = _push_blob(session, server, "app", b"moved, then the process died" * 50)
        hot = server.data_dir / "blobs" / "sha256" / digest[7:9] / digest[7:]
        cold = server.data_dir / "archive" / "sha256" / digest[7:9] / digest[7:]
        cold.parent.mkdir(parents=True, exist_ok=True)
        os.replace(hot, cold)
        os.utime(cold, (time.time() - 86400, time.time() - 86400))
        report = _kikoto(server, "fsck")
        assert report.returncode == 1 and f"misplaced: {digest}" in report.stdout
        assert "orphan" not in report.stdout and "missing" not in report.stdout
        assert _kikoto(server, "fsck", "--repair").returncode == 0
        assert hot.exists() and not cold.exists()
        assert session.get(f"{server.url}/v2/app/blobs/{digest}", timeout=5).status_code == 200
    finally:
        server.stop()
