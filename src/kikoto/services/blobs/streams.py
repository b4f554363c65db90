"""Moving request bodies into storage: one pass, hashing while writing, bounded memory."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

BATCH = 1 << 20  # hash and write in 1 MiB steps: large enough to amortise thread hand-offs
INLINE = 1 << 16  # below this a thread hand-off costs more than hashing on the event loop


async def pump(chunks: AsyncIterator[bytes], sink: Callable[[bytes], Awaitable[None]], batch: int = BATCH) -> int:
    """Feed `chunks` to `sink` in batches, overlapping the next network read with the
    previous batch's hashing and writing. At most two batches are in memory. Returns bytes moved."""
    pending: asyncio.Future | None = None
    parts: list[bytes] = []
    buffered = total = 0
    try:
        async for chunk in chunks:
            parts.append(chunk)
            buffered += len(chunk)
            total += len(chunk)
            if buffered >= batch:
                if pending is not None:
                    await pending
                pending = asyncio.ensure_future(sink(b"".join(parts)))
                parts, buffered = [], 0
        if pending is not None:
            await pending
            pending = None
        if parts:
            await sink(b"".join(parts))
    finally:
        if pending is not None and not pending.done():
            pending.cancel()
    return total


def hashing_sink(hasher, writer) -> Callable[[bytes], Awaitable[None]]:
    """Hash in a worker thread (hashlib releases the GIL) while the writer stores the same bytes."""

    async def sink(data: bytes) -> None:
        if len(data) < INLINE:
            hasher.update(data)
            await writer.write(data)
        else:
            await asyncio.gather(asyncio.to_thread(hasher.update, data), writer.write(data))

    return sink
