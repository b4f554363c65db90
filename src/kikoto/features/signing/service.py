"""ECR's managed signing: signing keys Kikötő holds, the registry's signing configuration, and
images signed in the background when they are pushed to a repository a rule covers.

A signing profile ARN (`arn:aws:signer:<region>:<account>:/signing-profiles/<NAME>`) names the
signing key NAME (`kikoto signing-keys create NAME`). Each signature is a Notary Project
signature (services/notary.py) pushed as a referrer of the image; the status of each image
per profile is IN_PROGRESS, then COMPLETE or FAILED, as ECR reports it.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import logging
import re
import time
from typing import Any

from ...domain.accounts import MARK
from ...domain.errors import AlreadyExists, InvalidParameter, SigningConfigurationNotFound
from ...domain.glob import glob_match
from ...services.images.attachments import Attachments
from ...services.images.manifests import Manifests, PushedManifest
from ...services.keys import Keys
from ...services.registry import RegistryIdentity
from ...storage.meta.ports import DocumentStore
from . import notary
from .store import SigningStatus, SigningStore

log = logging.getLogger("kikoto.signing")
CONFIGURATION = "signing_configuration"
KEY_NAME = re.compile(r"[a-zA-Z0-9_]{2,64}")
STALE_AFTER = 300.0  # an IN_PROGRESS signing older than this lost its process: sign it again


class Signing:
    def __init__(
        self,
        store: SigningStore,
        documents: DocumentStore,
        attachments: Attachments,
        manifests: Manifests,
        keys: Keys,
        registry: RegistryIdentity,
    ) -> None:
        self.store, self.documents, self.attachments, self.manifests = store, documents, attachments, manifests
        self._fernet = keys.secrets_at_rest()
        self.account, self.region = registry.account, registry.region
        self._tasks: set[asyncio.Task] = set()

    def profile_arn(self, name: str) -> str:
        return f"arn:aws:signer:{self.region}:{self.account}:/signing-profiles/{name}"

    # -- keys (the CLI) ------------------------------------------------------------------------

    async def create_key(self, name: str) -> tuple[str, str]:
        """(profile ARN, root certificate PEM) of a new signing key."""
        if not KEY_NAME.fullmatch(name):
            raise InvalidParameter("a signing key name is 2-64 characters of [a-zA-Z0-9_] (a signing profile name)")
        key = notary.new_signing_key(name)
        private, chain = notary.dump_key(key)
        if not await self.store.add_key(name, self._fernet.encrypt(private).decode(), chain):
            raise AlreadyExists(f"a signing key named {name!r} exists")
        return self.profile_arn(name), key.root_pem

    async def _key(self, profile_arn: str) -> notary.SigningKey | None:
        row = await self.store.key(profile_arn.rsplit("/", 1)[-1])
        if row is None or profile_arn != self.profile_arn(row.name):
            return None
        return notary.load_key(self._fernet.decrypt(row.private_key.encode()), row.certificate_chain)

    # -- configuration (the ECR API) -------------------------------------------------------------

    async def configuration(self) -> dict[str, Any]:
        text = await self.documents.document(CONFIGURATION)
        if text is None:
            raise SigningConfigurationNotFound(
                f"The signing configuration does not exist in the registry with id '{self.account}'"
            )
        return json.loads(text)

    async def put_configuration(self, configuration: dict[str, Any]) -> dict[str, Any]:
        for rule in configuration.get("rules", []):
            if await self.store.key(rule["signingProfileArn"].rsplit("/", 1)[-1]) is None or not rule[
                "signingProfileArn"
            ].startswith(self.profile_arn("")):
                raise InvalidParameter(
                    f"The signing profile '{rule['signingProfileArn']}' does not exist in this "
                    f"registry (create it with: kikoto signing-keys create NAME)"
                )
        await self.documents.put_document(CONFIGURATION, json.dumps(configuration))
        return configuration

    async def delete_configuration(self) -> dict[str, Any]:
        configuration = await self.configuration()
        await self.documents.put_document(CONFIGURATION, None)
        return configuration

    async def statuses(self, repo_id: int, digest: str) -> list[SigningStatus]:
        return await self.store.statuses(repo_id, digest)

    # -- signing pushed images -------------------------------------------------------------------

    async def profiles_for(self, repository: str) -> list[str]:
        text = await self.documents.document(CONFIGURATION)
        # the configuration is the first account's: it covers none of another account's repositories
        rules = json.loads(text).get("rules", []) if text and not repository.startswith(MARK) else []
        return [
            rule["signingProfileArn"]
            for rule in rules
            if not rule.get("repositoryFilters")
            or any(glob_match(f["filter"], repository) for f in rule["repositoryFilters"])
        ]

    async def image_pushed(self, repository: str, pushed: PushedManifest) -> None:
        """Called after every manifest push: images a rule covers are signed in the background.
        Referrers (signatures, SBOMs) are not signed themselves."""
        if pushed.subject is not None:
            return
        for profile in await self.profiles_for(repository):
            await self.store.set_status(pushed.repo_id, pushed.digest, profile, "IN_PROGRESS")
            task = asyncio.ensure_future(self.sign(repository, pushed.repo_id, pushed.digest, profile))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def sign(self, repository: str, repo_id: int, digest: str, profile: str) -> str:
        """Sign one image with one profile and record the outcome; returns the status."""
        try:
            key = await self._key(profile)
            if key is None:
                await self.store.set_status(
                    repo_id,
                    digest,
                    profile,
                    "FAILED",
                    "SigningProfileNotFound",
                    f"The signing profile {profile} does not exist",
                )
                return "FAILED"
            pulled = await self.manifests.pull(repository, digest, record_pull=False)
            target = {"mediaType": pulled.media_type, "digest": digest, "size": pulled.size}
            envelope = notary.envelope(key, target, datetime.datetime.now(datetime.UTC))
            await self.attachments.attach(
                repository,
                digest,
                notary.SIGNATURE_ARTIFACT_TYPE,
                notary.ENVELOPE_MEDIA_TYPE,
                envelope,
                notary.signature_annotations(key),
            )
        except Exception as exc:  # recorded for DescribeImageSigningStatus, and logged
            log.exception("signing %s@%s with %s failed", repository, digest, profile)
            await self.store.set_status(repo_id, digest, profile, "FAILED", "SigningFailed", str(exc)[:500])
            return "FAILED"
        await self.store.set_status(repo_id, digest, profile, "COMPLETE")
        return "COMPLETE"

    async def settle(self) -> None:
        """Wait for the signings this process started (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def resume_stale(self, names) -> int:
        """Sign again what a process that died left IN_PROGRESS (the scheduler calls this)."""
        stale = await self.store.stale(time.time() - STALE_AFTER)
        for repo_id, digest, profile in stale:
            name = await names(repo_id)
            if name:
                await self.sign(name, repo_id, digest, profile)
        return len(stale)
