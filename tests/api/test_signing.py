"""Managed signing inside the app: a signing left IN_PROGRESS by a process that died is signed
again by the scheduler's job, and a profile without its key fails as ECR reports it."""

from __future__ import annotations

import json
import time

from kikoto.app import SERVICES

from ..helpers import push_image


async def test_a_signing_whose_process_died_is_resumed(client):
    registry = client.app[SERVICES]
    profile, _ = await registry.features["signing"].service.create_key("resumer")
    _, digest = await push_image(client, "app", "v1")
    repo = await registry.stores.repositories.get_repository("app")
    await registry.features["signing"].service.store.set_status(repo.id, digest, profile, "IN_PROGRESS")
    registry.features["signing"].service.store._clock = lambda: time.time() - 3600  # noqa: SLF001 - an hour ago
    await registry.features["signing"].service.store.set_status(repo.id, digest, profile, "IN_PROGRESS")
    registry.features["signing"].service.store._clock = time.time
    assert await registry.features["signing"].service.resume_stale(registry.stores.repositories.repository_name) == 1
    [status] = await registry.features["signing"].service.statuses(repo.id, digest)
    assert status.status == "COMPLETE"
    referrers = await (await client.get(f"/v2/app/referrers/{digest}")).json()
    assert [m["artifactType"] for m in referrers["manifests"]] == ["application/vnd.cncf.notary.signature"]


async def test_a_profile_without_its_key_fails(client):
    registry = client.app[SERVICES]
    _, digest = await push_image(client, "app", "v1")
    repo = await registry.stores.repositories.get_repository("app")
    missing = registry.features["signing"].service.profile_arn("gone")
    assert await registry.features["signing"].service.sign("app", repo.id, digest, missing) == "FAILED"
    [status] = await registry.features["signing"].service.statuses(repo.id, digest)
    assert (status.status, status.failure_code) == ("FAILED", "SigningProfileNotFound")


async def test_pushes_to_covered_repositories_are_signed_in_the_background(client):
    registry = client.app[SERVICES]
    profile, _ = await registry.features["signing"].service.create_key("pusher")
    config = {
        "rules": [
            {"signingProfileArn": profile, "repositoryFilters": [{"filter": "team/*", "filterType": "WILDCARD_MATCH"}]}
        ]
    }
    await registry.features["signing"].service.put_configuration(config)
    _, covered = await push_image(client, "team/app", "v1")
    _, other = await push_image(client, "other", "v1", seed="o")
    await registry.features["signing"].service.settle()
    team, plain = (
        await registry.stores.repositories.get_repository("team/app"),
        await registry.stores.repositories.get_repository("other"),
    )
    assert [s.status for s in await registry.features["signing"].service.statuses(team.id, covered)] == ["COMPLETE"]
    assert await registry.features["signing"].service.statuses(plain.id, other) == []
    assert json.loads(json.dumps(await registry.features["signing"].service.configuration())) == config
