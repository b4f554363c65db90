"""Image scanning: inventories from layers, vulnerability matching against OSV data, SBOMs
attached as referrers; scans on push, continuous, or on request (ECR's basic and enhanced
scanning configuration)."""

from __future__ import annotations

from ...http.console.common import SettingsSection
from ...http.ecr.operations.table import bound
from .. import Core, Feature
from .cli import scan, vulndb
from .console import findings_page
from .operations import OPERATIONS
from .scanner import Scanner
from .store import ScanStore
from .vulndb import VulnerabilityData

__all__ = ["COMMANDS", "OPERATIONS", "feature"]
COMMANDS = [vulndb, scan]


def feature(core: Core) -> Feature:
    settings = core.settings
    store = ScanStore(core.engine, changes=core.changes)
    scanner = Scanner(
        store,
        VulnerabilityData(store, core.stores.documents),
        core.stores,
        core.blob_store,
        core.blobs,
        core.manifests,
        core.attachments,
        core.keys.tokens,
        settings.scan_cyclonedx,
        timeout=settings.scan_timeout,
        max_layer_bytes=settings.scan_max_layer_bytes,
    )

    async def one_pass() -> int:
        return await scanner.derive() + await scanner.work()

    return Feature(
        "scanning",
        scanner,
        operations=bound(OPERATIONS, scanner),
        image_scans=scanner.summaries,
        settings_sections=[SettingsSection("scanning", "ecr:GetRegistryScanningConfiguration", scanner.configuration)],
        console_pages=[("/console/findings", findings_page(scanner))],
        outbox_loops=[one_pass],
    )
