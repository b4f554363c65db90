"""The read caches' contract: valid until anything changes, and one load per miss however
many requests miss together."""

import asyncio

import pytest

from kikoto.storage.changes import ChangeCounter, VersionedCache


@pytest.fixture
def cache(tmp_path):
    return VersionedCache(ChangeCounter(tmp_path / "changes"), max_age=60)


async def test_misses_at_once_share_one_load_and_a_hang_up_does_not_cancel_it(cache):
    loads, release = 0, asyncio.Event()

    async def load():
        nonlocal loads
        loads += 1
        await release.wait()
        return "value"

    waiters = [asyncio.ensure_future(cache.fetch("key", load)) for _ in range(32)]
    await asyncio.sleep(0)
    waiters[0].cancel()  # a client that hung up
    release.set()
    assert await asyncio.gather(*waiters[1:]) == ["value"] * 31
    assert loads == 1
    assert await cache.fetch("key", load) == "value" and loads == 1  # cached now


async def test_a_change_during_the_load_is_not_hidden_by_it(cache):
    async def load():
        cache.changes.bump()  # a write committed while the value was being read
        return "stale"

    assert await cache.fetch("key", load) == "stale"
    fresh = asyncio.Event()

    async def again():
        fresh.set()
        return "fresh"

    assert await cache.fetch("key", again) == "fresh" and fresh.is_set()


async def test_none_is_not_cached_and_without_a_counter_nothing_is(cache, tmp_path):
    calls = []

    async def absent():
        calls.append(1)

    assert await cache.fetch("key", absent) is None and await cache.fetch("key", absent) is None
    assert len(calls) == 2
    uncached = VersionedCache(None, 0)
    assert await uncached.fetch("key", absent) is None and len(calls) == 3


async def test_a_failed_load_fails_every_waiter_and_the_next_fetch_tries_again(cache):
    async def broken():
        await asyncio.sleep(0)
        raise ConnectionError("database away")

    results = await asyncio.gather(*(cache.fetch("key", broken) for _ in range(3)), return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results)

    async def back():
        return "back"

    assert await cache.fetch("key", back) == "back"
