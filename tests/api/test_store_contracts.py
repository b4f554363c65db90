"""Contracts of the stores every subsystem shares (leases, the audit log, storage use, the
outbox and its cursors, the repository record), run on SQLite and on PostgreSQL alike (the
`client` fixture's two databases)."""

from __future__ import annotations

from kikoto.app import SERVICES
from kikoto.domain.events import ImageDeleted, ImagePushed, ImageScanned

from ..helpers import SHARED_CONFIG, numbered_manifest, push_blob, put_manifest, sha256


async def push(client, repository: str, n: int, tag: str) -> str:
    content = numbered_manifest(n)
    response = await put_manifest(client, repository, tag, content)
    assert response.status == 201, await response.text()
    return sha256(content)


async def test_a_lease_has_one_holder_until_it_expires_or_is_released(client):
    leases = client.app[SERVICES].core.leases
    assert await leases.acquire("job:x", "a", 60)
    assert not await leases.acquire("job:x", "b", 60)  # held
    await leases.hold("job:x", "b", 0)  # only its holder extends it: b's hold changes nothing
    assert not await leases.acquire("job:x", "b", 60)
    await leases.release("job:x", "b")  # nor does b's release
    assert not await leases.acquire("job:x", "b", 60)
    await leases.release("job:x", "a")
    assert await leases.acquire("job:x", "b", 60)
    await leases.hold("job:x", "b", -1)  # expired: anyone may take it over
    assert await leases.acquire("job:x", "c", 60)
    assert await leases.acquire("job:other", "a", 60)  # leases are independent


async def test_the_audit_log_lists_newest_first_and_pages_by_key(client):
    audit = client.app[SERVICES].core.audit
    await audit.record(
        [{"actor": "lifecycle", "action": "EXPIRE", "repository": f"r{n % 2}", "digest": f"d{n}"} for n in range(7)]
    )
    await audit.record([{"actor": "gc", "action": "GC", "detail": {"blobs": 3}}])
    newest = await audit.events(None, 3)
    assert [e["action"] for e in newest] == ["GC", "EXPIRE", "EXPIRE"] and newest[0]["detail"] == {"blobs": 3}
    seen, before = [], None
    while page := await audit.events("r1", 2, before=before):
        seen += [e["digest"] for e in page]
        before = page[-1]["id"]
    assert seen == ["d5", "d3", "d1"]
    assert [e["action"] for e in await audit.events(None, 100, action="GC")] == ["GC"]
    assert await audit.events(None, 100, since=10**12) == []


async def test_storage_use_counts_each_blob_once(client):
    usage = client.app[SERVICES].core.usage
    assert await usage.stored_bytes() == (0, 0)
    for repository in ("one", "two"):  # the same config and manifest content in both
        await push_blob(client, repository, SHARED_CONFIG)
        await push(client, repository, 1, "v1")
    blobs, stored = await usage.stored_bytes()
    assert blobs == 1 and stored == len(SHARED_CONFIG)
    by_repository = {name: (images, size) for name, images, size in await usage.storage_by_repository()}
    assert by_repository == {"one": (1, len(SHARED_CONFIG)), "two": (1, len(SHARED_CONFIG))}
    await usage.snapshot()
    [(_, snap_blobs, snap_bytes)] = await usage.snapshots()
    assert (snap_blobs, snap_bytes) == (blobs, stored)


async def test_the_outbox_hands_each_consumer_its_changes_typed_and_in_order(client):
    core = client.app[SERVICES].core
    outbox = core.outbox
    await push_blob(client, "app", SHARED_CONFIG)
    assert await outbox.follow("late") == await outbox.last_event_id()  # follows from now on
    digest = await push(client, "app", 1, "v1")
    await outbox.record([ImageScanned(repository="app", digest=digest, severity_counts={"LOW": 1}, tags=("v1",))])
    repo = await core.meta.get_repository("app")
    assert await core.meta.delete_manifest(repo.id, digest, "v1")
    position, changes = await outbox.changes_for("late", 10)
    assert [type(c) for c in changes] == [ImagePushed, ImageScanned, ImageDeleted]
    pushed, scanned, deleted = changes
    assert pushed.tag == "v1" and pushed.media_type and pushed.is_image and pushed.digest == digest
    assert scanned.severity_counts == {"LOW": 1} and scanned.tags == ("v1",)
    assert deleted.tag == "v1" and deleted.id > scanned.id > pushed.id > position
    await outbox.advance("late", scanned.id)
    await outbox.advance("late", pushed.id)  # a cursor never moves back
    _, rest = await outbox.changes_for("late", 10)
    assert rest == [deleted]
    await outbox.forget_cursor("late")
    assert (await outbox.changes_for("late", 10))[1] == []  # a forgotten consumer starts afresh


async def test_a_repository_is_one_record_by_name_or_id(client):
    core = client.app[SERVICES].core
    await client.app[SERVICES].ecr.repositories.create("team/app", [], None, None, True, None)
    by_meta = await core.meta.get_repository("team/app")
    by_ecr = await core.ecr_store.get_repository("team/app")
    assert by_meta == by_ecr and by_meta is not None and by_meta.scan_on_push
    assert await core.meta.repository_name(by_meta.id) == "team/app"
    assert await core.meta.get_repository("missing") is None and await core.meta.repository_name(-1) is None
