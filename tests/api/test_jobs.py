"""The scheduler's lease (one runner per interval across processes), metrics and health."""

import json

from kikoto.app import SERVICES
from kikoto.jobs.scheduler import Scheduler

from ..helpers import push_blob, push_image


async def test_one_scheduler_runs_each_job_per_interval(client):
    registry = client.app[SERVICES]
    first = Scheduler(registry.stores.leases, registry.lifecycle, registry.gc, 3600, 3600)
    second = Scheduler(registry.stores.leases, registry.lifecycle, registry.gc, 3600, 3600)
    assert sorted(await first.tick()) == ["gc", "lifecycle"]
    assert await second.tick() == []  # another process holds both leases
    assert await first.tick() == []  # and the holder does not run again before the interval is over


async def test_a_job_whose_runner_died_is_taken_over(client):
    import asyncio

    registry = client.app[SERVICES]
    dying = Scheduler(registry.stores.leases, registry.lifecycle, registry.gc, 3600, 0, claim=0.2)
    assert await registry.stores.leases.acquire("job:lifecycle", dying.holder, 0.2)  # claimed, then "died"
    other = Scheduler(registry.stores.leases, registry.lifecycle, registry.gc, 3600, 0, claim=0.2)
    assert await other.tick() == []  # the claim still holds
    await asyncio.sleep(0.3)
    assert await other.tick() == ["lifecycle"]  # taken over once the claim lapsed
    assert await other.tick() == []  # and now not due again for an interval


async def test_scheduled_lifecycle_applies_policies(client):
    registry = client.app[SERVICES]
    for n in range(3):
        await push_image(client, "sched", f"v{n}", seed=str(n))
    policy = json.dumps(
        {
            "rules": [
                {
                    "rulePriority": 1,
                    "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 1},
                    "action": {"type": "expire"},
                }
            ]
        }
    )
    await registry.ecr.repositories.store.update_repository("sched", {"lifecycle_policy": policy})
    await Scheduler(registry.stores.leases, registry.lifecycle, registry.gc, 60, 0).run_lifecycle()
    tags = await (await client.get("/v2/sched/tags/list")).json()
    assert tags["tags"] == ["v2"]


async def test_a_scheduled_gc_shows_its_progress_in_the_metrics_while_it_runs(client):
    from kikoto.http.metrics import GC_BLOBS, GC_POSITION

    registry = client.app[SERVICES]
    for n in range(3):
        await push_blob(client, "junk", f"dead {n}".encode())
    scraped: list[str] = []
    collect = registry.stores.housekeeping.collect

    async def collecting(digests, cutoff):  # scrape /metrics between two batches of the run
        scraped.append(await (await client.get("/metrics")).text())
        return await collect(digests, cutoff)

    registry.stores.housekeeping.collect = collecting
    registry.gc.grace = 0
    before = GC_BLOBS._value.get()
    await Scheduler(registry.stores.leases, registry.lifecycle, registry.gc, 0, 60).run_gc()
    assert "kikoto_gc_position 0.0" in scraped[0]  # the run had begun, at the start of the key space
    assert GC_BLOBS._value.get() - before == 3 and GC_POSITION._value.get() == 1.0
    body = await (await client.get("/metrics")).text()
    assert "kikoto_gc_position 1.0" in body and "kikoto_gc_blobs_total" in body


async def test_a_running_job_keeps_its_lease_past_one_claim(client):
    import asyncio

    registry = client.app[SERVICES]
    runner = Scheduler(registry.stores.leases, registry.lifecycle, registry.gc, 3600, 0, claim=0.3)
    other = Scheduler(registry.stores.leases, registry.lifecycle, registry.gc, 3600, 0, claim=0.3)
    taken: list[list[str]] = []

    async def long_lifecycle() -> None:  # a job three claims long: the other must not start it too
        for _ in range(4):
            await asyncio.sleep(0.25)
            taken.append(await other.tick())

    runner.jobs["lifecycle"] = (3600, long_lifecycle)
    other.jobs["lifecycle"] = (3600, long_lifecycle)
    assert await runner.tick() == ["lifecycle"]
    assert taken == [[], [], [], []]


async def test_metrics_and_health(client):
    await push_image(client, "measured", "v1")
    body = await (await client.get("/metrics")).text()
    assert 'kikoto_repository_images{repository="measured"} 1.0' in body
    assert "kikoto_stored_bytes" in body
    assert (await (await client.get("/healthz")).json()) == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status == 200 and (await ready.json())["status"] == "ready"


async def test_readyz_reports_an_unwritable_blob_store(client):
    import os

    registry = client.app[SERVICES]
    blobs = registry.settings.data_dir / "blobs"
    os.chmod(blobs, 0o500)
    try:
        if os.access(blobs, os.W_OK):  # root ignores permissions: make the probe path a directory
            (blobs / ".readyz").mkdir()
        response = await client.get("/readyz")  # degraded, still in rotation: see readyz_handler
        assert response.status == 200
        assert await response.json() == {"status": "degraded", "blob_store": "unavailable"}
    finally:
        os.chmod(blobs, 0o755)
