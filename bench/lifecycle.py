"""Lifecycle at scale: one repository of N tagged images (rows written straight into the
embedded database), a "keep the newest 100" policy, then a preview and a run, timed.

    .venv/bin/python bench/lifecycle.py 100000
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import sys
import time

from prepared import fresh_registry

from kikoto.app import compose
from kikoto.config import Settings

POLICY = json.dumps(
    {
        "rules": [
            {
                "rulePriority": 1,
                "description": "keep the newest 100",
                "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 100},
                "action": {"type": "expire"},
            }
        ]
    }
)


def setup(count: int) -> Settings:
    settings = fresh_registry("lifecycle")
    data = settings.data_dir
    db = sqlite3.connect(data / "kikoto.db")
    with db:
        db.execute("INSERT INTO repositories (name, created_at, lifecycle_policy) VALUES ('big', 0, ?)", (POLICY,))
        repo = db.execute("SELECT id FROM repositories WHERE name = 'big'").fetchone()[0]
        manifests, tags = [], []
        for n in range(count):
            content = json.dumps({"schemaVersion": 2, "n": n}).encode()
            digest = "sha256:" + hashlib.sha256(content).hexdigest()
            manifests.append(
                (repo, digest, "application/vnd.oci.image.manifest.v1+json", len(content), content, float(n), 1000)
            )
            tags.append((repo, f"v{n}", digest, float(n)))
        db.executemany(
            "INSERT INTO manifests (repo_id, digest, media_type, size, content, pushed_at, image_size) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            manifests,
        )
        db.executemany("INSERT INTO tags (repo_id, name, digest, updated_at) VALUES (?, ?, ?, ?)", tags)
    return settings


async def run(settings: Settings) -> None:
    registry = compose(settings)
    started = time.perf_counter()
    preview = await registry.lifecycle.start_preview("big", None)
    previewed = time.perf_counter() - started
    started = time.perf_counter()
    plan = await registry.lifecycle.plan("big")
    await registry.lifecycle.apply(plan, actor="bench")
    ran = time.perf_counter() - started
    left = len(await registry.stores.images.images((await registry.ecr.repositories.get("big")).id))
    print(
        json.dumps(
            {
                "preview (s)": round(previewed, 2),
                "run (s)": round(ran, 2),
                "expired": len(plan.acting("expire")),
                "images left": left,
                "policy": preview[1][:30],
            }
        )
    )
    await registry.close()


if __name__ == "__main__":
    asyncio.run(run(setup(int(sys.argv[1]) if len(sys.argv) > 1 else 10000)))
