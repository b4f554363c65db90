"""Image events for webhooks: every image change, in ECR's EventBridge shape (or CloudEvents),
POSTed to each target whose pattern matches, signed, retried, dead-lettered."""

from __future__ import annotations

from typing import Any

from ...remote.peer import Peers
from .. import Core, Feature
from .cli import events
from .service import Events
from .store import EventStore

__all__ = ["COMMANDS", "OPERATIONS", "feature"]
COMMANDS = [events]
OPERATIONS: dict[str, Any] = {}  # no ECR operation: targets are set with `kikoto events`


def feature(core: Core) -> Feature:
    settings, clients = core.settings, Peers()
    service = Events(
        EventStore(core.engine, changes=core.changes),
        core.stores.leases,
        clients,
        core.keys,
        core.registry,
        core.holder,
        settings.event_max_attempts,
        settings.event_retry_cap,
        settings.event_timeout,
    )
    return Feature("events", service, outbox_loops=[service.deliver], closers=[service.close, clients.close])
