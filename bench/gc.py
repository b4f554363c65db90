"""Garbage collection throughput: N unreferenced blobs (rows, repository links and files, as
abandoned pushes leave them), then one `gc` run on the embedded default (SQLite + disk).

    .venv/bin/python bench/gc.py 100000
"""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import sys
import time

import psutil
from prepared import fresh_registry

from kikoto.app import compose
from kikoto.config import Settings


def setup(count: int) -> Settings:
    settings = fresh_registry("gc")
    data = settings.data_dir
    rows = []
    for i in range(count):
        content = f"dead {i}".encode() * 40
        encoded = hashlib.sha256(content).hexdigest()
        folder = data / "blobs" / "sha256" / encoded[:2]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / encoded).write_bytes(content)
        rows.append(("sha256:" + encoded, len(content)))
    db = sqlite3.connect(data / "kikoto.db")
    with db:
        db.execute("INSERT INTO repositories (name, created_at) VALUES ('junk', 0)")
        repo = db.execute("SELECT id FROM repositories WHERE name = 'junk'").fetchone()[0]
        db.executemany("INSERT INTO blobs (digest, size, created_at, tier) VALUES (?, ?, 0, 'standard')", rows)
        db.executemany(
            "INSERT INTO repo_blobs (repo_id, digest, linked_at) VALUES (?, ?, 0)",
            [(repo, digest) for digest, _ in rows],
        )
    return settings


async def run(settings: Settings) -> None:
    registry = compose(settings)
    rss = psutil.Process().memory_info().rss
    started = time.perf_counter()
    summary = await registry.gc.run(grace=0)
    elapsed = time.perf_counter() - started
    grown = (psutil.Process().memory_info().rss - rss) / 2**20
    print(
        f"gc freed {summary.blobs} blobs in {elapsed:.2f} s ({summary.blobs / elapsed:,.0f} blobs/s), "
        f"RSS +{grown:.1f} MiB"
    )
    await registry.close()


if __name__ == "__main__":
    asyncio.run(run(setup(int(sys.argv[1]) if len(sys.argv) > 1 else 20000)))
