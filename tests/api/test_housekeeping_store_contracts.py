"""Contracts of the stores behind garbage collection, fsck, the archive tier, storage use and
scanning's vulnerability data, on SQLite and on PostgreSQL (the `client` fixture's two
databases)."""

from __future__ import annotations

import time

from kikoto.app import SERVICES
from kikoto.domain.events import ImagePushed, StorageClassChanged

from ..helpers import index_manifest, push_blob, push_image, put_manifest, sha256

LATER = 10**12  # a cutoff after everything


def stores(client):
    return client.app[SERVICES].core.stores


async def orphan(client, repository: str, data: bytes) -> str:
    """A blob pushed and linked, that no manifest references."""
    return await push_blob(client, repository, data)


async def test_gc_finds_unreferenced_blobs_by_key_and_trashes_them_once(client):
    s = stores(client)
    _, image = await push_image(client, "app", "v1")
    loose = sorted([await orphan(client, "app", f"loose {n}".encode()) for n in range(3)])
    assert await s.housekeeping.gc_candidates(0.0) == []  # nothing is older than the cutoff
    assert await s.housekeeping.gc_candidates(LATER) == loose  # the image's blobs are referenced
    assert await s.housekeeping.gc_candidates(LATER, after=loose[0], limit=1) == [loose[1]]
    collected = await s.housekeeping.collect(loose[:2] + [image], LATER)
    assert collected == {loose[0]: len(b"loose 0"), loose[1]: len(b"loose 1")}  # a manifest is not a blob
    assert await s.housekeeping.collect(loose[:2], LATER) == {}  # in the trash already
    assert await s.housekeeping.known_digests(loose) == ({loose[2]: "standard"}, {loose[0], loose[1]})
    removed: list[tuple[str, str]] = []

    async def remove(blobs: list[tuple[str, str]]) -> None:
        removed.extend(blobs)

    assert await s.housekeeping.purge(remove, 1) == 1 and await s.housekeeping.purge(remove, 10) == 1
    assert sorted(removed) == [(loose[0], "standard"), (loose[1], "standard")]
    assert await s.housekeeping.purge(remove, 10) == 0
    assert await s.housekeeping.known_digests(loose[:2]) == ({}, set())


async def test_reclaimable_counts_only_what_no_other_manifest_references(client):
    s = stores(client)
    one, one_digest = await push_image(client, "app", "one", seed="a", layers=2)
    two, two_digest = await push_image(client, "app", "two", seed="a", layers=3)  # shares config and 2 layers
    repo = await s.repositories.get_repository("app")
    _, blob_refs = await s.lifecycle.image_relations(repo.id)
    only_two = blob_refs[two_digest] - blob_refs[one_digest]
    assert len(only_two) == 1
    freed = await s.housekeeping.reclaimable(repo.id, {two_digest}, blob_refs[two_digest])
    assert set(freed) == only_two and all(size > 0 for size in freed.values())
    both = await s.housekeeping.reclaimable(
        repo.id, {one_digest, two_digest}, blob_refs[one_digest] | blob_refs[two_digest]
    )
    assert set(both) == blob_refs[one_digest] | blob_refs[two_digest]


async def test_fsck_reads_blob_rows_by_key_and_forgets_only_what_is_still_broken(client):
    s = stores(client)
    digests = sorted([await orphan(client, "app", f"blob {n}".encode()) for n in range(3)])
    rows = await s.housekeeping.blob_rows_after("", 2)
    assert [r[0] for r in rows] == digests[:2] and rows[0][1:] == (len(b"blob 0"), "standard")
    assert [r[0] for r in await s.housekeeping.blob_rows_after(digests[1], 10)] == [digests[2]]

    async def fine(tier: str) -> bool:
        return False

    async def broken(tier: str) -> bool:
        return tier == "standard"

    assert not await s.housekeeping.forget_blob(digests[0], fine)  # re-checked: its bytes came back
    assert await s.housekeeping.forget_blob(digests[0], broken)
    assert not await s.housekeeping.forget_blob(digests[0], broken)  # gone already
    assert await s.blobs.repo_blob_size("app", digests[0]) is None
    assert not await s.housekeeping.trash_orphan(digests[1], "standard", 1)  # a row claims those bytes


async def test_broken_references_name_the_manifest_and_the_missing_blob(client):
    s = stores(client)
    body, digest = await push_image(client, "app", "v1", layers=1)
    _, blob_refs = await s.lifecycle.image_relations((await s.repositories.get_repository("app")).id)
    assert await s.housekeeping.broken_references() == []
    missing = sorted(blob_refs[digest])[0]

    async def broken(tier: str) -> bool:
        return True

    assert await s.housekeeping.forget_blob(missing, broken)
    assert await s.housekeeping.broken_references() == [("app", digest, missing)]


async def test_stale_uploads_are_those_untouched_since_the_cutoff(client):
    s = stores(client)
    repo = await s.repositories.ensure_repository("app")
    upload = await s.uploads.create_upload("5d1f6c1e-0000-4000-8000-0000000000bb", repo.id, "sha256")
    other = await s.uploads.create_upload("5d1f6c1e-0000-4000-8000-0000000000aa", repo.id, "sha256")
    assert await s.housekeeping.stale_uploads(time.time() - 3600) == []
    assert await s.housekeeping.stale_uploads(LATER) == [other.id, upload.id]  # by id
    assert await s.housekeeping.stale_uploads(LATER, after=other.id, limit=1) == [upload.id]


async def test_archiving_marks_images_records_the_change_and_says_which_blobs_move(client):
    s = stores(client)
    amd, amd_digest = await push_image(client, "app", "amd", seed="a", layers=1)
    arm, arm_digest = await push_image(client, "app", "arm", seed="b", layers=1)
    repo = await s.repositories.get_repository("app")
    _, blob_refs = await s.lifecycle.image_relations(repo.id)
    last = await s.outbox.last_event_id()
    await s.lifecycle.set_storage_class(repo.id, [amd_digest], "ARCHIVE")
    [change] = await s.outbox.events_after(last, 10)
    assert isinstance(change, StorageClassChanged) and change.storage_class == "ARCHIVE" and change.digest == amd_digest
    assert (await s.manifests.find_manifest("app", digest=amd_digest)).storage_class == "ARCHIVE"
    to_archive, to_restore = await s.lifecycle.blobs_to_retier(blob_refs[amd_digest] | blob_refs[arm_digest])
    assert to_archive == blob_refs[amd_digest] - blob_refs[arm_digest] and to_restore == set()
    for digest in to_archive:
        await s.lifecycle.set_tier(digest, "archive")
    await s.lifecycle.set_storage_class(repo.id, [amd_digest], "STANDARD")
    restored = (await s.outbox.events_after(last, 10))[-1]
    assert restored.storage_class == "STANDARD" and restored.activated_at is not None
    assert await s.lifecycle.blobs_to_retier(blob_refs[amd_digest]) == (set(), to_archive)


async def test_usage_summarises_a_page_of_repositories_and_ranks_the_largest(client):
    s = stores(client)
    await push_image(client, "small", "v1", seed="s", layers=1)
    await push_image(client, "big", "v1", seed="b", layers=3)
    await push_image(client, "big", "v2", seed="b", layers=2)  # its blobs are v1's: counted once
    small, big = await s.repositories.get_repository("small"), await s.repositories.get_repository("big")
    empty = await s.repositories.ensure_repository("empty")
    summaries = await s.usage.repository_summaries([small.id, big.id, empty.id])
    assert summaries[big.id][0] == 2 and summaries[small.id][0] == 1 and empty.id not in summaries
    assert summaries[big.id][1] > summaries[small.id][1] > 0 and summaries[big.id][2] is not None
    _, blob_refs = await s.lifecycle.image_relations(big.id)
    sizes = await s.blobs.repo_blob_sizes("big", sorted(set().union(*blob_refs.values())))
    assert summaries[big.id][1] == sum(sizes.values())  # deduplicated
    assert await s.usage.repository_summaries([]) == {}
    assert [name for name, _ in await s.usage.largest_repositories(1)] == ["big"]
    assert await s.usage.largest_repositories(10) == [
        ("big", summaries[big.id][1]),
        ("small", summaries[small.id][1]),
        ("empty", 0),
    ]


async def test_one_outbox_change_reads_back_typed_by_id(client):
    s = stores(client)
    last = await s.outbox.last_event_id()
    body, digest = await push_image(client, "app", "v1")
    change = await s.outbox.event(last + 1)
    assert isinstance(change, ImagePushed) and change.digest == digest and change.tag == "v1"
    assert await s.outbox.event(last + 1000) is None


async def test_an_index_and_its_children_relate_both_ways(client):
    s = stores(client)
    amd, amd_digest = await push_image(client, "multi", "amd", seed="a")
    index = index_manifest([amd])
    assert (
        await put_manifest(client, "multi", "latest", index, "application/vnd.oci.image.index.v1+json")
    ).status == 201
    repo = await s.repositories.get_repository("multi")
    parents, _ = await s.lifecycle.image_relations(repo.id)
    assert parents == {amd_digest: [sha256(index)]}


async def test_vulnerability_data_is_replaced_only_by_newer_records(client):
    store = client.app[SERVICES].features["scanning"].service.scans
    written = await store.put_vulnerabilities(
        [
            ("GHSA-1", 10.0, '{"id": "GHSA-1", "v": 1}', [("requests", "PyPI")]),
            ("GHSA-2", 10.0, '{"id": "GHSA-2"}', [("lodash", "npm"), ("requests", "PyPI")]),
        ]
    )
    assert written == 2
    assert await store.put_vulnerabilities([("GHSA-1", 5.0, '{"id": "GHSA-1", "v": 0}', [])]) == 0  # older
    assert await store.put_vulnerabilities([("GHSA-1", 20.0, '{"id": "GHSA-1", "v": 2}', [("requests", "PyPI")])]) == 1
    assert await store.documents(["GHSA-1", "GHSA-9"]) == {"GHSA-1": {"id": "GHSA-1", "v": 2}}
    candidates = await store.candidates(["requests", "flask"])
    assert sorted(candidates["requests"]) == [("PyPI", "GHSA-1"), ("PyPI", "GHSA-2")] and "flask" not in candidates
    assert await store.vulndb_summary() == (2, 20.0, {"PyPI": 2, "npm": 1})


async def test_scans_are_read_for_a_page_of_images(client):
    store = client.app[SERVICES].features["scanning"].service.scans
    repo = await stores(client).repositories.ensure_repository("app")
    assert await store.scans(repo.id, []) == {}
    await store.request(repo.id, "sha256:a", 1.0, manual=True)
    scans = await store.scans(repo.id, ["sha256:a", "sha256:b"])
    assert list(scans) == ["sha256:a"] and scans["sha256:a"].status == "PENDING" and scans["sha256:a"].manual_at == 1.0
