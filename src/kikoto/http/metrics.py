"""GET /metrics: Prometheus text format. Storage gauges are read from the metadata at scrape
time (deduplicated bytes per repository and for the registry); job counters are per process."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter as Counts
from collections.abc import Sequence
from typing import Protocol

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily

from .auth import allowed, authorize

log = logging.getLogger("kikoto.http")
REGISTRY = CollectorRegistry()
STORED_BYTES = Gauge("kikoto_stored_bytes", "Bytes of blobs stored, each blob once", registry=REGISTRY)
STORED_BLOBS = Gauge("kikoto_stored_blobs", "Blobs stored", registry=REGISTRY)
LIFECYCLE_ACTIONS = Counter(
    "kikoto_lifecycle_actions", "Images acted on by lifecycle policies", ["action"], registry=REGISTRY
)
GC_BLOBS = Counter("kikoto_gc_blobs", "Blobs freed by garbage collection", registry=REGISTRY)
GC_BYTES = Counter("kikoto_gc_bytes", "Bytes freed by garbage collection", registry=REGISTRY)
GC_POSITION = Gauge(
    "kikoto_gc_position",
    "Share of the digest key space the running garbage collection has walked (1 once it finished)",
    registry=REGISTRY,
)


class ProcessCounts:
    """Exports a service's per-process event counts (a collections.Counter) as one counter
    family with an `event` label."""

    def __init__(self, name: str, documentation: str, counts) -> None:
        self.name, self.documentation, self.counts = name, documentation, counts

    def collect(self):
        family = CounterMetricFamily(self.name, self.documentation, labels=["event"])
        for event, value in sorted(self.counts.items()):
            family.add_metric([event], value)
        yield family


class StorageFigures(Protocol):
    """What /metrics reads of the registry's storage (the usage store answers it)."""

    async def stored_bytes(self) -> tuple[int, int]: ...

    async def storage_by_repository(self) -> list[tuple[str, int, int]]: ...


FAMILIES: dict[str, ProcessCounts] = {}  # registered once per process, fed by the newest app


def metrics_handler(usage: StorageFigures, public: bool, counters: Sequence[tuple[str, str, Counts[str]]] = ()):
    """Repository names are information: the full metrics need a principal allowed
    `kikoto:ReadMetrics` (Basic with an access key pair or a login password, or Bearer).
    With `public_metrics`, anyone gets the registry-wide figures without any names.
    `counters`: (name, help, counts) of the features' per-process event counts."""

    for name, documentation, counts in counters:
        if name not in FAMILIES:
            FAMILIES[name] = ProcessCounts(name, documentation, counts)
            REGISTRY.register(FAMILIES[name])
        FAMILIES[name].counts = counts

    async def metrics(request: web.Request) -> web.Response:
        named = await allowed(request, None, "kikoto:ReadMetrics")
        if not named and not public:
            await authorize(request, None, "kikoto:ReadMetrics")  # raises: 401 with a challenge, or 403
        blobs, stored = await usage.stored_bytes()
        STORED_BLOBS.set(blobs)
        STORED_BYTES.set(stored)
        body = generate_latest(REGISTRY)
        if named:  # per request: a concurrent anonymous scrape never sees these
            per_repository = CollectorRegistry()
            repo_bytes = Gauge(
                "kikoto_repository_bytes",
                "Deduplicated bytes the images of a repository reference",
                ["repository"],
                registry=per_repository,
            )
            repo_images = Gauge(
                "kikoto_repository_images", "Images in a repository", ["repository"], registry=per_repository
            )
            for name, images, size in await usage.storage_by_repository():
                repo_bytes.labels(name).set(size)
                repo_images.labels(name).set(images)
            body += generate_latest(per_repository)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    return metrics


async def healthz(request: web.Request) -> web.Response:
    """Liveness: the process answers."""
    return web.json_response({"status": "ok"})


PROBE_SECONDS = 1.5


def readyz_handler(repositories, probe_store):
    """Readiness: 503 when the database does not answer (nothing can be served). A blob store
    that cannot be written leaves the replica ready but degraded (200, said in the body): every
    replica shares it, so taking them all out would stop manifests, tags, the API and logins too,
    which still work; pushes and downloads answer 503 with Retry-After meanwhile."""

    async def readyz(request: web.Request) -> web.Response:
        problems = {}
        try:
            await repositories.list_repositories(1, None)
        except Exception as exc:  # any failure means "not ready"; the details go to the log only,
            problems["database"] = "unavailable"  # as a probe is anonymous (hosts, users, paths)
            log.warning("readiness: the database is unavailable: %s", exc)
        try:  # a balancer's check must be answered quickly, whatever the store's retries take
            await asyncio.wait_for(probe_store(), PROBE_SECONDS)
        except Exception as exc:  # unreachable, not writable, or too slow
            problems["blob_store"] = "unavailable"
            log.warning("readiness: the blob store is unavailable: %s", exc)
        state = "unavailable" if "database" in problems else "degraded" if problems else "ready"
        return web.json_response({"status": state, **problems}, status=503 if state == "unavailable" else 200)

    return readyz
