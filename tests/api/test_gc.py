"""Online garbage collection against concurrent pushes and deletes, on SQLite and PostgreSQL."""

import asyncio
import json
import os

import pytest

from kikoto.app import SERVICES

from ..helpers import image_manifest, push_blob, put_manifest, sha256

BASE = os.urandom(50_000)  # shared by every image: must survive every collection


async def push_image(client, repo: str, n: int) -> bytes:
    config = json.dumps({"n": n}).encode()
    own = os.urandom(20_000)
    for _attempt in range(5):  # a real client re-uploads what the registry says it lacks
        for blob in (BASE, own, config):
            head = await client.head(f"/v2/{repo}/blobs/{sha256(blob)}")
            if head.status != 200:
                await push_blob(client, repo, blob)
        body = image_manifest(config, [BASE, own])
        response = await put_manifest(client, repo, f"v{n}", body)
        if response.status == 201:
            return body
        assert (await response.json())["errors"][0]["code"] == "MANIFEST_BLOB_UNKNOWN"
    raise AssertionError("push kept failing")


async def test_gc_in_a_loop_while_hundreds_of_pushes_and_deletes_run(client):
    registry = client.app[SERVICES]
    pushed: dict[int, bytes] = {}
    stop = asyncio.Event()
    collected = {"blobs": 0, "runs": 0}

    async def collector():
        while not stop.is_set():
            summary = await registry.gc.run(grace=0.5)  # far shorter than any real setting
            collected["blobs"] += summary.blobs
            collected["runs"] += 1
            await asyncio.sleep(0)

    async def pusher(worker: int):
        for i in range(worker, 200, 8):
            pushed[i] = await push_image(client, "busy", i)
            if i % 3 == 0:  # delete some, so GC has real garbage to collect meanwhile
                response = await client.delete(f"/v2/busy/manifests/{sha256(pushed.pop(i))}")
                assert response.status == 202

    gc_task = asyncio.ensure_future(collector())
    await asyncio.gather(*(pusher(w) for w in range(8)))
    stop.set()
    await gc_task
    await registry.gc.run(grace=0)
    assert collected["runs"] > 5 and collected["blobs"] > 0

    for n, body in pushed.items():
        response = await client.get(f"/v2/busy/manifests/v{n}")
        assert await response.read() == body
        manifest = json.loads(body)
        for descriptor in [manifest["config"], *manifest["layers"]]:
            blob = await client.get(f"/v2/busy/blobs/{descriptor['digest']}")
            assert blob.status == 200, (n, descriptor)
            assert sha256(await blob.read()) == descriptor["digest"]


async def test_default_grace_period_protects_in_flight_pushes(client):
    registry = client.app[SERVICES]
    layer = os.urandom(10_000)
    await push_blob(client, "slow", layer)  # uploaded, manifest not yet pushed
    summary = await registry.gc.run()  # default grace: two hours
    assert summary.blobs == 0
    config = b"{}"
    await push_blob(client, "slow", config)
    response = await put_manifest(client, "slow", "v1", image_manifest(config, [layer]))
    assert response.status == 201


async def test_abandoned_uploads_expire(client):
    registry = client.app[SERVICES]
    response = await client.post("/v2/app/blobs/uploads/")
    location = response.headers["Location"]
    await client.patch(location, data=b"partial")
    assert (await registry.gc.run()).uploads == 0
    registry.gc.upload_ttl = -1
    assert (await registry.gc.run()).uploads == 1
    assert (await client.get(location)).status == 404


async def test_deleted_image_blobs_are_freed_but_shared_ones_stay(client):
    registry = client.app[SERVICES]
    shared, own, config = os.urandom(1000), os.urandom(1000), b'{"a":1}'
    for repo in ("one", "two"):
        for blob in (shared, own if repo == "one" else b"other", config):
            await push_blob(client, repo, blob)
    body_one = image_manifest(config, [shared, own])
    body_two = image_manifest(config, [shared, b"other"])
    assert (await put_manifest(client, "one", "v1", body_one)).status == 201
    assert (await put_manifest(client, "two", "v1", body_two)).status == 201
    assert (await client.delete(f"/v2/one/manifests/{sha256(body_one)}")).status == 202
    summary = await registry.gc.run(grace=0)
    assert summary.blobs == 1 and summary.bytes == len(own)
    blobs_dir = registry.settings.data_dir / "blobs" / "sha256"
    assert not (blobs_dir / sha256(own)[7:9] / sha256(own)[7:]).exists()
    assert (await client.get(f"/v2/two/blobs/{sha256(shared)}")).status == 200
    assert (await client.get("/v2/two/manifests/v1")).status == 200


async def test_a_run_that_stopped_is_continued_where_it_was(client, monkeypatch):
    """harbor#19991: a GC of a large store must not start over after every crash. The run notes
    how far it got; the next one goes on from there, and the counts add up across both."""
    from kikoto.domain.digests import key_position
    from kikoto.services import gc

    monkeypatch.setattr(gc, "BATCH", 20)
    monkeypatch.setattr(gc, "CHECKPOINT_EVERY", 1)  # note every batch
    registry = client.app[SERVICES]
    dead = sorted([await push_blob(client, "junk", os.urandom(100)) for _ in range(100)])
    positions: list[float] = []

    class Killed(Exception):
        pass

    def dies_after_two_batches(position: float, blobs: int, _bytes: int) -> None:
        positions.append(position)
        if len(positions) == 2:
            raise Killed

    with pytest.raises(Killed):
        await registry.gc.run(grace=0, progress=dies_after_two_batches)
    assert (await registry.gc.run(grace=0, dry_run=True)).blobs == 60  # the first two batches went

    positions.clear()
    summary = await registry.gc.run(grace=0, progress=lambda position, *_: positions.append(position))
    assert summary.resumed_at == key_position(dead[19])  # the checkpoint of the first batch
    # the noted batch counts; the one freed after the note was gone before the next run could see it
    assert summary.blobs == 80 and summary.bytes == 80 * 100
    assert positions[0] > summary.resumed_at and positions[-1] == 1.0 and positions == sorted(positions)
    assert [(await client.head(f"/v2/junk/blobs/{d}")).status for d in dead] == [404] * 100
    assert (await registry.gc.run(grace=0)).resumed_at is None  # a finished run leaves nothing to resume
    await registry.stores.documents.put_document(gc.CHECKPOINT, "{not json")  # a note that cannot be read
    assert (await registry.gc.run(grace=0)).resumed_at is None  # is no reason to stop: the walk starts over
