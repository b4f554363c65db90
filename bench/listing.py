"""ListImages and DescribeImages of a whole repository through the services, in process (no
HTTP, no client): what a page costs the registry itself, apart from each call's round trip.

    .venv/bin/python bench/listing.py DATA_DIR [REPOSITORY]   # e.g. a data dir bench/scale.py left
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from kikoto.app import compose
from kikoto.config import Settings


async def main(data_dir: Path, repository: str) -> None:
    registry = compose(Settings(data_dir=data_dir))
    images = registry.ecr.images
    try:
        for label in ("ListImages", "DescribeImages"):
            for size in (100, 1000):
                token, pages, started = None, 0, time.perf_counter()
                while True:
                    if label == "ListImages":
                        _, token = await images.page(repository, None, None, size, token)
                    else:
                        _, token = await images.describe(repository, None, None, None, size, token)
                    pages += 1
                    if not token:
                        break
                print(f"{label}, pages of {size}: {time.perf_counter() - started:.2f} s for {pages} pages")
    finally:
        await registry.close()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "big"))
