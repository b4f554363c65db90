"""The pull-through cache at pull time: a manifest or blob missing from a cache repository is
fetched from its rule's upstream, stored, and answered; a cached tag is re-checked upstream at
most once per `tag_ttl`; cached content is served while the upstream is down.

One fetch per item, whoever asks: within a process the askers share one task (shielded, so a
client that leaves does not abort what others wait on); across processes and replicas a lease
row elects one fetcher and the others wait until the item is stored. A blob's bytes reach the
client that caused the fetch as they are written and hashed; they are committed only when the
digest verifies.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from ...domain.errors import (
    AccessDenied,
    BlobNotFound,
    DigestInvalid,
    ImageNotFound,
    KikotoError,
    UpstreamFailed,
    UpstreamMissing,
)
from ...domain.events import ImageCached
from ...domain.manifests import parse_manifest
from ...domain.names import parse_reference
from ...services.blobs.service import BlobLocation
from ...services.images.manifests import PulledManifest
from ...services.images.reads import Caller, Reads, Wrapper
from ...services.repositories.lookup import Repositories
from ...storage.meta.ports import LeaseStore, Referrer, Repository, Stores
from .model import Rule
from .rules import PullThroughRules
from .store import PullThroughStore
from .upstream import Upstreams

log = logging.getLogger("kikoto.pullthrough")
LEASE_TTL = 30.0  # a fetcher that dies is replaced after this long; a live one renews it
POLL = 0.05
FEED_DEPTH = 8  # chunks buffered for the client that caused a blob fetch
FEED_STALL = 30.0  # a client that takes no chunk for this long is dropped; the fetch goes on
END = object()
IMPORT, CREATE = "ecr:BatchImportUpstreamImage", "ecr:CreateRepository"  # what a first pull needs


class Feed:
    """The bytes of a blob fetch, for the client that caused it: bounded, and closed by the
    client when it leaves (the fetch then goes on without it)."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue = asyncio.Queue(FEED_DEPTH)
        self.open = True

    async def publish(self, item) -> None:
        if not self.open:
            return
        try:
            await asyncio.wait_for(self.queue.put(item), FEED_STALL)
        except TimeoutError:
            self.close()  # the client stopped reading

    def close(self) -> None:
        self.open = False
        while not self.queue.empty():
            self.queue.get_nowait()

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            while True:
                item = await self.queue.get()
                if item is END:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self.close()


@dataclass
class BlobFeed:
    """A blob being fetched by this process: its size and its bytes as they are written."""

    size: int
    chunks: AsyncIterator[bytes]


class OneFetch:
    """Runs each keyed fetch once across tasks (a shared, shielded task), processes and replicas
    (a lease row); the others wait until `stored()` says the result is there."""

    def __init__(self, leases: LeaseStore, holder: str) -> None:
        self.leases, self.holder = leases, holder
        self._tasks: dict[str, asyncio.Future] = {}

    def shared(self, key: str, start: Callable[[], Awaitable[None]]) -> tuple[asyncio.Future, bool]:
        """(the task fetching `key`, whether this call started it)."""
        task = self._tasks.get(key)
        if task is not None:
            return task, False
        task = asyncio.ensure_future(start())
        self._tasks[key] = task
        task.add_done_callback(lambda _: self._tasks.pop(key, None))
        task.add_done_callback(lambda t: t.cancelled() or t.exception())  # retrieved: no "never retrieved" noise
        return task, True

    async def lead_or_wait(
        self, key: str, lead: Callable[[], Awaitable[None]], stored: Callable[[], Awaitable[bool]]
    ) -> None:
        name = "fetch:" + hashlib.sha256(key.encode()).hexdigest()[:40]
        while not await stored():
            if await self.leases.acquire(name, self.holder, LEASE_TTL):
                renewing = asyncio.ensure_future(self._renew(name))
                try:
                    await lead()
                finally:
                    renewing.cancel()
                    await self.leases.release(name, self.holder)
                return
            await asyncio.sleep(POLL)  # another process or replica is fetching it

    async def _renew(self, name: str) -> None:
        while True:
            await asyncio.sleep(LEASE_TTL / 3)
            await self.leases.hold(name, self.holder, LEASE_TTL)


class PullThroughCache(Wrapper):
    """The core's reads, wrapped: in a cache repository, what is missing is fetched first."""

    def __init__(
        self,
        inner: Reads,
        rules: PullThroughRules,
        store: PullThroughStore,
        stores: Stores,
        repositories: Repositories,
        upstreams: Upstreams,
        fetches: OneFetch,
        create_repository: Callable[[str, Rule], Awaitable[object]],
        tag_ttl: float = 86400.0,
        stats: Counter[str] | None = None,
        delete_empty: Callable[[str], Awaitable[object]] | None = None,
    ) -> None:
        """`delete_empty(name)`: deletes a repository unless it holds images (ECR's DeleteRepository
        without force), for a first pull that created one and then failed."""
        super().__init__(inner)
        self.rules, self.store, self.repositories = rules, store, repositories
        self.manifest_store, self.blob_index = stores.manifests, stores.blobs
        self.upstreams, self.fetches, self.create_repository = upstreams, fetches, create_repository
        self.delete_empty = delete_empty
        self.tag_ttl = tag_ttl
        self.stats = Counter[str]() if stats is None else stats  # exported by /metrics

    # -- the reads it wraps -------------------------------------------------------------------------

    async def manifest(
        self, name: str, reference: str, caller: Caller, *, with_content: bool = True, record_pull: bool = True
    ) -> PulledManifest:
        rule = await self.rules.match(name)
        if rule is None:  # not a cache repository: the pull every other repository makes
            return await self.inner.manifest(
                name, reference, caller, with_content=with_content, record_pull=record_pull
            )

        async def local() -> PulledManifest:
            return await self.inner.manifest(
                name, reference, caller, with_content=with_content, record_pull=record_pull
            )

        may_import, may_create = await caller.may(IMPORT), await caller.may(CREATE)
        existed = await self.repositories.find(name) is not None
        try:
            return await self._manifest(name, reference, rule, local, may_import=may_import, may_create=may_create)
        except (UpstreamFailed, ImageNotFound):
            if not existed and self.delete_empty is not None:  # a failed first pull leaves no empty repository
                with contextlib.suppress(KikotoError):  # filled meanwhile by a pull beside this one: it stays
                    await self.delete_empty(name)
            raise

    async def referrers(
        self, name: str, subject: str, caller: Caller, artifact_type: str | None, limit: int, after: str | None
    ) -> list[Referrer]:
        if rule := await self.rules.match(name):
            await self._referrers(name, subject, rule, await caller.may(IMPORT))
        return await self.inner.referrers(name, subject, caller, artifact_type, limit, after)

    async def blob(self, name: str, digest: str, caller: Caller) -> BlobLocation:
        try:
            return await self.inner.blob(name, digest, caller)
        except BlobNotFound:
            feed = await self._missing_blob(name, digest, caller)
            if feed is None:
                return await self.inner.blob(name, digest, caller)
            return BlobLocation(digest, feed.size, None, feed.chunks)

    async def blob_size(self, name: str, digest: str, caller: Caller) -> int:
        try:
            return await self.inner.blob_size(name, digest, caller)
        except BlobNotFound:
            feed = await self._missing_blob(name, digest, caller)
            if feed is not None:
                async for _ in feed.chunks:  # a HEAD answers once the blob is stored
                    pass
            return await self.inner.blob_size(name, digest, caller)

    async def _missing_blob(self, name: str, digest: str, caller: Caller) -> BlobFeed | None:
        rule = await self.rules.match(name)
        if rule is None:
            raise BlobNotFound(digest)
        may_import, may_create = await caller.may(IMPORT), await caller.may(CREATE)
        return await self._blob(name, digest, rule, may_import=may_import, may_create=may_create)

    async def _client(self, rule: Rule):
        return self.upstreams.client(rule.base_url, await self.rules.credentials(rule))

    async def repository(self, name: str, rule: Rule, may_import: bool, may_create: bool) -> Repository:
        repo = await self.repositories.find(name)
        if repo is not None:
            return repo
        if not (may_import and may_create):
            raise AccessDenied(
                f"repository {name!r} is not cached yet: the first pull needs ecr:BatchImportUpstreamImage and "
                f"ecr:CreateRepository"
            )
        await self.create_repository(name, rule)
        return await self.repositories.get(name)

    # -- manifests ----------------------------------------------------------------------------------

    async def _manifest(
        self,
        name: str,
        reference: str,
        rule: Rule,
        local: Callable[[], Awaitable[PulledManifest]],
        *,
        may_import: bool,
        may_create: bool,
    ) -> PulledManifest:
        repo = await self.repository(name, rule, may_import, may_create)
        ref = parse_reference(reference)

        if ref.digest:  # content by digest never changes: fetched once, then always local
            with contextlib.suppress(ImageNotFound):
                return await local()
            if not may_import:
                raise ImageNotFound(f"manifest unknown: {reference} (not cached yet)")
            await self._fetch_manifest(repo, rule, name, str(ref.digest), None)
            return await local()
        tag = ref.tag or ""
        checked = await self.store.checked_at(repo.id, tag)
        if checked is not None and time.time() - checked < self.tag_ttl or not may_import:
            with contextlib.suppress(ImageNotFound):
                return await local()
            if not may_import:
                raise ImageNotFound(f"manifest unknown: {reference} (not cached yet)")
        try:
            await self._fetch_manifest(repo, rule, name, None, tag)
        except UpstreamMissing as missing:
            raise ImageNotFound(f"manifest unknown: {missing.message}") from None
        except UpstreamFailed as failure:
            try:
                pulled = await local()
            except ImageNotFound:
                raise failure from None
            self.stats["stale_serves"] += 1
            log.warning("serving cached %s:%s: %s", name, tag, failure.message)
            return pulled
        return await local()

    async def _fetch_manifest(
        self, repo: Repository, rule: Rule, name: str, digest: str | None, tag: str | None
    ) -> None:
        upstream_repo = rule.upstream_repository(name)
        since = time.time()

        async def stored() -> bool:
            if digest:
                return await self.manifest_store.find_manifest(name, digest=digest) is not None
            checked = await self.store.checked_at(repo.id, tag or "")
            return checked is not None and checked >= since

        async def lead() -> None:
            client = await self._client(rule)
            wanted = digest
            if tag is not None:  # a HEAD first: cheap, and not counted by Docker Hub's pull limit
                head = await client.manifest(upstream_repo, tag, head=True)
                local = await self.manifest_store.find_manifest(name, tag=tag)
                if head.digest and local is not None and local.digest == head.digest:
                    await self.store.mark_checked(repo.id, tag, time.time())
                    return
                wanted = head.digest or None
            fetched = await client.manifest(upstream_repo, wanted or tag or "")
            self.stats["upstream_manifest_fetches"] += 1
            content = fetched.content or b""
            actual = "sha256:" + hashlib.sha256(content).hexdigest()
            if wanted and wanted != actual:
                raise UpstreamFailed(f"upstream {rule.base_url} sent a manifest that is not {wanted}")
            media_type = fetched.media_type or parse_manifest(content, None, actual).media_type
            change = functools.partial(ImageCached, rule_prefix=rule.prefix, upstream_url=rule.upstream_url)
            await self.manifests.cache(name, content, media_type, actual, [tag] if tag else [], change)
            if tag is not None:
                await self.store.mark_checked(repo.id, tag, time.time())

        key = f"manifest:{repo.id}:{digest or tag}"
        task, _ = self.fetches.shared(key, lambda: self.fetches.lead_or_wait(key, lead, stored))
        await asyncio.shield(task)

    # -- blobs ------------------------------------------------------------------------------------

    async def _blob(
        self, name: str, digest: str, rule: Rule, *, may_import: bool, may_create: bool = False
    ) -> BlobFeed | None:
        """Fetch a blob missing from a cache repository. None: it is stored now (serve it as
        any blob). A feed: this call caused the fetch, and gets the bytes as they are written."""
        if not may_import:
            raise BlobNotFound(digest)
        repo = await self.repository(name, rule, may_import, may_create)
        if await self.blob_index.link_blob(repo.id, digest):  # already stored for another repository
            return None
        feed = Feed()
        key = f"blob:{repo.id}:{digest}"
        task, started = self.fetches.shared(key, lambda: self._fetch_blob(key, repo, rule, name, digest, feed))
        try:
            if not started:
                await asyncio.shield(task)
                return None
            first = await feed.queue.get()
            if first is END:
                await asyncio.shield(task)
                return None
            if isinstance(first, BaseException):
                raise first
        except UpstreamMissing as missing:
            raise BlobNotFound(digest, f"blob unknown: {missing.message}") from None
        return BlobFeed(first, feed.chunks())

    async def _fetch_blob(self, key: str, repo: Repository, rule: Rule, name: str, digest: str, feed: Feed):
        publish = feed.publish

        async def stored() -> bool:
            return await self.blob_index.repo_blob_size(name, digest) is not None

        async def lead() -> None:
            client = await self._client(rule)
            async with client.blob(rule.upstream_repository(name), digest) as upstream:
                await publish(upstream.size)
                held: list[bytes] = []  # the last chunk waits for the digest: a wrong blob never completes

                async def tee() -> AsyncIterator[bytes]:
                    async for chunk in upstream.chunks:
                        if held:
                            await publish(held.pop())
                        held.append(chunk)
                        yield chunk

                state = await self.blobs.start_upload(name, digest.split(":", 1)[0], cache=True)
                try:
                    await self.blobs.finish(name, state.id, digest, tee(), None, upstream.size)
                except DigestInvalid as mismatch:
                    log.warning("upstream %s sent %s wrong: %s", rule.base_url, digest, mismatch.message)
                    self.stats["upstream_digest_mismatches"] += 1
                    raise UpstreamFailed(f"upstream {rule.base_url} sent bytes that are not {digest}") from None
                if held:
                    await publish(held.pop())
            self.stats["upstream_blob_fetches"] += 1

        try:
            await self.fetches.lead_or_wait(key, lead, stored)
        except BaseException as failure:
            await publish(failure)
            raise
        await publish(END)

    # -- referrers --------------------------------------------------------------------------------

    async def _referrers(self, name: str, subject: str, rule: Rule, may_import: bool) -> None:
        """Cache the upstream's referrers of `subject` (at most once per tag_ttl)."""
        repo = await self.repositories.find(name)
        if repo is None or not may_import:
            return
        marker = f"@referrers:{subject}"
        checked = await self.store.checked_at(repo.id, marker)
        if checked is not None and time.time() - checked < self.tag_ttl:
            return
        try:
            client = await self._client(rule)
            for descriptor in await client.referrers(rule.upstream_repository(name), subject):
                if await self.manifest_store.find_manifest(name, digest=descriptor["digest"]) is None:
                    await self._fetch_manifest(repo, rule, name, descriptor["digest"], None)
        except UpstreamFailed as failure:
            log.warning("referrers of %s in %s not refreshed: %s", subject, name, failure.message)
            return
        await self.store.mark_checked(repo.id, marker, time.time())
