"""Manifest use cases: push (with validation and tags), pull, delete, tag listing, referrers."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ...domain.audit import Change
from ...domain.digests import digest_bytes
from ...domain.ecr import tag_is_immutable
from ...domain.errors import DigestInvalid, ImageArchived, ImageNotFound, ManifestInvalid
from ...domain.events import ImageChanged
from ...domain.manifests import OCI_INDEX, parse_manifest
from ...domain.names import check_repository_key, check_tag, parse_reference
from ...storage.changes import ByteCache, VersionedCache
from ...storage.meta.ports import ManifestStore, Referrer
from ..repositories.lookup import Repositories

PULL_TIME_RESOLUTION = 60.0  # lastRecordedPullTime is kept to the minute (ECR: at least daily)
CACHE_BYTES = 64 << 20  # manifests are immutable by digest: keep recently served bytes in memory
MAX_EXTRA_TAGS = 100


@dataclass(frozen=True)
class PushedManifest:
    digest: str
    subject: str | None
    tags: list[str]
    repo_id: int = 0
    media_type: str = ""
    size: int = 0


@dataclass(frozen=True)
class PulledManifest:
    digest: str
    media_type: str
    size: int
    content: bytes | None  # None for HEAD


class Manifests:
    def __init__(
        self,
        store: ManifestStore,
        repositories: Repositories,
        allow_sparse_index: bool = False,
        cache: VersionedCache | None = None,
    ) -> None:
        self.store = store
        self.repositories = repositories
        self.allow_sparse_index = allow_sparse_index
        self._cache = ByteCache(CACHE_BYTES)
        self._reads = cache or VersionedCache(None, 0)  # tag -> manifest and tag lists, until something changes
        self._pull_writes: set[asyncio.Task] = set()
        self._pulled: dict[tuple[int, str], float] = {}  # when this process last recorded a pull
        self.pushed_listeners: list[Any] = []  # async callables (repository, PushedManifest) run after each push

    async def push(
        self,
        repository: str,
        reference: str,
        content: bytes,
        content_type: str | None,
        extra_tags: list[str],
        recorded: Change | None = None,
    ) -> PushedManifest:
        """Store a pushed manifest and its tags; `recorded`: who pushed, for the audit log, in
        the same transaction (a separate write cost 17% of the tagged pushes a worker answers)."""
        check_repository_key(repository)
        ref = parse_reference(reference)
        digest = digest_bytes(content, ref.digest.algorithm if ref.digest else "sha256")
        if ref.digest and digest != ref.digest:
            raise DigestInvalid(
                f"manifest digest {digest} does not match the reference {ref.digest}",
                detail={"expected": str(ref.digest), "actual": str(digest)},
            )
        manifest = parse_manifest(content, content_type, str(digest))
        if len(extra_tags) > MAX_EXTRA_TAGS:
            raise ManifestInvalid(f"at most {MAX_EXTRA_TAGS} tag parameters are accepted")
        tags = list(dict.fromkeys(([ref.tag] if ref.tag else []) + [check_tag(t) for t in extra_tags]))
        repo = await self.repositories.for_push(repository)
        await self.store.put_manifest(
            repo,
            manifest,
            content,
            tags,
            self.allow_sparse_index,
            lambda tag: tag_is_immutable(repo.tag_mutability, list(repo.mutability_exclusions), tag),
            recorded=recorded,
        )
        self._cache.put(str(digest), content)
        pushed = PushedManifest(
            str(digest),
            manifest.subject.digest if manifest.subject else None,
            tags,
            repo.id,
            manifest.media_type,
            len(content),
        )
        for listener in self.pushed_listeners:  # managed signing, and whatever else follows a push
            await listener(repository, pushed)
        return pushed

    async def cache(
        self,
        repository: str,
        content: bytes,
        content_type: str | None,
        digest: str,
        tags: list[str],
        change: Callable[..., ImageChanged],
    ):
        """Store a manifest fetched from a pull-through cache's upstream, under the digest the
        upstream named (checked), with `tags` moved to it; what it references is fetched later.
        `change`: how the outbox records it (ImageCached with the rule)."""
        actual = digest_bytes(content, digest.split(":", 1)[0] if ":" in digest else "sha256")
        if str(actual) != digest:
            raise DigestInvalid(f"the upstream sent a manifest whose digest is {actual}, not {digest}")
        manifest = parse_manifest(content, content_type, digest)
        repo = await self.repositories.get(repository)
        await self.store.put_manifest(repo, manifest, content, tags, True, lazy=True, change=change)
        self._cache.put(digest, content)

    async def pull(
        self, repository: str, reference: str, with_content: bool = True, record_pull: bool = True
    ) -> PulledManifest:
        """The manifest by tag or digest. A pull with content moves lastRecordedPullTime unless
        `record_pull` is False (a principal excluded from pull-time updates)."""
        check_repository_key(repository)
        ref = parse_reference(reference)
        if ref.tag:
            find = functools.partial(self.store.find_manifest, repository, tag=ref.tag)
        else:
            find = functools.partial(self.store.find_manifest, repository, digest=str(ref.digest))
        head = await self._reads.fetch(("head", repository, reference), find)
        if head is None:
            await self.repositories.get(repository)  # NAME_UNKNOWN when the repository is missing
            raise ImageNotFound(f"manifest unknown: {reference}", detail={"reference": reference})
        if head.storage_class == "ARCHIVE":
            raise ImageArchived(
                f"image {head.digest} is archived; restore it first with aws ecr "
                f"update-image-storage-class --target-storage-class STANDARD"
            )
        content = None
        if with_content:
            content = self._cache.get(head.digest)
            if content is None:
                content = await self.store.manifest_content(repository, head.digest)
                if content is None:  # deleted between the two queries
                    raise ImageNotFound(f"manifest unknown: {reference}")
                self._cache.put(head.digest, content)
            if record_pull:
                self._record_pull(head)
        return PulledManifest(head.digest, head.media_type, head.size, content)

    def _record_pull(self, head) -> None:
        """Write the pull time in the background, at most once a minute per image: a pull
        must not wait on a database write."""
        now, key = time.time(), (head.repo_id, head.digest)
        if now - max(head.last_pulled_at or 0.0, self._pulled.get(key, 0.0)) < PULL_TIME_RESOLUTION:
            return
        if len(self._pull_writes) > 100:  # the database is behind; the next pull will record it
            return
        if len(self._pulled) > 100_000:
            self._pulled.clear()
        self._pulled[key] = now
        task = asyncio.ensure_future(self.store.record_pull(head.repo_id, head.digest, now))
        self._pull_writes.add(task)
        task.add_done_callback(self._pull_writes.discard)

    async def delete(self, repository: str, reference: str) -> None:
        """By tag: remove that tag only. By digest: remove the manifest and every tag on it."""
        repo = await self.repositories.get(repository)
        ref = parse_reference(reference)
        if ref.tag:
            deleted = await self.store.delete_tag(repo.id, ref.tag)
        else:
            deleted = await self.store.delete_manifest(repo.id, str(ref.digest))
        if not deleted:
            raise ImageNotFound(f"manifest unknown: {reference}", detail={"reference": reference})

    async def contents(self, repository: str, digests: list[str]) -> dict[str, bytes]:
        """The bytes of several manifests in one query (the console's index platforms)."""
        return await self.store.manifest_contents(repository, digests)

    async def tags(self, repository: str, limit: int | None, after: str | None) -> list[str]:
        cached, token = self._reads.get(("tags", repository, limit, after))
        if cached is not None:
            return cached
        repo = await self.repositories.get(repository)
        tags = await self.store.list_tags(repo.id, limit, after)
        self._reads.put(("tags", repository, limit, after), tags, token)
        return tags

    async def referrers(
        self, repository: str, subject: str, artifact_type: str | None, limit: int, after: str | None
    ) -> list[Referrer]:
        """Manifests whose subject is `subject`; an empty list (never an error) for an unknown one."""
        check_repository_key(repository)
        repo = await self.repositories.find(repository)
        if repo is None:
            return []
        return await self.store.referrers(repo.id, subject, artifact_type, limit, after)


def referrers_index(referrers: list[Referrer]) -> dict[str, Any]:
    manifests = []
    for r in referrers:
        descriptor = {"mediaType": r.media_type, "digest": r.digest, "size": r.size}
        if r.artifact_type:
            descriptor["artifactType"] = r.artifact_type
        if r.annotations:
            descriptor["annotations"] = r.annotations
        manifests.append(descriptor)
    return {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}
