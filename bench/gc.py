"""Garbage collection at size: DEAD unreferenced blobs among LIVE referenced ones, then one `gc`
run, beside the physical limit its deletes work against, measured in the same run: the rate at
which the same disk unlinks as many small files in sharded folders (one thread, and as many
threads as GC unlinks with), or, on S3, at which the same store deletes as many objects in
DeleteObjects requests of a thousand.

    .venv/bin/python bench/gc.py [DEAD [LIVE]]        # SQLite + disk; 1,000,000 and 100,000 by default
    .venv/bin/python bench/gc.py --s3 [DEAD [LIVE]]   # PostgreSQL + SeaweedFS; 100,000 and 10,000
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import obstore
import psutil
from prepared import fresh_registry

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kikoto.app import compose, prepare  # noqa: E402
from kikoto.config import Settings  # noqa: E402
from kikoto.storage.blobs.s3 import S3BlobStore  # noqa: E402
from tests.garbage import Blobs, digests, fill_postgres, leave_garbage, write_files  # noqa: E402
from tests.pg import PostgresServer  # noqa: E402
from tests.weed import ACCESS_KEY, SECRET_KEY, SeaweedServer  # noqa: E402


def unlink_rates(beside: Path, count: int) -> tuple[float, float]:
    """Small files unlinked per second, by one thread and by eight, in the store's layout."""
    rates = []
    for threads in (1, 8):
        root = Path(tempfile.mkdtemp(dir=beside, prefix="raw-"))
        blobs = digests(f"raw{threads}", count)
        write_files(root, blobs)
        paths = [root / name[:2] / name for name in blobs]
        os.sync()
        started = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            for _ in pool.map(os.unlink, paths, chunksize=16):
                pass
        rates.append(count / (time.perf_counter() - started))
        shutil.rmtree(root)
    return rates[0], rates[1]


async def put_objects(store, prefix: str, *kinds: Blobs, concurrency: int = 64) -> None:
    queue = ((blobs, i, name) for blobs in kinds for i, name in enumerate(blobs))

    async def worker() -> None:
        for blobs, i, name in queue:
            await obstore.put_async(store, prefix + name, blobs.content(i))

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def bulk_delete_rate(store, count: int) -> float:
    blobs = digests("raw", count)
    await put_objects(store, "raw/", blobs)
    keys = [f"raw/{name}" for name in blobs]
    started = time.perf_counter()
    for i in range(0, count, 1000):
        await obstore.delete_async(store, keys[i : i + 1000])
    return count / (time.perf_counter() - started)


async def collect(settings: Settings) -> tuple[int, float]:
    registry = compose(settings)
    rss = psutil.Process().memory_info().rss
    started = time.perf_counter()
    summary = await registry.gc.run(grace=0)
    elapsed = time.perf_counter() - started
    grown = (psutil.Process().memory_info().rss - rss) / 2**20
    await registry.close()
    print(
        f"gc freed {summary.blobs:,} blobs in {elapsed:.1f} s ({summary.blobs / elapsed:,.0f} blobs/s), "
        f"RSS +{grown:.1f} MiB",
        flush=True,
    )
    return summary.blobs, elapsed


def on_disk(dead_count: int, live_count: int) -> None:
    started = time.perf_counter()
    settings = fresh_registry("gc")
    leave_garbage(settings.data_dir, digests("dead", dead_count), digests("live", live_count))
    os.sync()
    print(f"{dead_count:,} dead and {live_count:,} live blobs set up in {time.perf_counter() - started:.0f} s")
    one, eight = unlink_rates(settings.data_dir.parent, dead_count)
    print(f"the disk unlinks {one:,.0f} small files/s in sharded folders with one thread, {eight:,.0f} with eight")
    freed, elapsed = asyncio.run(collect(settings))
    assert freed == dead_count, f"gc freed {freed}, expected {dead_count}"
    remaining = sum(1 for path in (settings.data_dir / "blobs" / "sha256").rglob("*") if path.is_file())
    assert remaining == live_count, f"{remaining} files remain, expected {live_count}"
    rate = freed / elapsed
    print(f"gc ran at {rate / one:.0%} of one thread's unlink rate, {rate / eight:.0%} of eight's; live blobs kept")
    shutil.rmtree(settings.data_dir.parent)


def on_s3(dead_count: int, live_count: int) -> None:
    postgres, weed = PostgresServer(durable=True).start(), SeaweedServer().start("gc-bench")
    os.environ.update(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY, AWS_REGION="us-east-1")
    try:
        started = time.perf_counter()
        settings = fresh_registry("gc")  # a data directory for the keys; the metadata goes to PostgreSQL
        settings = dataclasses.replace(
            settings,
            database_url=postgres.create_database("gc"),
            blob_store="s3://gc-bench/registry",
            s3_endpoint_url=weed.endpoint,
        )
        prepare(settings)
        dead, live = digests("dead", dead_count), digests("live", live_count)
        fill_postgres(settings.database_url, dead, live)
        store = S3BlobStore(settings.blob_store, endpoint_url=weed.endpoint).store
        asyncio.run(put_objects(store, "blobs/sha256/", dead, live))
        print(f"{dead_count:,} dead and {live_count:,} live blobs set up in {time.perf_counter() - started:.0f} s")
        raw = asyncio.run(bulk_delete_rate(store, dead_count))
        print(f"SeaweedFS deletes {raw:,.0f} objects/s in DeleteObjects requests of a thousand")
        freed, elapsed = asyncio.run(collect(settings))
        assert freed == dead_count, f"gc freed {freed}, expected {dead_count}"
        print(f"gc ran at {freed / elapsed / raw:.0%} of the bulk delete rate")
    finally:
        weed.stop()
        postgres.stop()


if __name__ == "__main__":
    s3 = "--s3" in sys.argv
    numbers = [int(a.replace(",", "").replace("_", "")) for a in sys.argv[1:] if not a.startswith("--")]
    defaults = [100_000, 10_000] if s3 else [1_000_000, 100_000]
    dead, live = (numbers + defaults[len(numbers) :])[:2]
    (on_s3 if s3 else on_disk)(dead, live)
