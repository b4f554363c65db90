"""Blob downloads with the kernel's sendfile on any event loop.

aiohttp's FileResponse calls loop.sendfile(), which uvloop does not implement natively: it
falls back to reading the file into memory and writing it (measured here: 1.9 GiB/s under
uvloop against 2.4-2.9 GiB/s with sendfile). This subclass keeps everything FileResponse
does (Range, 206/416, conditional requests) and replaces only the byte transfer: once the
headers have left, it calls os.sendfile() on a duplicate of the connection's socket,
waiting for writability on that duplicate when the socket buffer is full.
"""

from __future__ import annotations

import asyncio
import os

from aiohttp import web

from ..limits import BODY_IDLE


async def _writable(loop: asyncio.AbstractEventLoop, fd: int) -> None:
    ready = loop.create_future()
    loop.add_writer(fd, lambda: ready.done() or ready.set_result(None))
    try:
        await ready
    finally:
        loop.remove_writer(fd)


class ZeroCopyFileResponse(web.FileResponse):
    async def _sendfile(self, request, fobj, offset: int, count: int):
        transport = request.transport
        sock = transport.get_extra_info("socket") if transport is not None else None
        if sock is None or self.compression:
            return await super()._sendfile(request, fobj, offset, count)
        writer = await web.StreamResponse.prepare(self, request)
        writer.send_headers()
        while transport.get_write_buffer_size():  # the headers must be on the wire before the body
            await asyncio.sleep(0)
        loop = asyncio.get_running_loop()
        fd = os.dup(sock.fileno())
        try:
            while count > 0:
                try:
                    sent = os.sendfile(fd, fobj.fileno(), offset, min(count, 1 << 30))
                except BlockingIOError:
                    try:  # a client that stops reading must not hold the file and connection for ever
                        async with asyncio.timeout(request.app[BODY_IDLE]):
                            await _writable(loop, fd)
                    except TimeoutError:
                        raise ConnectionResetError("the client stopped reading a blob download") from None
                    continue
                if sent == 0:
                    raise ConnectionResetError("connection closed during a blob download")
                offset += sent
                count -= sent
        finally:
            os.close(fd)
        await web.StreamResponse.write_eof(self)
        return writer
