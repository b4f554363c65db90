"""Secrets and information: metrics that name repositories, file permissions, the master key."""

from __future__ import annotations

import base64
import os
import stat
import subprocess
import sys
from pathlib import Path

from kikoto.domain.policy import READ_ONLY

from ..conftest import ADMIN_KEY as ADMIN_KEY_IN_PROCESS
from ..conftest import ADMIN_SECRET as ADMIN_SECRET_IN_PROCESS
from ..e2e.conftest import ADMIN_KEY, ADMIN_SECRET, Server


async def test_metrics_need_read_metrics(registry_with):
    """M2: anonymous GET /metrics listed every repository with counts and bytes."""
    registry = await registry_with()
    await registry.ecr("CreateRepository", {"repositoryName": "team/secret-project"})
    anonymous = await registry.client.get("/metrics")
    assert anonymous.status == 401 and "WWW-Authenticate" in anonymous.headers
    reader, _ = await registry.new_key("reader", READ_ONLY)
    denied = await registry.client.get("/metrics", headers=await registry.basic(reader))
    assert denied.status == 403
    admin = await registry.client.get("/metrics", headers=await registry.basic())
    assert admin.status == 200 and 'repository="team/secret-project"' in await admin.text()


async def test_metrics_accept_an_access_key_pair_as_prometheus_sends_it(registry_with):
    registry = await registry_with()
    await registry.ecr("CreateRepository", {"repositoryName": "app"})
    pair = base64.b64encode(f"{ADMIN_KEY_IN_PROCESS}:{ADMIN_SECRET_IN_PROCESS}".encode()).decode()
    response = await registry.client.get("/metrics", headers={"Authorization": f"Basic {pair}"})
    assert response.status == 200 and "kikoto_repository_images" in await response.text()
    wrong = base64.b64encode(f"{ADMIN_KEY_IN_PROCESS}:nope".encode()).decode()
    assert (await registry.client.get("/metrics", headers={"Authorization": f"Basic {wrong}"})).status == 401
    elsewhere = await registry.client.get("/v2/_catalog", headers={"Authorization": f"Basic {pair}"})
    assert elsewhere.status == 401  # a key pair is for the scraper, not for /v2/


async def test_public_metrics_never_name_a_repository(registry_with):
    registry = await registry_with(public_metrics=True)
    await registry.ecr("CreateRepository", {"repositoryName": "team/secret-project"})
    response = await registry.client.get("/metrics")
    text = await response.text()
    assert response.status == 200 and "kikoto_stored_bytes" in text and "secret-project" not in text


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_data_dir_is_private(tmp_path):
    """L6: kikoto.db and its WAL were 0644 in a 0755 data dir."""
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    (data / "old.log").write_text("left by an older version")
    os.chmod(data / "old.log", 0o644)
    server = Server(data, workers=1).start()
    try:
        import requests

        requests.post(
            f"{server.url}/v2/app/blobs/uploads/?digest=sha256:"
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
            data=b"hello",
            headers=server.auth_headers(),
            timeout=10,
        ).raise_for_status()
        assert _mode(data) == 0o700
        files = [p for p in data.rglob("*") if p.is_file() and p.name != "changes"]
        assert {p.name for p in files} >= {"kikoto.db", "master.key", "old.log"}
        wide = {str(p.relative_to(data)): oct(_mode(p)) for p in files if _mode(p) & 0o077}
        assert not wide, wide
        directories = {
            str(p.relative_to(data)): oct(_mode(p)) for p in data.rglob("*") if p.is_dir() and _mode(p) & 0o077
        }
        assert not directories, directories
    finally:
        server.stop()


def _serve(data: Path, *extra: str, env: dict | None = None) -> subprocess.CompletedProcess:
    command = [
        str(Path(sys.executable).parent / "kikoto"),
        "serve",
        "--data-dir",
        str(data),
        "--listen",
        "127.0.0.1:1",
        "--workers",
        "1",
        *extra,
    ]
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=60,
        env={
            **os.environ,
            "KIKOTO_ADMIN_ACCESS_KEY_ID": ADMIN_KEY,
            "KIKOTO_ADMIN_SECRET_ACCESS_KEY": ADMIN_SECRET,
            **(env or {}),
        },
    )


def _one_clear_line(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: cannot start:"), result.stderr
    for word in words:
        assert word in lines[0], lines[0]


def test_a_missing_master_key_refuses_to_start(tmp_path):
    """L7: the server made a new key, said ready and answered 500 to every signed call."""
    data = tmp_path / "data"
    server = Server(data, workers=1).start()
    server.stop()
    (data / "master.key").unlink()
    _one_clear_line(_serve(data), "master.key is missing", "restore")
    assert not (data / "master.key").exists()  # no new key was made in its place


def test_a_wrong_master_key_refuses_to_start(tmp_path):
    data = tmp_path / "data"
    Server(data, workers=1).start().stop()
    from cryptography.fernet import Fernet

    _one_clear_line(_serve(data, env={"KIKOTO_MASTER_KEY": Fernet.generate_key().decode()}), "master key")
    _one_clear_line(_serve(data, env={"KIKOTO_MASTER_KEY": "not-a-key"}), "master_key is not a valid key")


def test_a_replica_with_another_admin_secret_refuses_to_start(tmp_path):
    data = tmp_path / "data"
    Server(data, workers=1).start().stop()
    _one_clear_line(
        _serve(data, env={"KIKOTO_ADMIN_SECRET_ACCESS_KEY": "another-secret"}), "exists with a different secret"
    )


def test_a_taken_port_is_one_clear_line(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _serve(tmp_path / "data", "--listen", f"127.0.0.1:{port}")
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr
    assert "address already in use" in result.stderr.lower()


def test_a_second_registry_cannot_share_the_port(tmp_path):
    """Workers shared their port with SO_REUSEPORT, so a second `kikoto serve` with several
    workers (another data dir) bound it too and answered 9 of 12 of the first one's clients."""
    import requests

    first = Server(tmp_path / "first", workers=2).start()
    try:
        second = _serve(
            tmp_path / "second",
            "--listen",
            f"127.0.0.1:{first.port}",
            "--workers",
            "2",
            env={"KIKOTO_ADMIN_SECRET_ACCESS_KEY": "another-registry's-secret"},
        )
        assert second.returncode != 0 and "Traceback" not in second.stderr, second.stderr
        assert "address already in use" in second.stderr.lower(), second.stderr
        # every client of the first registry reaches the first registry
        for _ in range(24):
            answer = requests.get(f"{first.url}/v2/", headers=first.auth_headers(), timeout=10)
            assert answer.status_code == 200, answer.text
    finally:
        first.stop()
