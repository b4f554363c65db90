"""A proxy in front of the object store that can fail it the ways object stores fail: stopped
(connections refused), slow (each request delayed), or overloaded (503 SlowDown without
forwarding, as S3 answers when throttling)."""

from __future__ import annotations

import asyncio
import threading

from ..pg import free_port

SLOW_DOWN = (
    b"HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\nConnection: close\r\nContent-Length: 133\r\n\r\n"
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.'
    b"</Message></Error>"
)


class FaultProxy:
    def __init__(self, target_port: int) -> None:
        self.target_port, self.port = target_port, free_port()
        self.mode = "pass"  # pass | slow | slowdown; stop() refuses connections altogether
        self.delay = 0.0
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.base_events.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()  # both ends of every proxied connection
        threading.Thread(target=self._loop.run_forever, daemon=True).start()
        self.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        async def listen() -> asyncio.base_events.Server:
            return await asyncio.start_server(self._handle, "127.0.0.1", self.port)

        self._server = asyncio.run_coroutine_threadsafe(listen(), self._loop).result(10)

    def stop(self) -> None:
        """Refuse new connections and cut the open ones (clients keep theirs alive), as a
        stopped gateway does."""
        server, self._server = self._server, None

        def cut() -> None:
            if server is not None:
                server.close()
            for writer in list(self._open):
                writer.transport.abort()

        self._loop.call_soon_threadsafe(cut)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._open.add(writer)
        upstream_writer = None
        try:
            if self.mode == "slowdown":
                await reader.readuntil(b"\r\n\r\n")
                writer.write(SLOW_DOWN)
                await writer.drain()
                return
            if self.mode == "slow":
                await asyncio.sleep(self.delay)
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
            self._open.add(upstream_writer)
            await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            self._open.discard(writer)
            if upstream_writer is not None:
                self._open.discard(upstream_writer)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()
