"""Running the HTTP server: one process, or N workers sharing one listening socket that their
supervisor bound. Not SO_REUSEPORT: any other process of the same user could bind the same
port with it too and silently take a share of this registry's clients (another registry, with
another data dir, answering them); one bound socket makes a second server fail to start."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import ssl
import sys

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from .app import build_app, prepare
from .config import Settings
from .http.connections import ConnectionGuard, GuardedSite, connection_bound
from .startup import announce_admin

log = logging.getLogger("kikoto")
# Per-connection read buffer before anyone is authenticated: small, so a client that has not
# proven who it is cannot make a worker buffer much (http/limits.py widens it for an
# authenticated body, where 1 MiB reads carry large layers faster).
READ_BUFFER = 64 << 10


class _BadRequestsQuietly(logging.Filter):
    """aiohttp logs a request it cannot parse (a 20 KiB header line, garbage) at ERROR with a
    traceback; it is the client's mistake, already answered 400: one INFO line says it."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.msg, record.args = "refused a malformed request: %s", (str(exc).splitlines()[0][:200],)
        return True


def serve(settings: Settings) -> None:
    logging.getLogger("aiohttp.server").addFilter(_BadRequestsQuietly())
    created = prepare(settings)
    if created:
        announce_admin(settings, *created)
    if settings.workers == 1:
        _run(settings, None)
        return
    _supervise(settings)


def _ssl_context(settings: Settings) -> ssl.SSLContext | None:
    if not settings.tls_cert:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(settings.tls_cert, settings.tls_key)
    return context


def _ready_line(settings: Settings) -> str:
    database = settings.database.split("@")[-1] if "@" in settings.database else settings.database
    return (
        f"kikoto ready on {settings.serving_scheme}://{settings.listen} "
        f"(workers={settings.workers}, database={database}, data={settings.data_dir})"
    )


async def _run_worker(settings: Settings, ready_fd: int | None, sock: socket.socket | None = None) -> None:
    app = build_app(settings)
    # keepalive_timeout also bounds how long a request's headers may take (http/connections.py)
    runner = web.AppRunner(
        app, access_log=None, handle_signals=False, read_bufsize=READ_BUFFER, keepalive_timeout=settings.header_timeout
    )
    await runner.setup()
    guard = ConnectionGuard(connection_bound(settings.max_connections), send_timeout=settings.body_idle_timeout)
    site = GuardedSite(
        runner,
        settings.host,
        settings.port,
        ssl_context=_ssl_context(settings),
        backlog=2048,
        guard=guard,
        handshake_timeout=settings.header_timeout,
        sock=sock,
    )
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if ready_fd is None:
        log.info(_ready_line(settings))
    else:
        os.write(ready_fd, b"1")
        os.close(ready_fd)
    await stop.wait()
    await runner.cleanup()  # finishes in-flight requests, then closes the database pool


def _run(settings: Settings, ready_fd: int | None, sock: socket.socket | None = None) -> None:
    if settings.event_loop == "uvloop":
        import uvloop

        uvloop.run(_run_worker(settings, ready_fd, sock))
    else:
        asyncio.run(_run_worker(settings, ready_fd, sock))


def _listen(settings: Settings) -> socket.socket:
    """The port, bound once for every worker (a port in use is refused here, with one line)."""
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    sock = socket.create_server((settings.host, settings.port), family=family, backlog=2048)
    sock.setblocking(False)
    return sock


def _die_with_parent(parent: int) -> None:
    """A worker must not outlive its supervisor (a SIGKILLed supervisor would leave workers
    holding the port beside the next start): the kernel sends SIGTERM when the parent dies."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    PR_SET_PDEATHSIG = 1
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(0)


def _spawn(settings: Settings, ready_w: int | None, sock: socket.socket) -> int:
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:
        _die_with_parent(parent)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the supervisor decides when workers stop
        code = 0
        try:
            _run(settings, ready_w, sock)
        except OSError as exc:  # the port is taken, the certificate unreadable, ...: one line says it
            log.error("worker cannot serve: %s", exc)
            code = 1
        except Exception:
            log.exception("worker failed")
            code = 1
        finally:
            os._exit(code)
    return pid


def _supervise(settings: Settings) -> None:
    try:
        sock = _listen(settings)
    except OSError as exc:
        sys.exit(f"kikoto: cannot listen on {settings.listen}: {exc.strerror or exc}")
    ready_r, ready_w = os.pipe()
    workers = {_spawn(settings, ready_w, sock) for _ in range(settings.workers)}
    os.close(ready_w)
    started = 0
    while started < settings.workers:
        chunk = os.read(ready_r, settings.workers)
        if not chunk:
            break
        started += len(chunk)
    os.close(ready_r)
    if started < settings.workers:
        _stop(workers)
        sys.exit("kikoto: a worker failed to start; see the log above")
    log.info(_ready_line(settings))

    stopping = False

    def on_signal(_sig, _frame) -> None:
        nonlocal stopping
        stopping = True
        _stop(workers)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    while workers:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        workers.discard(pid)
        if not stopping:
            log.warning("worker %d exited (status %d); starting a new one", pid, status)
            workers.add(_spawn(settings, None, sock))


def _stop(workers: set[int]) -> None:
    for pid in workers:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
