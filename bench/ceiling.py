"""The ceiling Python reaches on this machine: a bare aiohttp handler on uvloop, answering a
small constant body, with N worker processes sharing the port (SO_REUSEPORT), as Kikötő runs.

    python bench/ceiling.py PORT WORKERS
"""

from __future__ import annotations

import os
import sys

import uvloop
from aiohttp import web

BODY = b'{"schemaVersion":2}' * 20  # about the size of a small manifest


async def handler(_request: web.Request) -> web.Response:
    return web.Response(body=BODY, content_type="application/json")


def serve(port: int) -> None:
    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)

    async def main() -> None:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port, reuse_port=True, backlog=2048).start()
        while True:
            await __import__("asyncio").sleep(3600)

    uvloop.run(main())


if __name__ == "__main__":
    port, workers = int(sys.argv[1]), int(sys.argv[2])
    for _ in range(workers - 1):
        if os.fork() == 0:
            serve(port)
    serve(port)
