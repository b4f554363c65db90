"""Connections a worker keeps open, and how long a client may take to send a request.

aiohttp closes a connection that sits in its keep-alive wait for `keepalive_timeout`, and that
wait covers a request whose headers are only partly sent: we set it to `header_timeout`, and
answer 408 on the way out when some bytes had arrived. The guard bounds the connections a
worker holds: at the bound, a new connection closes the one that has waited longest without
a request under way (slow-header attackers first), so clients with real requests keep being
served while someone holds hundreds of half-sent requests open.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import socket

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

log = logging.getLogger("kikoto.http")
TIMEOUT_408 = b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
TOO_LARGE_431 = b"HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
# The request line and headers together, as nginx bounds them (4 x 8 KiB buffers): aiohttp bounds
# each line (8 KiB) and their count (128), which still lets one connection hold a MiB.
MAX_HEAD_BYTES = 32 << 10
RESERVED_FDS = 64  # database, blob files, logs: descriptors a worker needs besides its sockets


def connection_bound(configured: int) -> int:
    """`max_connections`, lowered to what the process's descriptor limit allows (raised to the
    hard limit first): beyond it accept() would fail for everyone."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return max(8, min(configured, soft - RESERVED_FDS)) if soft != resource.RLIM_INFINITY else configured


class ConnectionGuard:
    def __init__(self, limit: int, send_timeout: float = 0) -> None:
        self.limit = limit
        self.send_timeout = send_timeout  # seconds a peer may leave our data unacknowledged
        self.open: dict[GuardedHandler, None] = {}  # insertion order: oldest first
        self.evicted = 0

    def admit(self, handler: GuardedHandler) -> None:
        if len(self.open) >= self.limit:
            victim = next((h for h in self.open if h.waiting), None)
            if victim is None:
                victim = handler  # every connection has a request under way: refuse the newcomer
            victim.time_out()
            self.open.pop(victim, None)
            self.evicted += 1
            if victim is handler:
                return
        self.open[handler] = None

    def forget(self, handler: GuardedHandler) -> None:
        self.open.pop(handler, None)


class GuardedHandler(RequestHandler):
    def __init__(self, guard: ConnectionGuard, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._guard = guard
        self._pending_bytes = 0  # bytes received towards a request whose headers are incomplete
        self._fresh = True  # connected, but aiohttp's request loop has not started yet

    @property
    def waiting(self) -> bool:
        """No request is being handled: idle in keep-alive, or headers still arriving."""
        return self._fresh or (self._waiter is not None and not self._waiter.done())

    async def start(self) -> None:
        self._fresh = False
        await super().start()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._guard.admit(self)
        sock = transport.get_extra_info("socket")
        if sock is not None and self._guard.send_timeout and hasattr(socket, "TCP_USER_TIMEOUT"):
            # A client that stops reading (a zero receive window for ever) is dropped by the
            # kernel after this long, whatever response is being written: blobs, manifests, JSON.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, int(self._guard.send_timeout * 1000))

    def connection_lost(self, exc: BaseException | None) -> None:
        self._guard.forget(self)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        queued, waiting = len(self._messages), self.waiting
        super().data_received(data)
        if len(self._messages) > queued:
            self._pending_bytes = 0
        elif waiting:  # headers still arriving (body bytes of a request under way do not count)
            self._pending_bytes += len(data)
            if self._pending_bytes > MAX_HEAD_BYTES and self.transport is not None:
                self.transport.write(TOO_LARGE_431)
                self.force_close()

    def _process_keepalive(self) -> None:
        if self.waiting and self._pending_bytes and self.transport is not None:
            now, close_time = self._loop.time(), self._next_keepalive_close_time
            if now >= close_time:
                self.time_out()
                return
        super()._process_keepalive()

    def time_out(self) -> None:
        """Close the connection, telling a client that had started a request why."""
        if self.transport is not None and self._pending_bytes and not self.transport.is_closing():
            self.transport.write(TIMEOUT_408)
        self.force_close()


class GuardedSite(web.TCPSite):
    """TCPSite whose connections go through the guard."""

    def __init__(
        self,
        runner: web.AppRunner,
        *args,
        guard: ConnectionGuard,
        handshake_timeout: float = 60.0,
        sock: socket.socket | None = None,
        **kwargs,
    ) -> None:
        super().__init__(runner, *args, **kwargs)
        self._guard = guard
        self._sock = sock  # a socket the supervisor bound for all its workers (else bind here)
        self._handshake_timeout = handshake_timeout  # a TLS handshake is not a connection the guard sees yet

    async def start(self) -> None:
        await web.BaseSite.start(self)
        loop = asyncio.get_running_loop()
        server = self._runner.server

        def factory() -> GuardedHandler:
            return GuardedHandler(self._guard, server, loop=loop, **server._kwargs)

        tls = {"ssl_handshake_timeout": self._handshake_timeout} if self._ssl_context else {}
        where = (
            {"sock": self._sock}
            if self._sock is not None
            else {"host": self._host, "port": self._port, "reuse_address": self._reuse_address}
        )
        self._server = await loop.create_server(factory, ssl=self._ssl_context, backlog=self._backlog, **where, **tls)
        self._bound_port = self._server.sockets[0].getsockname()[1] if self._server.sockets else self._port
