"""The metadata store's contract for paging, run on SQLite and on PostgreSQL alike (the `client`
fixture's two databases): keyset pages come in key order, filters hold, and a listing paged
while images are pushed and deleted returns every image that stayed exactly once."""

from __future__ import annotations

import json

from kikoto.app import SERVICES
from kikoto.domain.lifecycle import PreviewResult
from kikoto.domain.manifests import OCI_INDEX, OCI_MANIFEST

from ..helpers import SHARED_CONFIG, numbered_manifest, push_blob, put_manifest, sha256

CONFIG = SHARED_CONFIG
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"


async def push(client, n: int, tag: str | None) -> str:
    content = numbered_manifest(n)
    response = await put_manifest(client, "repo", tag or sha256(content), content)
    assert response.status == 201, await response.text()
    return sha256(content)


async def test_images_page_by_digest_with_filters(client):
    stores = client.app[SERVICES].core.stores
    store = stores.images
    await push_blob(client, "repo", CONFIG)
    tagged = {await push(client, n, f"t{n}") for n in range(0, 30, 2)}
    untagged = {await push(client, n, None) for n in range(1, 30, 2)}
    repo = await stores.repositories.get_repository("repo")
    pages, after = [], ""
    while page := await store.images_page(repo.id, after, 7):
        assert [i.digest for i in page] == sorted(i.digest for i in page)
        assert all(i.digest > after for i in page)
        pages.append(page)
        after = page[-1].digest
    everything = [i.digest for page in pages for i in page]
    assert everything == sorted(tagged | untagged)
    assert {i.digest for i in await store.images_page(repo.id, "", 100, tag_status="TAGGED")} == tagged
    assert {i.digest for i in await store.images_page(repo.id, "", 100, tag_status="UNTAGGED")} == untagged
    assert await store.images_page(repo.id, "", 100, image_status="ARCHIVED") == []
    first = everything[3]
    assert (await store.images_page(repo.id, first, 1, inclusive=True))[0].digest == first
    found = await store.find_images(repo.id, [first], ["t4"])
    assert {i.digest for i in found} == {first, sha256(numbered_manifest(4))}
    assert next(i for i in found if i.digest == sha256(numbered_manifest(4))).tags == ("t4",)


async def test_paging_is_stable_while_images_come_and_go(client):
    registry = client.app[SERVICES]
    store = registry.stores.images
    await push_blob(client, "repo", CONFIG)
    original = [await push(client, n, f"v{n}") for n in range(40)]
    repo = await registry.stores.repositories.get_repository("repo")
    deleted: set[str] = set()
    seen: list[str] = []
    after, round_ = "", 0
    while page := await store.images_page(repo.id, after, 6):
        seen += [i.digest for i in page]
        after = page[-1].digest
        round_ += 1
        await push(client, 1000 + round_, f"new{round_}")  # inserts, before and after the position
        victim = original[(round_ * 7) % len(original)]
        if victim not in seen and victim not in deleted:  # deletes ahead of the position
            assert await registry.stores.manifests.delete_manifest(repo.id, victim)
            deleted.add(victim)
    assert len(seen) == len(set(seen))
    assert set(original) - deleted <= set(seen)
    assert not deleted & set(seen)


async def test_repositories_after_pages_by_name(client):
    store = client.app[SERVICES].core.stores.repositories
    names = [f"r{n:03}" for n in range(25)]
    for name in reversed(names):
        await client.app[SERVICES].ecr.repositories.create(name, [], None, None, False, None)
    seen, after = [], ""
    while page := await store.repositories_after(after, 4):
        seen += [r.name for r in page]
        after = page[-1].name
    assert seen == names


async def test_preview_results_page_by_push_time_then_digest(client):
    registry = client.app[SERVICES]
    await push_blob(client, "repo", CONFIG)
    digests = [await push(client, n, f"t{n}" if n % 2 else None) for n in range(11)]
    repo = await registry.ecr.repositories.store.get_repository("repo")
    results = [
        PreviewResult(d, (f"t{n}",) if n % 2 else (), float(n // 3), "EXPIRE" if n % 4 else "TRANSITION", 1, "STANDARD")
        for n, d in enumerate(digests)
    ]
    await registry.core.stores.lifecycle.save_preview(repo.id, "{}", "COMPLETE", results)
    order = [r.digest for r in sorted(results, key=lambda r: (r.pushed_at, r.digest))]
    seen, after = [], None
    while page := await registry.core.stores.lifecycle.preview_page(repo.id, after, 4):
        seen += [r.digest for r in page]
        after = (page[-1].pushed_at, page[-1].digest)
    assert seen == order
    assert {r.digest: r for r in await registry.core.stores.lifecycle.preview_page(repo.id, None, 100)} == {
        r.digest: r for r in results
    }  # read back as written
    untagged = await registry.core.stores.lifecycle.preview_page(repo.id, None, 100, "UNTAGGED")
    assert {r.digest for r in untagged} == {d for n, d in enumerate(digests) if n % 2 == 0}
    _, _, summary = await registry.core.stores.lifecycle.preview(repo.id)
    assert summary["ANY"] == {"EXPIRE": 8, "TRANSITION": 3}
    assert summary["TAGGED"]["EXPIRE"] + summary["UNTAGGED"]["EXPIRE"] == 8
    by_tag = await registry.core.stores.lifecycle.preview_results(repo.id, [], ["t3"])
    assert [r.digest for r in by_tag] == [digests[3]]


async def test_a_scan_under_way_is_never_run_twice_and_finishes_replace_each_other(client):
    """`kikoto scan` requested a scan that the server's workers could claim and run beside it;
    two processes then inserted the same finding positions (a flaky e2e test on PostgreSQL)."""
    import asyncio

    scans = client.app[SERVICES].features["scanning"].service.scans
    await push_blob(client, "repo", CONFIG)
    digest = await push(client, 1, "v1")
    repo = await client.app[SERVICES].ecr.repositories.store.get_repository("repo")
    assert await scans.begin(repo.id, digest, 100.0, 900.0)  # this caller runs it
    assert await scans.claim(101.0, 900.0) is None  # no worker may take it
    assert not await scans.begin(repo.id, digest, 102.0, 900.0)  # nor another `kikoto scan`
    await scans.request(repo.id, digest, 103.0, manual=True)  # a request leaves it running
    row = await scans.scan(repo.id, digest)
    assert row is not None and row.status == "IN_PROGRESS" and row.manual_at == 103.0
    assert await scans.claim(104.0, 900.0) is None
    assert await scans.claim(2000.0, 900.0) is not None  # a dead claimant's scan is taken over

    def findings(tag: str) -> list[dict]:
        return [{"name": f"{tag}-{n}", "severity": "LOW"} for n in range(50)]

    await asyncio.gather(
        *(
            scans.finish(repo.id, digest, "COMPLETE", "done", {}, findings(f"f{k}"), {"LOW": 50}, 1, 3000.0 + k)
            for k in range(6)
        )
    )
    stored = await scans.findings(repo.id, digest, -1, 1000)
    assert len(stored) == 50 and len({f["name"].split("-")[0] for _, f in stored}) == 1


async def test_a_signed_out_console_session_stays_revoked_until_it_expires(client):
    store = client.app[SERVICES].ecr.identities.store
    assert not await store.session_revoked("s1")
    await store.revoke_session("s1", expires_at=10**12)
    await store.revoke_session("s1", expires_at=10**12)  # signing out twice is no error
    await store.revoke_session("s0", expires_at=1.0)  # already expired: forgotten at the next revocation
    assert await store.session_revoked("s1") and await store.session_revoked("s0")
    await store.revoke_session("s2", expires_at=10**12)
    assert not await store.session_revoked("s0") and await store.session_revoked("s2")


async def test_browsing_pages_by_push_time_or_size_without_index_children_or_referrers(client):
    stores = client.app[SERVICES].core.stores
    store = stores.images
    await push_blob(client, "repo", CONFIG)
    tops = [await push(client, n, f"v{n}") for n in range(12)]
    children = [await push(client, n, None) for n in (100, 101)]
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {"mediaType": OCI_MANIFEST, "digest": d, "size": len(numbered_manifest(n))}
                for d, n in zip(children, (100, 101), strict=True)
            ],
        }
    ).encode()
    assert (await put_manifest(client, "repo", "multi", index, OCI_INDEX)).status == 201
    sbom = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": "application/spdx+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": sha256(CONFIG),
                "size": len(CONFIG),
            },
            "layers": [],
            "subject": {"mediaType": OCI_MANIFEST, "digest": tops[0], "size": len(numbered_manifest(0))},
        }
    ).encode()
    assert (await put_manifest(client, "repo", sha256(sbom), sbom)).status == 201
    repo = await stores.repositories.get_repository("repo")
    records = await store.find_images(repo.id, [*tops, sha256(index)], [])
    for order, key in (("pushed", lambda i: (i.pushed_at, i.digest)), ("size", lambda i: (i.size, i.digest))):
        for descending in (True, False):
            seen, after = [], None
            while page := await store.browse(repo.id, order, descending, after, 5):
                seen += page
                last = page[-1]
                after = (last.size if order == "size" else last.pushed_at, last.digest)
            expected = sorted(records, key=key, reverse=descending)
            assert [i.digest for i in seen] == [i.digest for i in expected], (order, descending)
    newest = (await store.browse(repo.id, "pushed", True, None, 1))[0]
    assert newest.digest == sha256(index) and newest.tags == ("multi",)
    assert [r.digest for r in await store.referrers_of(repo.id, [tops[0], tops[1]])] == [sha256(sbom)]
    assert await store.referrers_of(repo.id, []) == []
