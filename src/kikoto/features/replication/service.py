"""Replication: images reach the peer registries the registry's replication rules name.

Every image change is in the outbox (recorded in the change's own transaction). A consumer
turns new PUSH events (and DELETE events, for rules with `deleteReplication`) into work items,
one per destination, moving its cursor in the same transaction. Workers in every process claim
due items (one claimant each) and make the peer converge on the source's current state: the
destination repository (created with the peer's REPLICATION template), the blobs it lacks, child
manifests before indexes and subjects before referrers, then the manifest and every tag that
points at it now. A failed attempt is retried with exponential backoff; a claim left by a dead
process expires, so nothing is lost across kill -9 and nothing converges twice but by retries.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from ...domain.accounts import MARK
from ...domain.ecr import repository_arn
from ...domain.errors import (
    InvalidParameter,
    LimitExceeded,
    ReplicationBackfillInProgress,
    ReplicationBackfillInvalidStatus,
    ReplicationBackfillNotFound,
)
from ...domain.events import ImageDeleted, ImagePushed, ImageReplicated
from ...domain.manifests import parse_manifest
from ...domain.paging import sign_token
from ...services.keys import Keys
from ...services.registry import RegistryIdentity, token_position
from ...storage.blobs.port import BlobStore
from ...storage.meta.ports import Stores
from .store import Backfill, Item, Peer, ReplicationStore

log = logging.getLogger("kikoto.replication")
DOCUMENT = "replication-configuration"
CONSUMER = "replication"
MAX_DESTINATIONS = 25  # ECR's quota of unique destinations across all rules
MAX_ATTEMPTS = 50  # then FAILED; until then IN_PROGRESS with the last failure
CLAIM_SECONDS = 300.0


class Replication:
    def __init__(
        self,
        store: ReplicationStore,
        stores: Stores,
        blob_store: BlobStore,
        peers,
        keys: Keys,
        registry: RegistryIdentity,
        holder: str,
        retry_cap: float = 300.0,
        local=None,
    ) -> None:
        self.store, self.documents, self.blob_store = store, stores.documents, blob_store
        self.repository_store, self.manifest_store, self.images = stores.repositories, stores.manifests, stores.images
        self.leases, self.peers, self._fernet = stores.leases, peers, keys.secrets_at_rest()
        self.account, self.region, self.holder = registry.account, registry.region, holder
        self.token_key = keys.tokens
        self.retry_cap = retry_cap
        # registry id -> a client writing into that account of this registry (local.py), or None
        self.local = local

    # -- the configuration ---------------------------------------------------------------------

    async def configuration(self) -> dict[str, Any]:
        text = await self.documents.document(DOCUMENT)
        return json.loads(text) if text else {"rules": []}

    async def put_configuration(self, config: dict[str, Any]) -> dict[str, Any]:
        destinations = set()
        for rule in config["rules"]:
            for destination in rule["destinations"]:
                if destination["region"] == self.region and destination["registryId"] == self.account:
                    raise InvalidParameter(
                        "Invalid parameter at 'replicationConfiguration' failed to satisfy constraint: "
                        "'Replication destination cannot be the same as the source registry'"
                    )
                destinations.add((destination["region"], destination["registryId"]))
        if len(destinations) > MAX_DESTINATIONS:
            raise LimitExceeded(f"A registry may replicate to at most {MAX_DESTINATIONS} unique destinations.")
        await self.documents.put_document(DOCUMENT, json.dumps(config))
        await self.store.follow(CONSUMER)  # rules act from now on
        return config

    @staticmethod
    def _destinations(config: dict[str, Any], repository: str, deleting: bool = False) -> set[tuple[str, str]]:
        found: set[tuple[str, str]] = set()
        if repository.startswith(MARK):  # the configuration is the first account's: not another's repositories
            return found
        for rule in config["rules"]:
            filters = rule.get("repositoryFilters") or []
            if filters and not any(repository.startswith(f["filter"]) for f in filters):
                continue
            if deleting and not (rule.get("deleteReplication") or {}).get("enabled"):
                continue
            found |= {(d["region"], d["registryId"]) for d in rule["destinations"]}
        return found

    # -- peers ----------------------------------------------------------------------------------

    async def add_peer(self, region: str, registry_id: str, url: str, kind: str, key: str, secret: str) -> Peer:
        if (region, registry_id) == (self.region, self.account):
            raise InvalidParameter("a peer cannot be this registry itself")
        peer = Peer(
            region, registry_id, url.rstrip("/"), kind, key, self._fernet.encrypt(secret.encode()).decode(), time.time()
        )
        await self.store.add_peer(peer)
        return peer

    async def peers_list(self) -> list[Peer]:
        return await self.store.peers()

    async def remove_peer(self, region: str, registry_id: str) -> bool:
        return await self.store.remove_peer(region, registry_id)

    # -- from events to work ----------------------------------------------------------------------

    async def derive(self, batch: int = 500) -> int:
        """Turn new outbox events into work items; returns how many events were read."""
        config = await self.configuration()
        if not config["rules"]:
            return 0
        position, events = await self.store.changes_for(CONSUMER, batch)
        if not events:
            return 0
        items = []
        for event in events:
            if not isinstance(event, ImagePushed | ImageDeleted):
                continue
            deleted = isinstance(event, ImageDeleted)
            for region, registry_id in sorted(self._destinations(config, event.repository, deleted)):
                items.append(
                    {
                        "event_id": event.id,
                        "region": region,
                        "registry_id": registry_id,
                        "action": "DELETE" if deleted else "REPLICATE",
                        "repository": event.repository,
                        "digest": event.digest,
                    }
                )
        await self.store.derive_items(CONSUMER, position, items, events[-1].id)
        return len(events)

    # -- doing the work --------------------------------------------------------------------------------

    async def work(self, limit: int = 8) -> int:
        """Claim and run due items; returns how many were attempted."""
        items = await self.store.claim(self.holder, CLAIM_SECONDS, limit)
        peers = {(p.region, p.registry_id): p for p in await self.store.peers()} if items else {}
        for item in items:
            await self._attempt(item, peers.get((item.region, item.registry_id)))
        return len(items)

    async def _attempt(self, item: Item, peer: Peer | None) -> None:
        try:
            local = None
            if peer is None and item.region == self.region and self.local is not None:
                local = await self.local(item.registry_id)  # another account of this registry
            if peer is None and local is None:
                raise _Failed(
                    f"no peer registry is configured for region {item.region} registry {item.registry_id} "
                    f"(kikoto peers add)"
                )
            client = local or self._client(peer)
            if item.action == "DELETE":
                if await self.manifest_store.find_manifest(item.repository, digest=item.digest) is None:
                    await client.delete_manifest(item.repository, item.digest)
            else:
                await client.ensure_repository(item.repository)
                await self._replicate(client, item.repository, item.digest, with_tags=True)
        except Exception as failure:  # a peer's answer, a network error, a missing peer: retried
            message = getattr(failure, "message", None) or repr(failure)
            attempts = item.attempts + 1
            if attempts >= MAX_ATTEMPTS:
                await self.store.finish_item(item.id, self.holder, "FAILED", message)
                await self._outcome(item, "FAILURE")
            else:
                delay = min(self.retry_cap, 2.0 ** min(attempts, 20))
                await self.store.finish_item(item.id, self.holder, "IN_PROGRESS", message, time.time() + delay)
            log.warning(
                "replication of %s@%s to %s failed (attempt %d): %s",
                item.repository,
                item.digest,
                item.region,
                attempts,
                message,
            )
            return
        await self.store.finish_item(item.id, self.holder, "COMPLETE")
        await self._outcome(item, "SUCCESS")

    def _client(self, peer: Peer | None) -> Any:
        assert peer is not None  # a destination with neither a peer nor a local account failed above
        secret = self._fernet.decrypt(peer.secret.encode()).decode()
        return self.peers.client(peer.url, peer.kind, peer.access_key_id, secret, peer.region)

    async def _outcome(self, item: Item, result: str) -> None:
        if item.action == "REPLICATE":
            replicated = ImageReplicated(
                repository=item.repository,
                digest=item.digest,
                succeeded=result == "SUCCESS",
                source_account=self.account,
                source_region=self.region,
                destination_region=item.region,
                destination_registry_id=item.registry_id,
            )
            await self.store.record([replicated])

    async def _replicate(self, client, repository: str, digest: str, with_tags: bool = False) -> None:
        head = await self.manifest_store.find_manifest(repository, digest=digest)
        content = await self.manifest_store.manifest_content(repository, digest) if head else None
        if head is None or content is None:
            return  # deleted at the source since: nothing to converge on
        manifest = parse_manifest(content, head.media_type, digest)
        for child in manifest.manifests:  # children before their index
            if not await client.has(repository, "manifests", child.digest):
                await self._replicate(client, repository, child.digest)
        if manifest.subject and not await client.has(repository, "manifests", manifest.subject.digest):
            await self._replicate(client, repository, manifest.subject.digest)  # subjects before referrers
        for blob in manifest.blobs:
            if blob.is_foreign or await client.has(repository, "blobs", blob.digest):
                continue
            await client.push_blob(repository, blob.digest, blob.size, self._bytes(blob.digest))
        await client.put_manifest(repository, digest, content, head.media_type)
        if with_tags:
            repo = await self.repository_store.get_repository(repository)
            images = await self.images.find_images(repo.id, [digest], []) if repo else []
            for tag in images[0].tags if images else ():
                await client.put_manifest(repository, tag, content, head.media_type)

    async def _bytes(self, digest: str) -> AsyncIterator[bytes]:
        tier = "standard" if await self.blob_store.stat(digest) is not None else "archive"
        async for chunk in self.blob_store.read(digest, tier):
            yield chunk

    # -- status ---------------------------------------------------------------------------------------

    async def statuses(self, repository: str, digest: str) -> list[Item]:
        return [i for i in await self.store.statuses(repository, digest) if i.status != "STOPPED"]

    # -- backfills ------------------------------------------------------------------------------------

    async def start_backfill(self, region: str, registry_id: str) -> Backfill:
        for existing in await self.store.backfills(None, 1000):
            await self._settle(existing)
            current = await self.store.backfill(existing.id)
            if (
                current
                and (current.region, current.registry_id) == (region, registry_id)
                and current.status == "IN_PROGRESS"
            ):
                raise ReplicationBackfillInProgress(
                    f"A replication backfill ({current.id}) is already in progress for the destination {region} "
                    f"{registry_id}."
                )
        config = await self.configuration()
        items = []
        after = ""
        while True:
            repositories = await self.repository_store.repositories_after(after, 500)
            for repo in repositories:
                if (region, registry_id) not in self._destinations(config, repo.name):
                    continue
                cursor = ""
                while page := await self.images.images_page(repo.id, cursor, 1000):
                    items += [
                        {
                            "region": region,
                            "registry_id": registry_id,
                            "action": "REPLICATE",
                            "repository": repo.name,
                            "digest": image.digest,
                        }
                        for image in page
                    ]
                    cursor = page[-1].digest
            if len(repositories) < 500:
                break
            after = repositories[-1].name
        backfill = Backfill(str(uuid.uuid4()), region, registry_id, "IN_PROGRESS", time.time(), None, None)
        await self.store.add_backfill(backfill, items)
        return backfill

    async def _settle(self, backfill: Backfill) -> Backfill:
        """An IN_PROGRESS backfill whose items are all done is COMPLETE."""
        if backfill.status == "IN_PROGRESS" and not (await self.store.backfill_counts(backfill.id)).get("IN_PROGRESS"):
            await self.store.set_backfill(backfill.id, "COMPLETE", time.time())
            return await self.store.backfill(backfill.id) or backfill
        return backfill

    async def backfill(self, backfill_id: str) -> tuple[Backfill, dict[str, Any]]:
        found = await self.store.backfill(backfill_id)
        if found is None:
            raise ReplicationBackfillNotFound(f"The replication backfill '{backfill_id}' could not be found.")
        found = await self._settle(found)
        counts = await self.store.backfill_counts(found.id)
        return found, counts

    async def stop_backfill(self, backfill_id: str) -> Backfill:
        found, _ = await self.backfill(backfill_id)
        if found.status != "IN_PROGRESS":
            raise ReplicationBackfillInvalidStatus(
                f"The replication backfill '{backfill_id}' is {found.status}; only one in progress can be stopped."
            )
        await self.store.stop_items(found.id)
        await self.store.set_backfill(found.id, "STOPPED", time.time())
        return await self.store.backfill(found.id) or found

    async def backfills(
        self, max_results: int | None, next_token: str | None
    ) -> tuple[list[tuple[Backfill, dict[str, Any]]], str | None]:
        after = self._open(next_token, "ListReplicationBackfills")
        limit = max_results or 50
        page = await self.store.backfills(after, limit + 1)
        token = (
            sign_token(self.token_key, "ListReplicationBackfills", [page[limit - 1].id]) if len(page) > limit else None
        )
        return [await self.backfill(b.id) for b in page[:limit]], token

    async def backfill_results(
        self, backfill_id: str, status: str | None, max_results: int | None, next_token: str | None
    ) -> tuple[Backfill, dict[str, Any], list[Item], str | None]:
        found, counts = await self.backfill(backfill_id)
        after = int(self._open(next_token, f"Backfill:{backfill_id}") or 0)
        limit = max_results or 100
        items = await self.store.backfill_items(found.id, status, after, limit + 1)
        token = (
            sign_token(self.token_key, f"Backfill:{backfill_id}", [str(items[limit - 1].id)])
            if len(items) > limit
            else None
        )
        return found, counts, items[:limit], token

    def _open(self, token: str | None, scope: str) -> str | None:
        position = token_position(self.token_key, scope, token)
        return position[0] if position else None

    def arn(self, repository: str) -> str:
        return repository_arn(self.region, self.account, repository)


class _Failed(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
