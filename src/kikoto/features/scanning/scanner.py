"""Scanning images, ECR's way: registry rules (SCAN_ON_PUSH, CONTINUOUS_SCAN, MANUAL with
WILDCARD filters) and the repository's `scanOnPush` decide what is scanned when it is pushed;
StartImageScan scans on request (once per image per 24 h). A scan never blocks a push: pushes
are read from the outbox and scans run in the background, claimed one process each.

A scan reads the image's layers for its inventory (per platform for an index), matches it
against the imported OSV data, stores the findings (paged by key) and the inventory (so a
rescan after new vulnerability data needs no layer), attaches an SPDX SBOM (and a CycloneDX one
when asked) as a referrer of the image, and records an `ECR Image Scan` event.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import Counter
from typing import Any

from ...domain.accounts import MARK
from ...domain.errors import (
    ImageArchived,
    ImageNotFound,
    InvalidParameter,
    LimitExceeded,
    ScanNotFound,
    Unsupported,
    UnsupportedImageType,
)
from ...domain.events import IMAGE_CONFIGS, ImageCached, ImagePushed, ImageScanned
from ...domain.glob import glob_match
from ...domain.manifests import parse_manifest
from ...domain.paging import sign_token
from ...services.blobs.service import Blobs
from ...services.images.attachments import Attachments
from ...services.images.manifests import Manifests
from ...services.registry import token_position
from ...storage.blobs.port import BlobStore
from ...storage.meta.ports import Stores
from .inventory import OsRelease, Package
from .layers import Budget, Inventory, ScanLimitExceeded, inventory_of
from .sbom import CYCLONEDX_MEDIA_TYPE, SPDX_MEDIA_TYPE, cyclonedx, spdx
from .store import ScanRow, ScanStore
from .vulndb import VulnerabilityData

log = logging.getLogger("kikoto.scanning")
DOCUMENT = "scanning-configuration"
CONSUMER = "scanning"
MANUAL_INTERVAL = 86400.0  # ECR: one manual scan per image per 24 hours
MAX_IMAGES = 64  # distinct images scanned for one index (its platforms)
CLAIM_SECONDS = 900.0


class Scanner:
    def __init__(
        self,
        scans: ScanStore,
        data: VulnerabilityData,
        stores: Stores,
        blob_store: BlobStore,
        blobs: Blobs,
        manifests: Manifests,
        attachments: Attachments,
        token_key: bytes,
        cyclonedx: bool = False,
        timeout: float = 300.0,
        max_layer_bytes: int = 8 << 30,
    ) -> None:
        self.scans, self.data, self.outbox = scans, data, stores.outbox
        self.repository_store, self.manifest_store, self.images = stores.repositories, stores.manifests, stores.images
        self.documents = stores.documents
        self.blob_store, self.blobs, self.manifests = blob_store, blobs, manifests
        self.attachments, self.token_key, self.cyclonedx = attachments, token_key, cyclonedx
        self.timeout, self.max_layer_bytes = timeout, max_layer_bytes
        self._swept: int | None = None  # the data version the last full sweep of stale scans covered
        self._sweep_after: tuple[int, str] | None = None

    # -- configuration -----------------------------------------------------------------------------

    async def configuration(self) -> dict[str, Any]:
        text = await self.documents.document(DOCUMENT)
        return json.loads(text) if text else {"scanType": "BASIC", "rules": []}

    async def put_configuration(self, scan_type: str | None, rules: list[dict[str, Any]] | None) -> dict[str, Any]:
        config: dict[str, Any] = {"scanType": scan_type or "BASIC", "rules": rules or []}
        if len({r["scanFrequency"] for r in config["rules"]}) != len(config["rules"]):
            raise InvalidParameter("Invalid parameter: each scan frequency may appear in one rule only")
        await self.documents.put_document(DOCUMENT, json.dumps(config))
        await self.outbox.follow(CONSUMER)
        return config

    @staticmethod
    def frequency(config: dict[str, Any], repository: str, scan_on_push: bool) -> tuple[str, list[dict[str, Any]]]:
        """(the scan frequency that applies to a repository, the filters that made it so): the
        registry's rules, most frequent first, else the repository's own scanOnPush."""
        rules = [] if repository.startswith(MARK) else config["rules"]  # the first account's configuration
        for wanted in ("CONTINUOUS_SCAN", "SCAN_ON_PUSH"):
            for rule in rules:
                if rule["scanFrequency"] != wanted:
                    continue
                applied = [
                    f for f in rule["repositoryFilters"] if glob_match(f["filter"], repository, question_mark=False)
                ]
                if applied:
                    return wanted, applied
        return ("SCAN_ON_PUSH" if scan_on_push else "MANUAL"), []

    async def repository_frequency(self, name: str) -> tuple[str, list[dict[str, Any]]]:
        record = await self.repository_store.get_repository(name)
        return self.frequency(await self.configuration(), name, bool(record and record.scan_on_push))

    # -- triggers: pushes, requests, new vulnerability data ---------------------------------------------

    async def derive(self, batch: int = 200) -> int:
        """Scan-on-push: request scans for the images new PUSH events name."""
        _, events = await self.outbox.changes_for(CONSUMER, batch)
        if not events:
            return 0
        config = await self.configuration()
        records: dict[str, Any] = {}  # one repository lookup per repository of the batch
        for event in events:
            if not isinstance(event, ImagePushed | ImageCached) or not event.is_image:
                continue  # deletions, and signatures, SBOMs and other artifacts: not images to scan
            if event.repository not in records:
                records[event.repository] = await self.repository_store.get_repository(event.repository)
            record = records[event.repository]
            if record is None:
                continue
            frequency, _ = self.frequency(config, event.repository, record.scan_on_push)
            if frequency in ("SCAN_ON_PUSH", "CONTINUOUS_SCAN"):
                existing = await self.scans.scan(record.id, event.digest)
                if existing is None or existing.status in ("FAILED", "UNSUPPORTED_IMAGE"):
                    await self.scans.request(record.id, event.digest, time.time(), manual=False)
        await self.outbox.advance(CONSUMER, events[-1].id)
        return len(events)

    async def start(self, name: str, repo_id: int, digest: str, archived: bool) -> ScanRow:
        """StartImageScan."""
        if archived:
            raise ImageArchived(f"The image with digest '{digest}' is archived and cannot be scanned.")
        head = await self.manifest_store.find_manifest(name, digest=digest)
        content = await self.manifest_store.manifest_content(name, digest) if head else None
        if head is None or content is None or not self._scannable(content, head.media_type, digest):
            raise UnsupportedImageType("The image is not a container image or index that can be scanned.")
        existing = await self.scans.scan(repo_id, digest)
        if existing and existing.manual_at and time.time() - existing.manual_at < MANUAL_INTERVAL:
            raise LimitExceeded("The scan quota per image has been exceeded. Wait and try again.")
        await self.scans.request(repo_id, digest, time.time(), manual=True)
        scan = await self.scans.scan(repo_id, digest)
        assert scan is not None
        return scan

    @staticmethod
    def _scannable(content: bytes, media_type: str, digest: str) -> bool:
        manifest = parse_manifest(content, media_type, digest)
        return manifest.is_index or manifest.config_media_type in IMAGE_CONFIGS

    async def scan_now(self, name: str, reference: str, progress=None) -> tuple[ScanRow, list[dict[str, Any]]]:
        """Scan an image at once, in this process (`kikoto scan`): the same scan a push or
        StartImageScan asks for, its result stored as theirs are."""
        repo = await self.repository_store.get_repository(name)
        head = await self.manifest_store.find_manifest(
            name, **({"digest": reference} if ":" in reference else {"tag": reference})
        )
        if repo is None or head is None:
            raise ImageNotFound(f"no image {name}:{reference}")
        # claimed in the same step as requested: the server's workers never run the same scan
        # beside this one (they did, and the two wrote the same findings at once)
        if await self.scans.begin(repo.id, head.digest, time.time(), CLAIM_SECONDS):
            scan = await self.scans.scan(repo.id, head.digest)
            assert scan is not None
            await self.run(scan, progress)
        else:  # a worker is scanning it right now: its scan is the fresh one asked for
            await self._wait_for(repo.id, head.digest)
        done = await self.scans.scan(repo.id, head.digest)
        assert done is not None
        return done, [f for _, f in await self.scans.findings(repo.id, head.digest, -1, 100_000)]

    async def _wait_for(self, repo_id: int, digest: str) -> None:
        deadline = time.monotonic() + self.timeout + 60
        while time.monotonic() < deadline:
            current = await self.scans.scan(repo_id, digest)
            if current is None or current.status != "IN_PROGRESS":
                return
            await asyncio.sleep(0.2)

    async def work(self) -> int:
        """Run one requested scan, if any is due; then re-evaluate continuously scanned images
        whose findings predate the vulnerability data."""
        scan = await self.scans.claim(time.time(), CLAIM_SECONDS)
        if scan is not None:
            await self.run(scan)
            return 1
        return await self._rescan_stale()

    async def _rescan_stale(self, limit: int = 50) -> int:
        """One step of the sweep over scans older than the vulnerability data, by key: images in
        CONTINUOUS_SCAN repositories are matched again; once a sweep ends, nothing is read until
        the data's version moves."""
        version = await self.data.version()
        if version == self._swept:
            return 0
        rows = await self.scans.stale(version, self._sweep_after, limit)
        if not rows:
            self._swept, self._sweep_after = version, None
            return 0
        self._sweep_after = (rows[-1].repo_id, rows[-1].digest)
        config, done = await self.configuration(), 0
        repositories: dict[int, tuple[str | None, str]] = {}
        for scan in rows:
            if scan.repo_id not in repositories:
                name = await self.repository_store.repository_name(scan.repo_id)
                record = await self.repository_store.get_repository(name) if name else None
                frequency = self.frequency(config, name, record.scan_on_push)[0] if name and record else "MANUAL"
                repositories[scan.repo_id] = (name, frequency)
            name, frequency = repositories[scan.repo_id]
            if name is None or frequency != "CONTINUOUS_SCAN" or not scan.inventory:
                continue
            packages = [Package(**p) for p in scan.inventory["packages"]]
            os_release = OsRelease(**scan.inventory["os"]) if scan.inventory.get("os") else None
            await self._record(
                name, scan.repo_id, scan.digest, scan.inventory, packages, os_release, version, sbom=False
            )
            done += 1
        return done

    # -- a scan -----------------------------------------------------------------------------------

    async def run(self, scan: ScanRow, progress=None) -> None:
        name = await self.repository_store.repository_name(scan.repo_id)
        if name is None:
            return
        budget = Budget.starting_now(self.timeout, self.max_layer_bytes)
        try:
            platforms = await self._inventories(name, scan.digest, progress, budget)
        except ScanLimitExceeded as exc:  # the image asked too much: FAILED, saying which bound
            log.warning("scan of %s@%s stopped: %s", name, scan.digest, exc)
            await self.scans.finish(
                scan.repo_id, scan.digest, "FAILED", f"The scan was stopped: {exc}.", None, [], {}, None, time.time()
            )
            return
        except Unsupported as exc:
            await self.scans.finish(
                scan.repo_id, scan.digest, "UNSUPPORTED_IMAGE", exc.message, None, [], {}, None, time.time()
            )
            return
        except Exception as exc:  # the bytes could not be read: FAILED, with the reason
            log.exception("scan of %s@%s failed", name, scan.digest)
            await self.scans.finish(
                scan.repo_id, scan.digest, "FAILED", str(exc)[:500], None, [], {}, None, time.time()
            )
            return
        packages, os_release = [], None
        for platform, inventory in platforms:
            os_release = os_release or inventory.os
            for package in inventory.packages():
                path = f"{platform}:{package.path}" if platform else package.path
                packages.append(Package(package.kind, package.name, package.version, path, package.source))
        stored = {
            "os": os_release.__dict__ if os_release else None,
            "packages": [p.__dict__ for p in packages],
        }
        try:
            await self._record(
                name, scan.repo_id, scan.digest, stored, packages, os_release, await self.data.version(), sbom=True
            )
        except Exception as exc:  # never left IN_PROGRESS: a scan that cannot be recorded is FAILED, saying why
            log.exception("recording the scan of %s@%s failed", name, scan.digest)
            await self.scans.finish(
                scan.repo_id,
                scan.digest,
                "FAILED",
                f"The findings could not be recorded: {exc}"[:500],
                None,
                [],
                {},
                None,
                time.time(),
            )

    async def _inventories(
        self, name: str, digest: str, progress=None, budget: Budget | None = None, nested: bool = False
    ) -> list[tuple[str, Inventory]]:
        budget = budget or Budget.starting_now(self.timeout, self.max_layer_bytes)
        head = await self.manifest_store.find_manifest(name, digest=digest)
        content = await self.manifest_store.manifest_content(name, digest) if head else None
        if head is None or content is None:
            raise Unsupported("the image is gone")
        manifest = parse_manifest(content, head.media_type, digest)
        if manifest.is_index:
            if nested:
                raise Unsupported("an index inside an index is not scanned")
            # each distinct image once (an index may list one child many times), a bounded number
            children = {child.digest: child for child in manifest.manifests}
            if len(children) > MAX_IMAGES:
                raise ScanLimitExceeded(f"the index lists more than {MAX_IMAGES} distinct images")
            labels = {
                c.get("digest"): c.get("platform")
                for c in json.loads(content).get("manifests") or []
                if isinstance(c, dict) and isinstance(c.get("platform"), dict)
            }
            found = []
            for child in children:
                platform = labels.get(child) or {}
                parts = [platform.get("os"), platform.get("architecture"), platform.get("variant")]
                label = "/".join(p for p in parts if isinstance(p, str) and p)
                if label and "unknown" in label:
                    continue  # attestation manifests that buildkit files as unknown/unknown
                try:
                    found += [
                        (label or child, inv)
                        for _, inv in await self._inventories(name, child, progress, budget, nested=True)
                    ]
                except Unsupported:
                    continue
            if not found:
                raise Unsupported("no image in the index could be scanned")
            return found
        if manifest.config_media_type not in IMAGE_CONFIGS:
            raise Unsupported(f"{manifest.config_media_type or 'this artifact'} is not a container image")
        layers = [d for d in manifest.blobs[1:] if not d.is_foreign]  # blobs[0] is the config
        opened = [(d.digest, self._opener(d.digest)) for d in layers]
        return [("", await inventory_of(opened, progress, budget))]

    def _opener(self, digest: str):
        return lambda: self.blob_store.read(digest)

    async def _record(
        self,
        name: str,
        repo_id: int,
        digest: str,
        stored: dict[str, Any],
        packages: list[Package],
        os_release: OsRelease | None,
        version: int,
        sbom: bool,
    ) -> None:
        findings = await self.data.match(packages, os_release)
        counts = dict(Counter(f["severity"] for f in findings))
        now = time.time()
        if sbom:
            await self._attach_sboms(name, digest, packages, os_release, now)
        await self.scans.finish(
            repo_id, digest, "COMPLETE", "The scan was completed successfully.", stored, findings, counts, version, now
        )
        tags = []
        repo = await self.repository_store.get_repository(name)
        if repo:
            images = await self.images.find_images(repo.id, [digest], [])
            tags = list(images[0].tags) if images else []
        await self.outbox.record(
            [ImageScanned(repository=name, digest=digest, severity_counts=counts, tags=tuple(tags))]
        )

    async def _attach_sboms(self, name: str, digest: str, packages, os_release, now: float) -> None:
        documents = [(SPDX_MEDIA_TYPE, spdx(name, digest, packages, os_release, now))]
        if self.cyclonedx:
            documents.append((CYCLONEDX_MEDIA_TYPE, cyclonedx(name, digest, packages, os_release, now)))
        created = {"org.opencontainers.image.created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))}
        for media_type, document in documents:
            body = json.dumps(document, separators=(",", ":")).encode()
            with contextlib.suppress(ImageNotFound):  # deleted while it was scanned
                await self.attachments.attach(name, digest, media_type, media_type, body, created, replacing="scanner")

    # -- reading ----------------------------------------------------------------------------------

    async def findings(
        self,
        repo_id: int,
        digest: str,
        max_results: int | None,
        next_token: str | None,
        missing: ScanNotFound | None = None,
    ) -> tuple[ScanRow, list[dict[str, Any]], str | None]:
        """A page of an image's findings; `missing` (the face's words for the image) when it has
        no scan."""
        scan = await self.scans.scan(repo_id, digest)
        if scan is None:
            raise missing or ScanNotFound(f"Image scan does not exist for the image with '{digest}'")
        scope = f"DescribeImageScanFindings:{repo_id}:{digest}"
        after = int((token_position(self.token_key, scope, next_token) or [-1])[0])
        limit = max_results or 100
        rows = await self.scans.findings(repo_id, digest, after, limit + 1)
        token = sign_token(self.token_key, scope, [str(rows[limit - 1][0])]) if len(rows) > limit else None
        return scan, [f for _, f in rows[:limit]], token

    async def summaries(self, repo_id: int, digests: list[str]) -> dict[str, ScanRow]:
        return await self.scans.scans(repo_id, digests)
