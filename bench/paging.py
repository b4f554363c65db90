"""How ECR listings scale: first page and full listing of ListImages and DescribeImages in one
repository of N images, against a real `kikoto serve` (SQLite + disk).

    .venv/bin/python bench/paging.py 20000
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.conftest import Server  # noqa: E402
from tests.helpers import sha256  # noqa: E402

OCI = "application/vnd.oci.image.manifest.v1+json"
CONFIG = b'{"architecture":"amd64","os":"linux"}'


def main(count: int) -> None:
    server = Server(Path(tempfile.mkdtemp()) / "data", workers=1).start()
    try:
        ecr = server.ecr()
        ecr.create_repository(repositoryName="big")
        session = requests.Session()
        session.headers.update(server.auth_headers())
        session.post(f"{server.url}/v2/big/blobs/uploads/?digest={sha256(CONFIG)}", data=CONFIG).raise_for_status()
        config = {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": sha256(CONFIG),
            "size": len(CONFIG),
        }
        for n in range(count):
            body = json.dumps(
                {"schemaVersion": 2, "mediaType": OCI, "config": config, "layers": [], "annotations": {"n": str(n)}}
            ).encode()
            session.put(
                f"{server.url}/v2/big/manifests/v{n}", data=body, headers={"Content-Type": OCI}
            ).raise_for_status()
        results = {"images": count}
        for operation in ("list_images", "describe_images"):
            call = getattr(ecr, operation)
            started = time.perf_counter()
            call(repositoryName="big", maxResults=100)
            results[f"{operation} first page (ms)"] = round((time.perf_counter() - started) * 1000, 1)
            for size in (100, 1000):
                started, token = time.perf_counter(), None
                while True:
                    page = call(repositoryName="big", maxResults=size, **({"nextToken": token} if token else {}))
                    token = page.get("nextToken")
                    if not token:
                        break
                results[f"{operation} all, pages of {size} (s)"] = round(time.perf_counter() - started, 2)
        print(json.dumps(results, indent=1))
    finally:
        server.stop()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20000)
