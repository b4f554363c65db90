"""The blob store port's contract. Every adapter runs this same suite (today: the
filesystem; the S3 adapter of the scale-out issue joins the `store` fixture's params)."""

import hashlib

import pytest

from kikoto.storage.blobs.filesystem import FilesystemBlobStore
from kikoto.storage.blobs.port import BlobArchived, UploadConflict
from kikoto.storage.blobs.s3 import S3BlobStore


@pytest.fixture(params=["filesystem", "s3"])
def store(request, tmp_path):
    if request.param == "s3":
        url, endpoint = request.getfixturevalue("s3_url")
        return S3BlobStore(f"{url}/{tmp_path.name}", endpoint_url=endpoint)
    return FilesystemBlobStore(tmp_path / "store")


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


async def write(store, upload_id: str, offset: int, *chunks: bytes) -> None:
    async with store.open_upload(upload_id, offset) as writer:
        for chunk in chunks:
            await writer.write(chunk)


async def fetch(location) -> bytes:
    """A local path (filesystem) or a presigned URL (S3): what a client would download."""
    if isinstance(location, str):
        import aiohttp

        async with aiohttp.ClientSession() as session, session.get(location) as response:
            assert response.status == 200, await response.text()
            return await response.read()
    return location.read_bytes()


async def read_all(store, upload_id: str) -> bytes:
    return b"".join([chunk async for chunk in store.read_upload(upload_id)])


async def test_appends_and_truncates_at_the_offset(store):
    await store.start_upload("u1")
    assert await store.upload_size("u1") in (0, -1)
    await write(store, "u1", 0, b"hello ", b"world")
    assert await store.upload_size("u1") == 11
    await write(store, "u1", 6, b"there")  # what lay past offset 6 (an unacknowledged chunk) goes
    assert await read_all(store, "u1") == b"hello there"
    await write(store, "u1", 11, b"x" * 200_000)  # a large write (the threaded path)
    assert await store.upload_size("u1") == 200_011


async def test_commit_dedup_settle_and_abort(store):
    data = b"layer bytes"
    await write(store, "a", 0, data)
    assert await store.commit_upload("a", digest(data)) is True
    assert await store.exists(digest(data))
    assert await fetch(await store.location(digest(data))) == data
    await write(store, "b", 0, data)
    assert await store.commit_upload("b", digest(data)) is False  # already stored: the upload is kept
    await store.settle_upload("b", digest(data))
    assert await store.upload_size("b") == -1
    await store.remove([(digest(data), "standard")])
    await write(store, "c", 0, data)
    assert await store.commit_upload("c", digest(data)) is True  # gone meanwhile: placed again
    await write(store, "d", 0, b"abandoned")
    await store.abort_upload("d")
    assert await store.upload_size("d") == -1


async def test_settle_restores_a_blob_removed_after_a_deduplicated_commit(store):
    data = b"shared"
    await write(store, "a", 0, data)
    await store.commit_upload("a", digest(data))
    await write(store, "b", 0, data)
    assert await store.commit_upload("b", digest(data)) is False
    await store.remove([(digest(data), "standard")])  # garbage collection raced the second upload
    await store.settle_upload("b", digest(data))
    assert await fetch(await store.location(digest(data))) == data


async def test_archive_tier(store):
    data = b"cold data"
    await write(store, "a", 0, data)
    await store.commit_upload("a", digest(data))
    await store.move(digest(data), "archive")
    assert not await store.exists(digest(data))
    if isinstance(store, FilesystemBlobStore):  # S3 signs URLs without asking the store
        with pytest.raises(BlobArchived):
            await store.location(digest(data))
    await store.move(digest(data), "standard")
    assert await fetch(await store.location(digest(data))) == data
    await store.move(digest(data), "archive")
    await store.remove([(digest(data), "archive")])
    await store.move(digest(data), "standard")  # nothing to move: no error
    assert not await store.exists(digest(data))


async def test_stat_read_and_inventory_for_fsck(store):
    """What `kikoto fsck` holds the metadata against, on every store."""
    import time

    hot, cold = b"hot bytes", b"cold bytes!"
    for upload, data in (("h", hot), ("c", cold)):
        await write(store, upload, 0, data)
        await store.commit_upload(upload, digest(data))
    await store.move(digest(cold), "archive")
    assert await store.stat(digest(hot)) == len(hot)
    assert await store.stat(digest(cold)) is None
    assert await store.stat(digest(cold), "archive") == len(cold)
    assert b"".join([c async for c in store.read(digest(cold), "archive")]) == cold
    listed = {(b.digest, b.tier, b.size) async for b in store.inventory()}
    assert listed == {(digest(hot), "standard", len(hot)), (digest(cold), "archive", len(cold))}
    assert all([abs(b.modified - time.time()) < 600 async for b in store.inventory()])
    free = store.free_space()
    assert free is None or free > 0  # S3 has no floor; a disk says what it has


async def test_filesystem_allows_one_writer_at_a_time(tmp_path):
    """(On S3, concurrent writers are serialised by the metadata store's compare-and-set on the
    offset, which tests/api and the replica tests exercise.)"""
    store = FilesystemBlobStore(tmp_path / "store")
    async with store.open_upload("busy", 0) as writer:
        await writer.write(b"first")
        with pytest.raises(UploadConflict):
            async with store.open_upload("busy", 0):
                pass


async def test_remove_deletes_a_batch_and_ignores_what_is_absent(store):
    """GC hands over a thousand blobs at once: threads unlink them on disk, one DeleteObjects on S3."""
    contents = [f"batch {i}".encode() for i in range(40)]
    for i, data in enumerate(contents):
        await write(store, f"u{i}", 0, data)
        await store.commit_upload(f"u{i}", digest(data))
    kept = contents.pop()
    await store.remove([(digest(data), "standard") for data in contents] + [(digest(b"never stored"), "standard")])
    assert [await store.exists(digest(data)) for data in contents] == [False] * len(contents)
    assert await store.exists(digest(kept))


@pytest.mark.parametrize("size", [16 * 1024, (1 << 20) + 1])  # held in memory on S3, and a part
async def test_a_request_that_finishes_an_upload_from_its_start(store, size):
    """The hints of the request that carries a whole blob: S3 holds a small one in memory and
    places it with one PUT; whatever a store does, the contract is the same."""
    data = bytes(range(256)) * (size // 256) + b"!" * (size % 256)
    await store.start_upload("w1")
    async with store.open_upload("w1", 0, stored=-1, final=True) as writer:
        await writer.write(data[:1000])
        await writer.write(data[1000:])
    assert await read_all(store, "w1") == data  # hashing again, as a switched algorithm needs
    assert await store.commit_upload("w1", digest(data)) is True
    assert await fetch(await store.location(digest(data))) == data
    assert await store.upload_size("w1") == -1  # nothing of the upload is left behind

    await store.start_upload("w2")  # the same content again: deduplicated, then settled
    async with store.open_upload("w2", 0, stored=-1, final=True) as writer:
        await writer.write(data)
    assert await store.commit_upload("w2", digest(data)) is False
    await store.remove([(digest(data), "standard")])  # garbage collection raced it
    await store.settle_upload("w2", digest(data))
    assert await fetch(await store.location(digest(data))) == data
    assert await store.upload_size("w2") == -1

    await store.start_upload("w3")  # a wrong digest: the upload is aborted, nothing is placed
    async with store.open_upload("w3", 0, stored=-1, final=True) as writer:
        await writer.write(b"other bytes")
    await store.abort_upload("w3")
    assert await store.upload_size("w3") == -1 and not await store.exists(digest(b"other bytes"))


async def test_what_s3_holds_in_memory_is_bounded_for_the_whole_worker(s3_url, tmp_path, monkeypatch):
    """A thousand clients each finishing a 1 MiB blob must not make a worker hold a GiB: past
    HELD_TOTAL, bodies go to parts as before; what is held is let go once placed or aborted."""
    import asyncio

    from kikoto.storage.blobs import s3

    url, endpoint = s3_url
    store = S3BlobStore(f"{url}/{tmp_path.name}", endpoint_url=endpoint)
    monkeypatch.setattr(s3, "HELD_TOTAL", 3000)
    first, second = b"a" * 2000, b"b" * 2000

    async def finish(upload_id: str, data: bytes) -> bool:  # each in its own task, as requests are
        async with store.open_upload(upload_id, 0, stored=-1, final=True) as writer:
            await writer.write(data)
        held = s3._held(upload_id) is not None
        await store.commit_upload(upload_id, digest(data))
        return held

    # the first request holds its 2000 bytes while it waits on the store: made to wait here until
    # the second has been seen to write past the bound (a timing race otherwise)
    gate, exists = asyncio.Event(), store.exists

    async def held_back(wanted: str) -> bool:
        if wanted == digest(first):
            await gate.wait()
        return await exists(wanted)

    monkeypatch.setattr(store, "exists", held_back)
    one = asyncio.ensure_future(finish("h1", first))
    deadline = asyncio.get_running_loop().time() + 10
    while s3._holding != 2000 and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.001)
    assert s3._holding == 2000
    assert await finish("h2", second) is False  # past the bound: its body went to a part
    gate.set()
    assert await one is True
    assert s3._holding == 0  # everything held was let go
    for data in (first, second):
        assert await fetch(await store.location(digest(data))) == data
    async with store.open_upload("h3", 0, stored=-1, final=True) as writer:
        await writer.write(b"c" * 100)
    assert s3._holding == 100
    await store.abort_upload("h3")
    assert s3._holding == 0
