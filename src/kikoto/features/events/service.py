"""Image events to webhook targets, in ECR's EventBridge shape (or CloudEvents 1.0).

Each target reads the outbox from its own cursor, in order, one process at a time (a lease), in
a task of its own (one slow receiver delays no other):
an event its pattern selects is POSTed with an HMAC-SHA256 signature and the event id; a failed
delivery is retried with exponential backoff and holds the target's later events back until it
succeeds or, after `max_attempts`, is dead-lettered (`kikoto events deliveries --failed`,
`kikoto events redeliver ID`). At-least-once: receivers deduplicate by event id.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
import time
from dataclasses import dataclass
from typing import Any

from ...domain.accounts import MARK
from ...domain.ecr import repository_arn
from ...domain.errors import InvalidParameter, NotFound
from ...domain.events import ImageChanged
from ...services.keys import Keys
from ...services.registry import RegistryIdentity
from ...storage.meta.ports import LeaseStore
from .bridge import cloud_event, envelope
from .patterns import matches, parse_pattern
from .store import Delivery, EventStore, Target

log = logging.getLogger("kikoto.events")
TARGET_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
LEASE_SECONDS = 60.0


@dataclass(frozen=True)
class Delivered:
    """One event for one target: the adapter turns it into a signed POST."""

    url: str
    body: bytes
    event_id: str
    signature: str | None  # sha256=<HMAC-SHA256 of the body>, with the target's secret
    cloudevents: bool


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Events:
    def __init__(
        self,
        store: EventStore,
        leases: LeaseStore,
        poster,
        keys: Keys,
        registry: RegistryIdentity,
        holder: str,
        max_attempts: int = 10,
        retry_cap: float = 300.0,
        timeout: float = 30.0,
    ) -> None:
        self.store, self.leases, self.poster = store, leases, poster
        self._fernet = keys.secrets_at_rest()
        self.account, self.region, self.holder = registry.account, registry.region, holder
        self.max_attempts, self.retry_cap, self.timeout = max_attempts, retry_cap, timeout
        self._passes: dict[str, asyncio.Task[int]] = {}  # target name -> its delivery pass in this process

    # -- targets ----------------------------------------------------------------------------------

    async def add_target(
        self, name: str, url: str, pattern: str | None, secret: str | None, cloudevents: bool
    ) -> Target:
        if not TARGET_NAME.fullmatch(name):
            raise InvalidParameter("a target name is 1-64 letters, digits, '.', '_' or '-'")
        if not url.startswith(("http://", "https://")):
            raise InvalidParameter(f"the target URL must be http:// or https://, not {url!r}")
        if pattern is not None:
            try:
                parse_pattern(pattern)
            except ValueError as exc:
                raise InvalidParameter(str(exc)) from None
        target = Target(
            name,
            url,
            pattern,
            self._fernet.encrypt(secret.encode()).decode() if secret else None,
            cloudevents,
            time.time(),
        )
        await self.store.forget_cursor(f"webhook:{name}")
        if not await self.store.add_target(target):
            raise InvalidParameter(f"a target named {name!r} exists; remove it first")
        await self.store.follow(f"webhook:{name}")  # events from now on
        return target

    async def targets(self) -> list[Target]:
        return await self.store.targets()

    async def remove_target(self, name: str) -> None:
        if not await self.store.remove_target(name):
            raise NotFound(f"no target named {name!r}")
        await self.store.forget_cursor(f"webhook:{name}")

    async def deliveries(self, target: str | None, failed_only: bool, limit: int = 100) -> list[Delivery]:
        return await self.store.deliveries(target, failed_only, limit)

    # -- delivering -------------------------------------------------------------------------------

    def render(self, target: Target, event: ImageChanged) -> tuple[dict[str, Any], Delivered]:
        """(the EventBridge event, what to send the target) for one target."""
        bridge = envelope(event, self.account, self.region, repository_arn(self.region, self.account, event.repository))
        document = cloud_event(bridge) if target.cloudevents else bridge
        body = json.dumps(document, separators=(",", ":")).encode()
        signed = signature(self._fernet.decrypt(target.secret.encode()).decode(), body) if target.secret else None
        return bridge, Delivered(target.url, body, bridge["id"], signed, target.cloudevents)

    async def deliver(self) -> int:
        """Start a delivery pass for every target this process is not delivering to already, each
        in a task of its own: targets are independent, so a receiver that never answers holds
        back only its own events. Returns the deliveries that the passes finished since the last
        call attempted (the caller's pacing)."""
        attempted = 0
        for name, running in list(self._passes.items()):
            if running.done():
                del self._passes[name]
                if not running.cancelled() and running.exception() is None:
                    attempted += running.result()
                elif not running.cancelled():
                    log.error("webhook delivery to %s failed", name, exc_info=running.exception())
        for target in await self.store.targets():
            if target.name not in self._passes:
                self._passes[target.name] = asyncio.create_task(self._leased(target))
        return attempted

    async def _leased(self, target: Target) -> int:
        lease = f"webhook:{target.name}"
        if not await self.leases.acquire(lease, self.holder, LEASE_SECONDS):
            return 0
        try:
            return await self._deliver(target)
        finally:
            await self.leases.release(lease, self.holder)

    async def close(self) -> None:
        """Stop the passes under way (their events are delivered again later: at least once)."""
        for running in self._passes.values():
            running.cancel()
        await asyncio.gather(*self._passes.values(), return_exceptions=True)
        self._passes.clear()

    async def _deliver(self, target: Target, batch: int = 100) -> int:
        consumer = f"webhook:{target.name}"
        _, changes = await self.store.changes_for(consumer, batch)
        pattern = parse_pattern(target.pattern) if target.pattern else None
        attempted = 0
        for event in changes:
            if event.repository.startswith(MARK):  # targets are the first account's: never another's images
                await self.store.advance(consumer, event.id)
                continue
            bridge, delivered = self.render(target, event)
            if pattern is not None and not matches(pattern, bridge):
                await self.store.advance(consumer, event.id)
                continue
            earlier = await self.store.delivery(target.name, event.id)
            now = time.time()
            if earlier is not None and earlier.next_at > now:
                break  # backing off: later events wait, in order
            attempts = (earlier.attempts if earlier else 0) + 1
            attempted += 1
            try:
                await self.poster.deliver(delivered, self.timeout)
            except Exception as failure:  # the receiver's answer or the network: retried
                message = getattr(failure, "message", None) or repr(failure)
                if attempts < self.max_attempts:
                    delay = min(self.retry_cap, 2.0 ** min(attempts, 20))
                    await self.store.save_delivery(target.name, event.id, "pending", attempts, now + delay, message)
                    break
                await self.store.save_delivery(target.name, event.id, "failed", attempts, now, message)
            else:
                await self.store.save_delivery(target.name, event.id, "delivered", attempts, now, None)
            await self.store.advance(consumer, event.id)
        return attempted

    async def redeliver(self, delivery_id: int) -> Delivery:
        """Send a delivered or dead-lettered event to its target again, now."""
        delivery = await self.store.delivery_by_id(delivery_id)
        if delivery is None:
            raise NotFound(f"no delivery {delivery_id}")
        target = next((t for t in await self.store.targets() if t.name == delivery.target), None)
        event = await self.store.event(delivery.event_id)
        if target is None or event is None:
            raise NotFound(f"delivery {delivery_id}'s target or event is gone")
        _, delivered = self.render(target, event)
        try:
            await self.poster.deliver(delivered, self.timeout)
        except Exception as failure:
            message = getattr(failure, "message", None) or repr(failure)
            await self.store.save_delivery(target.name, event.id, "failed", delivery.attempts + 1, time.time(), message)
        else:
            await self.store.save_delivery(target.name, event.id, "delivered", delivery.attempts + 1, time.time(), None)
        return await self.store.delivery_by_id(delivery_id) or delivery
