"""Contracts of the stores every subsystem shares (leases, the audit log, storage use, the
outbox and its cursors, the repository record), run on SQLite and on PostgreSQL alike (the
`client` fixture's two databases)."""

from __future__ import annotations

import dataclasses
import time

import pytest

from kikoto.app import SERVICES
from kikoto.domain.audit import Change
from kikoto.domain.events import ImageDeleted, ImagePushed, ImageScanned

from ..helpers import SHARED_CONFIG, numbered_manifest, push_blob, put_manifest, sha256


async def push(client, repository: str, n: int, tag: str) -> str:
    content = numbered_manifest(n)
    response = await put_manifest(client, repository, tag, content)
    assert response.status == 201, await response.text()
    return sha256(content)


async def test_a_lease_has_one_holder_until_it_expires_or_is_released(client):
    leases = client.app[SERVICES].core.stores.leases
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
    audit = client.app[SERVICES].core.stores.audit
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


async def test_the_audit_log_keeps_who_from_where_and_how_and_filters_by_each(client):
    audit = client.app[SERVICES].core.stores.audit
    arn = "arn:aws:iam::000000000000:user/" + "a-principal-with-a-long-name" * 4  # ARNs pass 64 characters
    changes = [
        Change(arn, "PutImage", "192.0.2.7", "ok", "web", "sha256:1", "1.0"),
        Change(arn, "PutImage", "192.0.2.7", "ImageTagAlreadyExistsException", "web", None, "1.0"),
        Change("cli:root", "keys create", "local", detail={"name": "ci"}),
        Change(arn, "PutManifest", "192.0.2.8", "ok", "web", "sha256:2", "2.0"),
    ]
    await audit.record([c.row() for c in changes])
    await audit.record([{"actor": "gc", "action": "GC"}])  # the older shape: outcome and source absent
    newest = (await audit.events(None, 1, tag="2.0"))[0]
    assert (newest["actor"], newest["source"], newest["outcome"], newest["tag"]) == (arn, "192.0.2.8", "ok", "2.0")
    assert [e["outcome"] for e in await audit.events("web", 10, tag="1.0")] == ["ImageTagAlreadyExistsException", "ok"]
    refused = await audit.events(None, 10, outcome="refused")
    assert [e["action"] for e in refused] == ["PutImage"]
    assert [e["action"] for e in await audit.events(None, 10, outcome="ok")] == [
        "GC",
        "PutManifest",
        "keys create",
        "PutImage",
    ]
    assert [e["detail"] for e in await audit.events(None, 10, actor="cli:root")] == [{"name": "ci"}]


async def test_storage_use_counts_each_blob_once(client):
    usage = client.app[SERVICES].core.stores.usage
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
    outbox = core.stores.outbox
    await push_blob(client, "app", SHARED_CONFIG)
    assert await outbox.follow("late") == await outbox.last_event_id()  # follows from now on
    digest = await push(client, "app", 1, "v1")
    await outbox.record([ImageScanned(repository="app", digest=digest, severity_counts={"LOW": 1}, tags=("v1",))])
    repo = await core.stores.repositories.get_repository("app")
    assert await core.stores.manifests.delete_manifest(repo.id, digest, "v1")
    position, changes = await outbox.changes_for("late", 10)
    assert [type(c) for c in changes] == [ImagePushed, ImageScanned, ImageDeleted]
    pushed, scanned, deleted = changes
    assert pushed.tag == "v1" and pushed.media_type and pushed.is_image and pushed.digest == digest
    assert scanned.severity_counts == {"LOW": 1} and scanned.tags == ("v1",)
    assert deleted.tag == "v1" and deleted.id > scanned.id > pushed.id > position
    assert await outbox.events_after(position, 10) == changes and await outbox.cursor("late") == position
    await outbox.advance("late", scanned.id)
    await outbox.advance("late", pushed.id)  # a cursor never moves back
    _, rest = await outbox.changes_for("late", 10)
    assert rest == [deleted]
    await outbox.forget_cursor("late")
    assert (await outbox.changes_for("late", 10))[1] == []  # a forgotten consumer starts afresh


async def test_a_repository_is_one_record_by_name_or_id(client):
    core = client.app[SERVICES].core
    await client.app[SERVICES].ecr.repositories.create("team/app", [], None, None, True, None)
    store = core.stores.repositories
    by_store = await store.get_repository("team/app")
    by_pull, by_admin = await core.repositories.get("team/app"), await core.admin.get("team/app")
    assert by_store == by_pull == by_admin and by_store is not None and by_store.scan_on_push
    assert await store.repository_name(by_store.id) == "team/app"
    assert await store.get_repository("missing") is None and await store.repository_name(-1) is None


async def test_principals_and_keys(client):
    from kikoto.storage.meta.identities import AlreadyExists

    store = client.app[SERVICES].core.identities.store
    before = await store.count_principals()
    ci = await store.create_principal("ci", '{"Version": "2012-10-17", "Statement": []}')
    assert await store.count_principals() == before + 1 and (await store.principal("ci")) == ci
    with pytest.raises(AlreadyExists):
        await store.create_principal("ci", "{}")
    await store.add_key(ci.id, "AKIACI00000000000001", "sealed")
    with pytest.raises(AlreadyExists):
        await store.add_key(ci.id, "AKIACI00000000000001", "again")
    key = await store.key("AKIACI00000000000001")
    assert key is not None and key.principal == ci and key.secret == "sealed" and key.status == "Active"
    assert await store.set_key_status("AKIACI00000000000001", "Inactive")
    assert not await store.set_key_status("AKIANOSUCHKEY0000000", "Inactive")
    assert {k.id: k.status for k in await store.keys()}["AKIACI00000000000001"] == "Inactive"
    assert await store.principal("nobody") is None and await store.key("AKIANOSUCHKEY0000000") is None
    await store.set_policy(ci.id, "{}")
    assert (await store.principal("ci")).policy == "{}"


async def test_uploads_advance_by_compare_and_set(client):
    stores = client.app[SERVICES].core.stores
    repo = await stores.repositories.ensure_repository("app")
    assert await stores.repositories.ensure_repository("app") == repo  # idempotent
    meta = stores.uploads
    upload = await meta.create_upload("5d1f6c1e-0000-4000-8000-000000000001", repo.id, "sha256")
    assert upload.offset == 0 and await meta.get_upload(upload.id, "app") == upload
    assert await meta.get_upload(upload.id, "other") is None  # another repository's upload is not found
    assert await meta.advance_upload(upload.id, 0, 100)
    assert not await meta.advance_upload(upload.id, 0, 200)  # a stale writer loses
    assert (await meta.get_upload(upload.id, "app")).offset == 100
    assert await meta.delete_upload(upload.id) and not await meta.delete_upload(upload.id)


async def test_tags_list_by_key_and_delete_one(client):
    core = client.app[SERVICES].core
    await push_blob(client, "app", SHARED_CONFIG)
    digest = await push(client, "app", 1, "b")
    for tag in ("c", "a"):
        response = await put_manifest(client, "app", tag, numbered_manifest(1))
        assert response.status == 201
    repo = await core.stores.repositories.get_repository("app")
    assert await core.stores.manifests.list_tags(repo.id, None, None) == ["a", "b", "c"]
    assert await core.stores.manifests.list_tags(repo.id, 1, "a") == ["b"]
    assert (await core.stores.manifests.find_manifest("app", tag="c")).digest == digest
    assert await core.stores.manifests.delete_tag(repo.id, "b") and not await core.stores.manifests.delete_tag(
        repo.id, "b"
    )
    assert await core.stores.manifests.list_tags(repo.id, None, None) == ["a", "c"]
    assert "app" in await core.stores.repositories.list_repositories(None, None)


async def test_registry_documents_and_creation_templates(client):
    from kikoto.domain.templates import CreationTemplate

    store = client.app[SERVICES].core.stores.documents
    assert await store.document("registry_policy") is None
    await store.put_document("registry_policy", "{}")
    assert await store.document("registry_policy") == "{}"
    await store.put_document("registry_policy", None)
    assert await store.document("registry_policy") is None
    template = CreationTemplate("team", ("CREATE_ON_PUSH",), resource_tags=[{"Key": "a", "Value": "b"}])
    created = await store.put_template(template, create=True)
    assert created is not None and created.created_at == created.updated_at > 0
    assert await store.put_template(template, create=True) is None  # taken
    assert await store.put_template(CreationTemplate("nope"), create=False) is None  # missing
    [read] = await store.templates()
    assert read == created
    assert await store.delete_template("team") == created and await store.delete_template("team") is None


async def test_pull_through_rules_checks_and_secrets(client):
    from kikoto.features.pull_through.model import Rule, SecretRow

    store = client.app[SERVICES].features["pull_through"].service.store
    rule = Rule("hub", "docker-hub", "registry-1.docker.io", None, None, "ROOT", 1.0, 1.0)
    assert await store.add_rule(rule) and not await store.add_rule(rule)  # a prefix is one rule
    assert await store.update_rule("hub", credential_arn="arn:x", updated_at=2.0)
    assert not await store.update_rule("nope", credential_arn="arn:x")
    [stored] = await store.rules()
    assert stored.credential_arn == "arn:x" and stored.updated_at == 2.0 and stored.upstream_url == rule.upstream_url
    repo = await client.app[SERVICES].core.stores.repositories.ensure_repository("hub/library/alpine")
    await store.mark_repository("hub/library/alpine", "hub")
    assert (await client.app[SERVICES].core.stores.repositories.get_repository("hub/library/alpine")).upstream == "hub"
    assert await store.checked_at(repo.id, "latest") is None
    await store.mark_checked(repo.id, "latest", 5.0)
    await store.mark_checked(repo.id, "latest", 6.0)  # the newest check wins
    assert await store.checked_at(repo.id, "latest") == 6.0
    assert await store.delete_rule("hub") and not await store.delete_rule("hub")
    secret = SecretRow(
        "ecr-pullthroughcache/a", "arn:aws:secretsmanager:r:1:secret:a-x", "v", "1", None, [], 1.0, 1.0, None
    )
    assert await store.add_secret(secret) and not await store.add_secret(secret)
    assert await store.secret(secret.name) == secret and await store.secret(secret.arn) == secret
    await store.add_secret(dataclasses.replace(secret, name="ecr-pullthroughcache/b", arn="arn:b"))
    await store.update_secret("ecr-pullthroughcache/b", deletion_date=9.0)  # scheduled for deletion: not listed
    assert [r.name for r in await store.list_secrets(None, 10)] == [secret.name]
    await store.delete_secret(secret.name)
    assert await store.secret(secret.name) is None


async def test_webhook_targets_and_deliveries(client):
    from kikoto.features.events.store import Target

    store = client.app[SERVICES].features["events"].service.store
    target = Target("hook", "https://example.test/", None, None, False, 1.0)
    assert await store.add_target(target) and not await store.add_target(target)
    assert await store.targets() == [target]
    await store.save_delivery("hook", 7, "pending", 1, 10.0, "refused")
    await store.save_delivery("hook", 7, "failed", 2, 20.0, "refused again")  # one row per target and event
    await store.save_delivery("hook", 8, "delivered", 1, 30.0, None)
    delivery = await store.delivery("hook", 7)
    assert delivery is not None and (delivery.status, delivery.attempts, delivery.last_error) == (
        "failed",
        2,
        "refused again",
    )
    assert await store.delivery_by_id(delivery.id) == delivery and await store.delivery("hook", 9) is None
    assert [d.event_id for d in await store.deliveries("hook", False, 10)] == [8, 7]  # newest first
    assert [d.event_id for d in await store.deliveries(None, True, 10)] == [7]  # dead-lettered only
    assert await store.remove_target("hook") and not await store.remove_target("hook")
    assert await store.targets() == [] and await store.deliveries("hook", False, 10) == []  # its records go too


async def test_replication_peers_work_items_and_backfills(client):
    from kikoto.features.replication.store import Backfill, Peer

    store = client.app[SERVICES].features["replication"].service.store
    peer = Peer("eu-west-1", "111111111111", "https://peer.test", "kikoto", "AKIA", "sealed", 1.0)
    await store.add_peer(peer)
    await store.add_peer(dataclasses.replace(peer, url="https://other.test"))  # replaces: one per destination
    assert [p.url for p in await store.peers()] == ["https://other.test"]
    assert await store.remove_peer("eu-west-1", "111111111111") and not await store.remove_peer("eu-west-1", "1")
    item = {"region": "eu-west-1", "registry_id": "111111111111", "repository": "app", "digest": "sha256:a"}
    position = await store.follow("replication-test")
    assert await store.derive_items("replication-test", position, [{**item, "event_id": 1, "action": "REPLICATE"}], 5)
    assert not await store.derive_items("replication-test", position, [], 6)  # another process moved it first
    backfill = Backfill("bf-1", "eu-west-1", "111111111111", "IN_PROGRESS", 1.0, None, None)
    await store.add_backfill(backfill, [{**item, "digest": f"sha256:{n}", "action": "REPLICATE"} for n in range(3)])
    assert await store.backfill("bf-1") == backfill and await store.backfill("bf-2") is None
    assert [b.id for b in await store.backfills(None, 10)] == ["bf-1"] and await store.backfills("bf-1", 10) == []
    claimed = await store.claim("me", 60.0, 10)
    assert len(claimed) == 4 and await store.claim("you", 60.0, 10) == []  # one claimant each
    first = next(i for i in claimed if i.backfill_id == "bf-1")
    await store.finish_item(first.id, "you", "COMPLETE")  # only the claimant records an outcome
    await store.finish_item(first.id, "me", "COMPLETE")
    await store.stop_items("bf-1")
    assert await store.backfill_counts("bf-1") == {"COMPLETE": 1, "STOPPED": 2}
    assert [i.id for i in await store.backfill_items("bf-1", None, 0, 10)] == [first.id]
    await store.set_backfill("bf-1", "STOPPED", 9.0)
    assert (await store.backfill("bf-1")).ended_at == 9.0
    [latest] = await store.statuses("app", "sha256:a")  # the latest item per destination
    assert latest.event_id == 1 and latest.status == "IN_PROGRESS"


async def test_signing_keys_and_statuses(client):
    store = client.app[SERVICES].features["signing"].service.store
    repo_id = (await client.app[SERVICES].core.stores.repositories.ensure_repository("app")).id
    assert await store.add_key("release", "sealed-key", "chain") and not await store.add_key("release", "x", "y")
    assert [k.name for k in await store.keys()] == ["release"] and (
        await store.key("release")
    ).certificate_chain == "chain"
    await store.set_status(repo_id, "sha256:a", "arn:profile", "IN_PROGRESS")
    await store.set_status(repo_id, "sha256:a", "arn:profile", "FAILED", "SigningFailed", "no key")  # replaces
    [status] = await store.statuses(repo_id, "sha256:a")
    assert (status.status, status.failure_code, status.failure_reason) == ("FAILED", "SigningFailed", "no key")
    await store.set_status(repo_id, "sha256:b", "arn:profile", "IN_PROGRESS")
    assert await store.stale(time.time() + 60) == [(repo_id, "sha256:b", "arn:profile")]  # only what is in progress
    assert await store.stale(0.0) == []


async def test_principals_hold_keys_inline_policies_and_tags_until_deleted(client):
    identities = client.app[SERVICES].core.identities.store
    empty = '{"Version": "2012-10-17", "Statement": []}'
    made = [await identities.create_principal(name, empty) for name in ("carol", "bob", "dave")]
    names = [p.name for p in await identities.principals_page("", 100)]
    assert names == sorted(names) and {"bob", "carol", "dave"} <= set(names)
    assert [p.name for p in await identities.principals_page("bob", 1)] == ["carol"]  # by key
    carol = made[0]
    assert (await identities.principal("carol")).created_at > 0
    for key_id in ("AKIACONTRACT0000001", "AKIACONTRACT0000002"):
        await identities.add_key(carol.id, key_id, "encrypted")
    assert [k.id for k in await identities.principal_keys(carol.id)] == ["AKIACONTRACT0000001", "AKIACONTRACT0000002"]
    assert await identities.delete_key("AKIACONTRACT0000001") and not await identities.delete_key("AKIACONTRACT0000001")
    await identities.put_document(carol.id, "pull", '{"a": 1}')
    await identities.put_document(carol.id, "pull", '{"a": 2}')  # replaced
    await identities.put_document(carol.id, "audit", '{"b": 1}')
    assert await identities.documents(carol.id) == {"audit": '{"b": 1}', "pull": '{"a": 2}'}
    assert await identities.delete_document(carol.id, "audit") and not await identities.delete_document(carol.id, "x")
    await identities.set_tags(carol.id, {"team": "web", "stage": "prod"})
    await identities.set_tags(carol.id, {"team": "db"})
    await identities.remove_tags(carol.id, ["stage", "absent"])
    assert await identities.principal_tags(carol.id) == {"team": "db"}
    await identities.delete_principal(carol.id)
    assert await identities.principal("carol") is None and await identities.key("AKIACONTRACT0000002") is None
    assert await identities.documents(carol.id) == {} and await identities.principal_tags(carol.id) == {}


async def test_roles_providers_and_session_keys(client):
    store = client.app[SERVICES].core.identities.store
    role = await store.create_role("ci-push", '{"trust": 1}', 3600)
    assert await store.role("ci-push") == role and await store.role("absent") is None
    await store.set_trust(role.id, '{"trust": 2}')
    assert (await store.role("ci-push")).trust_policy == '{"trust": 2}'
    await store.set_role_tags(role.id, {"team": "web"})
    assert (await store.role("ci-push")).tags == {"team": "web"}
    await store.put_role_document(role.id, "push", '{"a": 1}')
    await store.put_role_document(role.id, "push", '{"a": 2}')
    assert await store.role_documents(role.id) == {"push": '{"a": 2}'}
    assert await store.delete_role_document(role.id, "push") and not await store.delete_role_document(role.id, "push")
    issuer = await store.add_provider("token.example", "https://token.example", ["sts.amazonaws.com"])
    assert await store.provider("token.example") == issuer and await store.providers() == [issuer]
    now = time.time()
    await store.add_session_key(
        "ASIACONTRACT0000001", role.id, "run-1", "sealed", "ab" * 32, now + 900, {"stage": "ci"}
    )
    await store.add_session_key("ASIACONTRACT0000002", role.id, "run-0", "sealed", "cd" * 32, now - 1)
    await store.add_session_key("ASIACONTRACT0000003", role.id, "run-2", "sealed", "ef" * 32, now + 900)
    assert await store.session_key("ASIACONTRACT0000002") is None  # expired ones are forgotten
    found = await store.session_key("ASIACONTRACT0000001")
    assert (found.role.name, found.session_name, found.token_hash) == ("ci-push", "run-1", "ab" * 32)
    assert (found.tags, found.role.tags) == ({"stage": "ci"}, {"team": "web"})
    assert await store.delete_provider("token.example") and await store.providers() == []
    await store.delete_role(role.id)
    assert await store.role("ci-push") is None and await store.session_key("ASIACONTRACT0000001") is None


async def test_groups_managed_policies_and_attachments(client):
    store = client.app[SERVICES].core.identities.store
    alice = await store.create_principal("alice", '{"Statement": []}')
    group = await store.create_group("builders")
    assert await store.group("builders") == group and await store.group("absent") is None
    await store.add_member(group.id, alice.id)
    await store.add_member(group.id, alice.id)  # once is enough
    assert [g.name for g in await store.groups_of(alice.id)] == ["builders"]
    assert [m.name for m in await store.members(group.id)] == ["alice"]
    await store.put_group_document(group.id, "pull", '{"g": 1}')
    assert await store.group_documents(group.id) == {"pull": '{"g": 1}'}
    assert await store.delete_group_document(group.id, "pull") and not await store.delete_group_document(
        group.id, "pull"
    )
    managed = await store.create_managed("ci-pull", '{"v": 1}')
    assert await store.managed("ci-pull") == managed and [m.name for m in await store.managed_page("", 10)] == [
        "ci-pull"
    ]
    assert await store.add_version(managed.id, '{"v": 2}', default=False) == 2
    assert await store.default_documents(["ci-pull", "absent"]) == {"ci-pull": '{"v": 1}'}
    assert await store.add_version(managed.id, '{"v": 3}', default=True) == 3
    assert await store.default_documents(["ci-pull"]) == {"ci-pull": '{"v": 3}'}
    assert [v for v, _, _ in await store.versions(managed.id)] == [1, 2, 3]
    arn = "arn:aws:iam::000000000000:policy/ci-pull"
    await store.attach("group", group.id, arn)
    await store.attach("user", alice.id, arn)
    await store.attach("user", alice.id, arn)
    assert await store.attached("user", alice.id) == [arn] and await store.attachment_count(arn) == 2
    assert await store.detach("user", alice.id, arn) and not await store.detach("user", alice.id, arn)
    await store.remove_member(group.id, alice.id)
    assert await store.groups_of(alice.id) == []
    await store.delete_group(group.id)
    assert await store.attachment_count(arn) == 0 and await store.group("builders") is None
    await store.delete_managed(managed.id)
    assert await store.managed("ci-pull") is None and await store.versions(managed.id) == []


async def test_accounts_are_created_once_listed_by_id_and_hold_their_keys_range(client):
    core = client.app[SERVICES].core
    store = core.stores.accounts
    assert await store.create_account("222233334444", "team-b") is not None
    assert await store.create_account("111122223333", None) is not None
    assert await store.create_account("222233334444", None) is None  # the id is taken
    assert await store.create_account("333344445555", "team-b") is None  # so is the alias
    assert [a.id for a in await store.accounts()] == ["111122223333", "222233334444"]
    assert (await store.account("222233334444")).alias == "team-b"
    assert await store.account("999999999999") is None
    await core.stores.repositories.ensure_repository("~222233334444/app")
    await core.stores.repositories.ensure_repository("app")
    await core.identities.create("b-user", None, account="222233334444")
    assert await store.holdings("222233334444", ("~222233334444/", "~2222333344440")) == (1, 1)
    assert await store.holdings("111122223333", ("~111122223333/", "~1111222233330")) == (0, 0)
    assert await store.delete_account("111122223333")
    assert not await store.delete_account("111122223333")


# Every public method of every store has a contract in the test_*contract*.py modules (a method
# counts as covered when a contract calls a method of its name: SigningStore's keys share
# IdentityStore's names). A new store method comes with its contract.


def test_every_store_method_has_a_contract():
    import ast
    import re
    from pathlib import Path

    src = Path(__file__).resolve().parents[2] / "src" / "kikoto"
    here = Path(__file__).read_text()
    others = [p for p in Path(__file__).parent.glob("test_*contract*.py") if p.name != Path(__file__).name]
    contracts = "".join(p.read_text() for p in others) + here[: here.index("# Every public method of every store")]
    methods = set()
    for path in [*(src / "storage" / "meta").glob("*.py"), *(src / "features").glob("*/store.py")]:
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ClassDef) and node.name.endswith("Store") and path.name != "ports.py":
                methods |= {
                    f"{node.name}.{m.name}"
                    for m in node.body
                    if isinstance(m, ast.FunctionDef | ast.AsyncFunctionDef) and not m.name.startswith("_")
                }
    covered = {m for m in methods if re.search(rf"\.{m.split('.')[1]}\(", contracts)}
    assert methods - covered == set(), "these store methods need a contract"
