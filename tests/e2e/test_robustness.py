"""Concurrency, crashes and memory: the registry under the conditions that corrupt others."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import time
from pathlib import Path

import aiohttp
import psutil
import pytest

from kikoto.domain.manifests import OCI_MANIFEST

from ..helpers import image_manifest, sha256
from .conftest import Server

pytestmark = pytest.mark.e2e
BIG_LAYER_MIB = int(os.environ.get("KIKOTO_BIG_LAYER_MIB", "512"))


def assert_blobs_match_their_digests(data_dir: Path) -> int:
    checked = 0
    for path in (data_dir / "blobs").rglob("*"):
        if path.is_file():
            algorithm = path.parent.parent.name
            assert hashlib.new(algorithm, path.read_bytes()).hexdigest() == path.name, path
            checked += 1
    return checked


async def test_twenty_clients_push_the_same_layer_and_tag_at_once(server):
    layer = os.urandom(3 << 20)

    async def push(session: aiohttp.ClientSession, n: int) -> str:
        config = json.dumps({"architecture": "amd64", "os": "linux", "client": n}).encode()
        for blob in (layer, config):
            async with session.post(f"{server.url}/v2/shared/blobs/uploads/") as started:
                assert started.status == 202
                location = started.headers["Location"]
            async with session.patch(f"{server.url}{location}", data=blob) as patched:
                assert patched.status == 202, await patched.text()
                location = patched.headers["Location"]
            async with session.put(f"{server.url}{location}?digest={sha256(blob)}") as done:
                assert done.status == 201, await done.text()
        body = image_manifest(config, [layer])
        async with session.put(
            f"{server.url}/v2/shared/manifests/latest", data=body, headers={"Content-Type": OCI_MANIFEST}
        ) as pushed:
            assert pushed.status == 201, await pushed.text()
        return sha256(body)

    async with aiohttp.ClientSession(headers=server.auth_headers()) as session:
        pushed = await asyncio.gather(*(push(session, n) for n in range(20)))
        async with session.get(f"{server.url}/v2/shared/manifests/latest") as response:
            winner = response.headers["Docker-Content-Digest"]
            manifest = await response.json()
        assert winner in pushed
        async with session.get(f"{server.url}/v2/shared/blobs/{manifest['layers'][0]['digest']}") as response:
            assert await response.read() == layer
        async with session.get(f"{server.url}/v2/shared/tags/list") as response:
            assert (await response.json())["tags"] == ["latest"]
    layer_path = server.data_dir / "blobs" / "sha256" / sha256(layer)[7:9] / sha256(layer)[7:]
    assert layer_path.is_file()  # stored once
    assert assert_blobs_match_their_digests(server.data_dir) == 1 + 20
    assert not any((server.data_dir / "uploads").iterdir())  # no leftovers


async def test_kill_9_mid_upload_then_resume_after_restart(tmp_path):
    server = Server(tmp_path / "data", workers=1).start()
    data = os.urandom(24 << 20)
    first = 8 << 20
    async with aiohttp.ClientSession(headers=server.auth_headers()) as session:
        async with session.post(f"{server.url}/v2/crash/blobs/uploads/") as response:
            location = response.headers["Location"]
        async with session.patch(
            f"{server.url}{location}", data=data[:first], headers={"Content-Range": f"0-{first - 1}"}
        ) as response:
            assert response.status == 202

        sent = asyncio.Event()

        async def slow_body():
            yield data[first : first + (4 << 20)]
            sent.set()  # the first part is written: the request is under way
            await asyncio.sleep(30)  # the server dies while waiting for the rest
            yield data[first + (4 << 20) :]

        request = asyncio.ensure_future(session.patch(f"{server.url}{location}", data=slow_body()))
        await asyncio.wait_for(sent.wait(), 30)
        server.kill()  # SIGKILL the whole server mid-request
        with pytest.raises(aiohttp.ClientError):
            await request

    assert assert_blobs_match_their_digests(server.data_dir) == 0  # nothing half-written became a blob
    server = Server(server.data_dir, workers=1).start()
    try:
        async with aiohttp.ClientSession(headers=server.auth_headers()) as session:
            async with session.get(f"{server.url}{location}") as response:
                assert response.status == 204
                offset = int(response.headers["Range"].split("-")[1]) + 1
            assert offset == first  # the interrupted chunk was never acknowledged
            async with session.patch(
                f"{server.url}{location}", data=data[offset:], headers={"Content-Range": f"{offset}-{len(data) - 1}"}
            ) as response:
                assert response.status == 202
            async with session.put(f"{server.url}{location}?digest={sha256(data)}") as response:
                assert response.status == 201, await response.text()
            async with session.get(f"{server.url}/v2/crash/blobs/{sha256(data)}") as response:
                assert hashlib.sha256(await response.read()).hexdigest() == sha256(data)[7:]
        assert assert_blobs_match_their_digests(server.data_dir) == 1
    finally:
        server.stop()


async def test_memory_stays_flat_pushing_and_pulling_a_big_layer(tmp_path):
    server = Server(tmp_path / "data", workers=1).start()
    process = psutil.Process(server.process.pid)
    size, chunk = BIG_LAYER_MIB << 20, os.urandom(1 << 20)
    expected = hashlib.sha256()
    for _ in range(BIG_LAYER_MIB):
        expected.update(chunk)
    digest = "sha256:" + expected.hexdigest()
    peak, sampling = [process.memory_info().rss], True

    async def sample():
        while sampling:
            peak.append(process.memory_info().rss)
            await asyncio.sleep(0.05)

    async def body():
        for _ in range(BIG_LAYER_MIB):
            yield chunk

    sampler = asyncio.ensure_future(sample())
    baseline = peak[0]
    try:
        async with aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=600), headers=server.auth_headers()
        ) as session:
            started = time.monotonic()
            async with session.post(
                f"{server.url}/v2/big/blobs/uploads/?digest={digest}",
                data=body(),
                headers={"Content-Length": str(size)},
            ) as response:
                assert response.status == 201, await response.text()
            push_seconds = time.monotonic() - started
            pulled = hashlib.sha256()
            async with session.get(f"{server.url}/v2/big/blobs/{digest}") as response:
                async for piece in response.content.iter_chunked(1 << 20):
                    pulled.update(piece)
            assert "sha256:" + pulled.hexdigest() == digest
    finally:
        sampling = False
        await sampler
        server.stop()
    growth_mib = (max(peak) - baseline) / (1 << 20)
    print(
        f"\n{BIG_LAYER_MIB} MiB layer: push {BIG_LAYER_MIB / push_seconds:.0f} MiB/s, "
        f"RSS baseline {baseline / (1 << 20):.0f} MiB, peak growth {growth_mib:.1f} MiB"
    )
    assert growth_mib < 64
