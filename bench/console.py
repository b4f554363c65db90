"""The console's cost at scale: a repository of N images (pushed over /v2), then the time to
answer its first page (and the repositories page), signed in, median of 20, on loopback.

    .venv/bin/python bench/console.py 20000
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from scale import Bench  # noqa: E402

from tests.e2e.conftest import ADMIN_KEY, ADMIN_SECRET, Server  # noqa: E402


def main(count: int) -> None:
    server = Server(Path(tempfile.mkdtemp()) / "data", workers=2).start()
    try:
        bench = Bench(server)
        bench.ecr.create_repository(repositoryName="big")
        started = time.perf_counter()
        asyncio.run(bench.push("big", range(count)))
        built = time.perf_counter() - started
        http = requests.Session()
        http.post(f"{server.url}/console/sign-in", data={"access_key_id": ADMIN_KEY, "secret_access_key": ADMIN_SECRET})
        results = {"images": count, "build (s)": round(built, 1)}
        for label, path in (
            ("repository page, first 100 images (ms)", "/console/repository?name=big"),
            ("repositories page (ms)", "/console/repositories"),
        ):
            samples = []
            for _ in range(21):
                t = time.perf_counter()
                response = http.get(server.url + path)
                samples.append((time.perf_counter() - t) * 1000)
                assert response.status_code == 200 and "big" in response.text
            results[label] = round(statistics.median(samples[1:]), 1)
        print(json.dumps(results, indent=1))
    finally:
        server.stop()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20000)
