"""Replication into another account of this same registry: a peer client (the interface
remote/peer.py's clients have) that writes through the core instead of over HTTP.

As on ECR, the source registry replicates on its own authority, which the destination grants in
its registry policy ("registry permissions"): ecr:ReplicateImage for every image, and
ecr:CreateRepository for a repository the destination does not have yet. Without the grant every
attempt is refused, retried and in the end FAILED, as a refusing peer's would be. Blobs are
content-addressed and shared, so one is linked into the destination repository, not copied.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from ...domain.accounts import repository_key, split_key
from ...domain.policy import Statements, parse_policy
from ...services.identity import Principal
from .. import Core

# The source account acting for itself: its side of the decision allows what replication does;
# the destination's registry policy decides.
REPLICATOR = Statements(
    parse_policy(
        json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": ["ecr:ReplicateImage", "ecr:CreateRepository"], "Resource": "*"}
                ],
            }
        ),
        resource_policy=False,
    )
)


class LocalAccount:
    def __init__(self, core: Core, source: str, destination: str) -> None:
        self.core, self.destination, self.first = core, destination, core.registry.first_account
        self.principal = Principal(
            "root",
            f"arn:aws:iam::{source}:root",
            "replication",
            REPLICATOR,
            account="" if source == self.first else source,
        )

    def _key(self, source_key: str) -> str:
        """The destination's repository of the same name."""
        return repository_key(self.destination, split_key(source_key, self.first)[1], self.first)

    async def ensure_repository(self, name: str) -> None:
        key = self._key(name)
        await self.core.access.require(self.principal, "ecr:ReplicateImage", key)
        if await self.core.admin.find(key) is None:
            await self.core.access.require(self.principal, "ecr:CreateRepository", key)
            await self.core.admin.create_for_replication(key)

    async def has(self, repository: str, kind: str, digest: str) -> bool:
        key = self._key(repository)
        if kind == "blobs":
            return await self.core.stores.blobs.repo_blob_size(key, digest) is not None
        return await self.core.stores.manifests.find_manifest(key, digest=digest) is not None

    async def push_blob(self, repository: str, digest: str, size: int, chunks: AsyncIterator[bytes]) -> None:
        repo = await self.core.repositories.get(self._key(repository))
        await self.core.stores.blobs.link_blob(repo.id, digest)

    async def put_manifest(self, repository: str, reference: str, content: bytes, media_type: str) -> None:
        key = self._key(repository)
        await self.core.access.require(self.principal, "ecr:ReplicateImage", key)
        await self.core.manifests.push(key, reference, content, media_type, [])

    async def delete_manifest(self, repository: str, reference: str) -> None:
        key = self._key(repository)
        await self.core.access.require(self.principal, "ecr:ReplicateImage", key)
        await self.core.manifests.delete(key, reference)
