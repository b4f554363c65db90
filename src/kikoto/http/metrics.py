"""GET /metrics: Prometheus text format. Storage gauges are read from the metadata at scrape
time (deduplicated bytes per repository and for the registry); job counters are per process."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    generate_latest,
)

REGISTRY = CollectorRegistry()
STORED_BYTES = Gauge("kikoto_stored_bytes", "Bytes of blobs stored, each blob once", registry=REGISTRY)
STORED_BLOBS = Gauge("kikoto_stored_blobs", "Blobs stored", registry=REGISTRY)
REPOSITORY_BYTES = Gauge("kikoto_repository_bytes", "Deduplicated bytes the images of a repository reference",
                         ["repository"], registry=REGISTRY)
REPOSITORY_IMAGES = Gauge("kikoto_repository_images", "Images in a repository", ["repository"], registry=REGISTRY)
LIFECYCLE_ACTIONS = Counter("kikoto_lifecycle_actions", "Images acted on by lifecycle policies", ["action"],
                            registry=REGISTRY)
GC_BLOBS = Counter("kikoto_gc_blobs", "Blobs freed by garbage collection", registry=REGISTRY)
GC_BYTES = Counter("kikoto_gc_bytes", "Bytes freed by garbage collection", registry=REGISTRY)


def metrics_handler(lifecycle_store):
    async def metrics(request: web.Request) -> web.Response:
        blobs, stored = await lifecycle_store.stored_bytes()
        STORED_BLOBS.set(blobs)
        STORED_BYTES.set(stored)
        REPOSITORY_BYTES.clear()
        REPOSITORY_IMAGES.clear()
        for name, images, size in await lifecycle_store.storage_by_repository():
            REPOSITORY_BYTES.labels(name).set(size)
            REPOSITORY_IMAGES.labels(name).set(images)
        return web.Response(body=generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST})

    return metrics


async def healthz(request: web.Request) -> web.Response:
    """Liveness: the process answers."""
    return web.json_response({"status": "ok"})


def readyz_handler(meta, probe_store):
    """Readiness: the database answers and the blob store is writable; 503 otherwise."""

    async def readyz(request: web.Request) -> web.Response:
        problems = {}
        try:
            await meta.list_repositories(1, None)
        except Exception as exc:  # any failure means "not ready", with the reason
            problems["database"] = str(exc)
        try:
            await probe_store()
        except Exception as exc:  # unreachable or not writable
            problems["blob_store"] = str(exc)
        status = 503 if problems else 200
        return web.json_response({"status": "unavailable" if problems else "ready", **problems}, status=status)

    return readyz
