"""Contracts of the stores of a repository's contents: the repository record and its settings,
manifests and tags, image records, the blob index. Each runs on SQLite and on PostgreSQL (the
`client` fixture's two databases); state is set up through /v2 where a client would make it."""

from __future__ import annotations

import pytest

from kikoto.app import SERVICES
from kikoto.domain.errors import ReferencedBlobUnknown, TagImmutable
from kikoto.domain.events import ImageCached, ImageDeleted, ImagePushed
from kikoto.domain.manifests import parse_manifest

from ..helpers import (
    OCI_INDEX,
    SHARED_CONFIG,
    image_manifest,
    index_manifest,
    numbered_manifest,
    push_blob,
    push_image,
    put_manifest,
    sha256,
)


def stores(client):
    return client.app[SERVICES].core.stores


async def test_repositories_are_created_once_listed_updated_and_deleted(client):
    store = stores(client).repositories
    created = await store.create_repository(
        "team/a", {"scan_on_push": True, "resource_tags": [{"Key": "k", "Value": "v"}]}
    )
    assert created is not None and created.scan_on_push and created.resource_tags == [{"Key": "k", "Value": "v"}]
    assert await store.create_repository("team/a", {}) is None  # the name is taken
    await store.create_repository("team/b", {"repository_policy": '{"Version":"2012-10-17"}'})
    assert [r.name for r in await store.repositories()] == ["team/a", "team/b"]
    assert [r.name for r in await store.repositories(["team/b", "missing"])] == ["team/b"]
    await store.update_repository("team/a", {"tag_mutability": "IMMUTABLE", "encryption": {"encryptionType": "AES256"}})
    updated = await store.get_repository("team/a")
    assert updated.tag_mutability == "IMMUTABLE" and updated.encryption == {"encryptionType": "AES256"}
    assert updated.scan_on_push  # untouched settings stay
    assert await store.repository_policies(["team/a", "team/b", "missing"]) == {
        "team/a": None,
        "team/b": '{"Version":"2012-10-17"}',
    }
    await store.delete_repository(created.id)
    assert await store.get_repository("team/a") is None and [r.name for r in await store.repositories()] == ["team/b"]


async def test_deleting_a_repository_takes_its_images_and_links(client):
    _, digest = await push_image(client, "gone", "v1")
    s = stores(client)
    repo = await s.repositories.get_repository("gone")
    await s.repositories.delete_repository(repo.id)
    assert await s.manifests.find_manifest("gone", digest=digest) is None
    assert await s.images.images(repo.id) == [] and "gone" not in await s.blobs.repositories_with_blob(digest)


async def test_a_manifest_is_stored_with_its_references_and_tags_in_one_change(client):
    s = stores(client)
    config = await push_blob(client, "app", SHARED_CONFIG)
    repo = await s.repositories.get_repository("app")
    body = numbered_manifest(1)
    manifest = parse_manifest(body, None, sha256(body))
    last = await s.outbox.last_event_id()
    await s.manifests.put_manifest(repo, manifest, body, ["v1", "latest"], allow_sparse_index=False)
    head = await s.manifests.find_manifest("app", tag="latest")
    assert head.digest == manifest.digest and head.size == len(body) and head.repo_id == repo.id
    assert await s.manifests.manifest_content("app", manifest.digest) == body
    assert await s.manifests.manifest_contents("app", [manifest.digest, "sha256:" + "0" * 64]) == {
        manifest.digest: body
    }
    assert await s.manifests.manifest_contents("app", []) == {}
    changes = await s.outbox.events_after(last, 10)
    assert {(type(c), c.tag) for c in changes} == {(ImagePushed, "v1"), (ImagePushed, "latest")}
    assert await s.images.blob_is_referenced(repo.id, config)
    # what a push may not do: reference a blob the repository cannot see; move an immutable tag
    other = image_manifest(b"{}", [b"a layer nobody pushed"])
    with pytest.raises(ReferencedBlobUnknown):
        await s.manifests.put_manifest(repo, parse_manifest(other, None, sha256(other)), other, [], False)
    second = numbered_manifest(2)
    with pytest.raises(TagImmutable):
        await s.manifests.put_manifest(
            repo, parse_manifest(second, None, sha256(second)), second, ["v1"], False, immutable=lambda t: t == "v1"
        )
    # a pull-through import references what it has not fetched yet, and says so in its change
    await s.manifests.put_manifest(
        repo, parse_manifest(other, None, sha256(other)), other, ["cached"], False, lazy=True, change=ImageCached
    )
    assert isinstance((await s.outbox.events_after(last, 10))[-1], ImageCached)
    assert (await s.manifests.find_manifest("app", tag="cached")).digest == sha256(other)


async def test_pulls_are_recorded_and_many_manifests_deleted_at_once(client):
    s = stores(client)
    await push_blob(client, "app", SHARED_CONFIG)
    digests = []
    for n in range(3):
        body = numbered_manifest(n)
        assert (await put_manifest(client, "app", f"t{n}", body)).status == 201
        digests.append(sha256(body))
    repo = await s.repositories.get_repository("app")
    await s.manifests.record_pull(repo.id, digests[0], 1234.5)
    assert (await s.manifests.find_manifest("app", digest=digests[0])).last_pulled_at == 1234.5
    last = await s.outbox.last_event_id()
    assert await s.manifests.delete_manifests(repo.id, digests[:2]) == 2
    assert await s.manifests.delete_manifests(repo.id, digests[:2]) == 0
    assert [c.digest for c in await s.outbox.events_after(last, 10) if isinstance(c, ImageDeleted)] == digests[:2]
    assert await s.manifests.list_tags(repo.id, None, None) == ["t2"]


async def test_referrers_page_by_digest_and_filter_by_artifact_type(client):
    s = stores(client)
    _, subject = await push_image(client, "app", "v1")
    await push_blob(client, "app", b"{}")
    made = {}
    for n, kind in enumerate(["application/vnd.a", "application/vnd.b", "application/vnd.a"]):
        body = image_manifest(
            b"{}",
            [],
            artifactType=kind,
            subject={"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": subject, "size": 1},
            annotations={"n": str(n)},
        )
        assert (await put_manifest(client, "app", sha256(body), body)).status == 201
        made[sha256(body)] = kind
    repo = await s.repositories.get_repository("app")
    first = await s.manifests.referrers(repo.id, subject, None, 2, None)
    rest = await s.manifests.referrers(repo.id, subject, None, 2, first[-1].digest)
    assert [r.digest for r in first + rest] == sorted(made) and len(first) == 2
    assert {r.digest for r in await s.manifests.referrers(repo.id, subject, "application/vnd.a", 10, None)} == {
        d for d, k in made.items() if k == "application/vnd.a"
    }
    assert all(r.annotations and "n" in r.annotations for r in first)
    assert await s.manifests.referrers(repo.id, "sha256:" + "1" * 64, None, 10, None) == []


async def test_image_records_and_their_relations(client):
    s = stores(client)
    amd, amd_digest = await push_image(client, "multi", "amd", seed="a")
    arm, arm_digest = await push_image(client, "multi", "arm", seed="b")
    index = index_manifest([amd, arm])
    assert (await put_manifest(client, "multi", "latest", index, OCI_INDEX)).status == 201
    repo = await s.repositories.get_repository("multi")
    assert await s.images.image_count(repo.id) == 1  # "any at all": it stops at the first
    records = await s.images.images(repo.id)
    assert [r.digest for r in records] == [amd_digest, arm_digest, sha256(index)]  # oldest push first
    assert next(r for r in records if r.digest == sha256(index)).tags == ("latest",)
    assert await s.images.parents(repo.id, amd_digest) == [sha256(index)]
    assert await s.images.parents(repo.id, sha256(index)) == []
    ids = await s.images.image_ids_page(repo.id, "", 2, "ANY", "ANY", False)
    assert ids == sorted(ids) and len(ids) == 2 and all(isinstance(tags, tuple) for _, tags in ids)
    everything = dict(await s.images.image_ids_page(repo.id, "", 10, "ANY", "ANY", False))
    assert everything[sha256(index)] == ("latest",)
    assert dict(await s.images.image_ids_page(repo.id, "", 10, "TAGGED", "ANY", False)) == everything
    assert await s.images.image_ids_page(repo.id, "", 10, "UNTAGGED", "ANY", False) == []
    assert await s.images.image_ids_page(repo.id, "", 10, "ANY", "ACTIVATING", False) == []
    first = min(everything)
    assert (await s.images.image_ids_page(repo.id, first, 1, "ANY", "ANY", True))[0][0] == first
    relations, blob_refs = await s.lifecycle.image_relations(repo.id)
    assert relations == {amd_digest: [sha256(index)], arm_digest: [sha256(index)]}
    assert len(blob_refs[amd_digest]) == 3 and sha256(index) not in blob_refs  # config + two layers
    assert await s.images.image_count((await s.repositories.ensure_repository("empty")).id) == 0


async def test_the_blob_index_links_blobs_to_repositories(client):
    s = stores(client)
    one, two = await s.repositories.ensure_repository("one"), await s.repositories.ensure_repository("two")
    data = b"some blob"
    digest = sha256(data)
    assert await s.blobs.repo_blob_size("one", digest) is None
    assert not await s.blobs.link_blob(two.id, digest)  # nothing to mount yet
    assert await s.blobs.add_blob(one.id, digest, len(data))
    assert (
        await s.blobs.repo_blob_size("one", digest) == len(data) and await s.blobs.repo_blob_size("two", digest) is None
    )
    assert await s.blobs.link_blob(two.id, digest)  # a cross-repository mount
    assert sorted(await s.blobs.repositories_with_blob(digest)) == ["one", "two"]
    assert await s.blobs.repo_blob_sizes("two", [digest, "sha256:" + "2" * 64]) == {digest: len(data)}
    assert await s.blobs.blob_tiers([digest]) == {digest: "standard"}
    await s.lifecycle.set_tier(digest, "archive")
    assert await s.blobs.blob_tiers([digest]) == {digest: "archive"}
    assert await s.blobs.unlink_blob(two.id, digest) and not await s.blobs.unlink_blob(two.id, digest)
    assert await s.blobs.repositories_with_blob(digest) == ["one"]


async def test_a_finished_upload_closes_only_at_the_offset_it_started_from(client):
    s = stores(client)
    repo = await s.repositories.ensure_repository("app")
    upload = await s.uploads.create_upload("5d1f6c1e-0000-4000-8000-0000000000aa", repo.id, "sha256")
    assert await s.uploads.advance_upload(upload.id, 0, 10)
    digest = sha256(b"0123456789")
    assert not await s.blobs.add_blob(repo.id, digest, 10, finished_upload=(upload.id, 0))  # moved since
    assert await s.blobs.repo_blob_size("app", digest) is None  # and nothing was written
    assert await s.blobs.add_blob(repo.id, digest, 10, finished_upload=(upload.id, 10))
    assert await s.uploads.get_upload(upload.id, "app") is None and await s.blobs.repo_blob_size("app", digest) == 10


async def test_claiming_a_trashed_blob_takes_it_out_of_the_trash(client):
    s = stores(client)
    await s.housekeeping.trash_orphan("sha256:" + "3" * 64, "standard", 5)
    assert await s.housekeeping.known_digests(["sha256:" + "3" * 64]) == ({}, {"sha256:" + "3" * 64})
    await s.blobs.claim_trashed("sha256:" + "3" * 64)
    await s.blobs.claim_trashed("sha256:" + "4" * 64)  # not there: nothing to do
    assert await s.housekeeping.known_digests(["sha256:" + "3" * 64]) == ({}, set())
